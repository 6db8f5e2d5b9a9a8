"""ImageNet (ILSVRC2012) validation: a folder the user provides (the licence forbids downloading it for
them); split `val` only.

Two layouts are read from `root` (or `root/val`, torchvision's ImageNet root):
- class folders: `<wnid>/<file>.JPEG`, 1,000 wnid folders (what torchvision's ImageNet makes);
- flat: `ILSVRC2012_val_00000001.JPEG` ... `_00050000.JPEG` next to the devkit
  (`ILSVRC2012_devkit_t12/` or `ILSVRC2012_devkit_t12.tar.gz`, read in place). Line i of
  `data/ILSVRC2012_validation_ground_truth.txt` is the ILSVRC2012_ID of image i; `data/meta.mat`'s
  `synsets` maps ILSVRC2012_IDs to wnids (the 1,000 classes are the synsets without children).
Labels are the index of the wnid among the sorted wnids and samples are ordered by (label, file
name), exactly as torchvision's ImageFolder orders the class-folder layout, in both layouts: so
`np.random.permutation(50000)[:1000]` with seed 42 picks the authors' attacked images (PROTOCOL).
The ILSVRC2012_IDs are NOT in sorted-wnid order, hence the mapping. Sample ids are
`<wnid>/<file name>` in both layouts.

Class names (PROTOCOL): the first two WordNet lemmas of the synset, lower-cased ("tench, tinca
tinca"), from the synset-to-lemma table timm ships (`timm/data/_info/imagenet_synset_to_lemma.txt`,
found without importing timm or torch).

`prepare` is the check job: it raises with what to provide when the folder is missing or does not
hold the expected numbers of images and classes (`expected` in the catalog entry; 50,000 and 1,000
for the real validation set). It never writes into the user's folder.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np

from vlgen.data.registry import Reader, SplitData, register_reader

log = logging.getLogger("vlgen.data.imagenet")

EXPECTED = {"images": 50000, "classes": 1000}  # ILSVRC2012 validation set
WNID = re.compile(r"^n\d{8}$")
FLAT_FILE = re.compile(r"^ILSVRC2012_val_(\d{8})\.jpe?g$", re.IGNORECASE)
# torchvision.datasets.folder.IMG_EXTENSIONS: what ImageFolder lists (its order is what we follow).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DEVKIT = "ILSVRC2012_devkit_t12"
META = "data/meta.mat"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
LEMMA_TABLE = ("data", "_info", "imagenet_synset_to_lemma.txt")
HELP = (
    "provide the ILSVRC2012 validation images (50,000 JPEGs, 1,000 classes, from image-net.org) in {root}, "
    "either as class folders ({root}/n01440764/ILSVRC2012_val_00000293.JPEG, ...: what torchvision's ImageNet "
    "makes) or flat ({root}/ILSVRC2012_val_00000001.JPEG ... _00050000.JPEG plus the devkit "
    f"{{root}}/{DEVKIT}.tar.gz or its unpacked folder {{root}}/{DEVKIT}/), or set dataset_catalog.<name>.root "
    "to the folder that holds them"
)


@lru_cache(maxsize=1)
def lemmas() -> dict[str, str]:
    """wnid -> comma-separated WordNet lemmas, from timm's table (timm itself is not imported)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("imagenet: class names come from timm's synset-to-lemma table: pip install timm")
    path = Path(spec.submodule_search_locations[0]).joinpath(*LEMMA_TABLE)
    with open(path, newline="") as fh:
        return dict(csv.reader(fh, delimiter="\t"))


def class_name(wnid: str) -> str:
    """First two WordNet lemmas, lower-cased: n01440764 -> 'tench, tinca tinca'."""
    try:
        words = lemmas()[wnid]
    except KeyError:
        raise ValueError(f"imagenet: {wnid!r} is not an ImageNet synset (not in timm's lemma table)") from None
    return ", ".join(words.split(", ")[:2]).lower()


def image_folder(root: Path) -> Path:
    return root / "val" if (root / "val").is_dir() else root


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS) and not name.startswith(".")


def _scan(folder: Path) -> tuple[list[str], list[str]]:
    """(wnid folder names, flat ILSVRC2012_val_* file names) directly in folder, both sorted."""
    wnids, flat = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if WNID.match(entry.name) and entry.is_dir():
                wnids.append(entry.name)
            elif FLAT_FILE.match(entry.name) and entry.is_file():
                flat.append(entry.name)
    return sorted(wnids), sorted(flat)


def _files(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if _is_image(e.name) and e.is_file())


@contextmanager
def _devkit_file(root: Path, member: str) -> Iterator[IO[bytes]]:
    """A devkit file, from the unpacked folder or straight out of the archive."""
    unpacked = root / DEVKIT / member
    archive = root / f"{DEVKIT}.tar.gz"
    if unpacked.is_file():
        with open(unpacked, "rb") as fh:
            yield fh
    elif archive.is_file():
        with tarfile.open(archive) as tar:
            handle = tar.extractfile(f"{DEVKIT}/{member}")
            if handle is None:
                raise FileNotFoundError(f"imagenet: {archive} has no file {DEVKIT}/{member}")
            yield io.BytesIO(handle.read())
    else:
        raise FileNotFoundError(f"imagenet: the flat layout needs the devkit's {member}: neither {unpacked} nor "
                                f"{archive} exists ({DEVKIT}.tar.gz comes with the validation images)")


def devkit_classes(root: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> wnid for the 1,000 leaf synsets of the devkit's meta.mat."""
    from scipy.io import loadmat

    with _devkit_file(root, META) as fh:
        synsets = loadmat(fh, squeeze_me=True)["synsets"]
    return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}


def devkit_ground_truth(root: Path) -> list[int]:
    """ILSVRC2012_ID of validation image 1, 2, ... (line i is image i)."""
    with _devkit_file(root, GROUND_TRUTH) as fh:
        return [int(line) for line in fh.read().decode().split()]


def _layout_error(root: Path) -> FileNotFoundError:
    return FileNotFoundError(f"imagenet: no validation images found in {image_folder(root)}: " + HELP.format(root=root))


@dataclass
class Scan:
    """What is on disk, in ImageFolder order."""

    wnids: list[str]  # sorted; label = index
    sample_ids: list[str]  # '<wnid>/<file name>'
    labels: np.ndarray
    paths: list[Path]


def scan(root: Path) -> Scan:
    """The validation images under root, in either layout."""
    if not root.is_dir():
        raise _layout_error(root)
    folder = image_folder(root)
    wnids, flat = _scan(folder)
    if wnids:
        samples = [(label, name, wnid) for label, wnid in enumerate(wnids) for name in _files(folder / wnid)]
        paths = [folder / wnid / name for _, name, wnid in samples]
    elif flat:
        id_to_wnid, truth = devkit_classes(root), devkit_ground_truth(root)
        wnids = sorted(id_to_wnid.values())
        index = {wnid: label for label, wnid in enumerate(wnids)}
        samples = []
        for name in flat:
            number = int(FLAT_FILE.match(name).group(1))
            if number > len(truth) or truth[number - 1] not in id_to_wnid:
                raise ValueError(f"imagenet: the devkit's ground truth has no valid class for {folder / name}")
            wnid = id_to_wnid[truth[number - 1]]
            samples.append((index[wnid], name, wnid))
        samples.sort()
        paths = [folder / name for _, name, _ in samples]
    else:
        raise _layout_error(root)
    return Scan(wnids, [f"{wnid}/{name}" for _, name, wnid in samples],
                np.asarray([label for label, _, _ in samples], dtype=np.int64), paths)


@register_reader
class ImageNetReader(Reader):
    """Reader `imagenet` (see the module docstring)."""

    name = "imagenet"
    splits = ("val",)
    user_provided = True

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        return [class_name(wnid) for wnid in scan(root).wnids]

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        found = scan(root)
        return SplitData(images=found.paths, labels=found.labels,
                         class_names=[class_name(wnid) for wnid in found.wnids], sample_ids=found.sample_ids)

    def shortfall(self, spec: dict[str, Any], found: Scan) -> str | None:
        """'found 49,999 images (expected 50,000)' when the counts are not the expected ones, else None."""
        expected = {**EXPECTED, **spec.get("expected", {})}
        counts = {"images": len(found.sample_ids), "classes": len(np.unique(found.labels))}
        wrong = [f"{counts[k]:,} {k} (expected {expected[k]:,})" for k in EXPECTED if counts[k] != expected[k]]
        return f"found {', '.join(wrong)}" if wrong else None

    def prepare(self, spec: dict[str, Any], root: Path) -> None:
        """The check job: raise with what to provide unless root holds the expected images."""
        found = scan(root)
        problem = self.shortfall(spec, found)
        if problem:
            raise ValueError(f"imagenet: {image_folder(root)} is incomplete: {problem}; " + HELP.format(root=root))
        log.info("%s holds the expected validation set: %d images, %d classes", root, len(found.sample_ids),
                 len(found.wnids))

    def status(self, spec: dict[str, Any], root: Path) -> str:
        try:
            found = scan(root)
        except (OSError, ValueError):
            return "missing"
        return "present" if self.shortfall(spec, found) else "verified"
