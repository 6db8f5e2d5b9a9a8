"""Small copies of the paper's datasets in their exact on-disk formats, and what was written into them.

Each writer builds the files from first principles (struct for IDX headers, pickle for CIFAR batches,
scipy.io.savemat for SVHN and the ImageNet devkit, PIL for JPEGs) and returns the content it wrote,
so tests compare the readers against values computed here, not against the readers themselves.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat


@dataclass
class Written:
    """One split as written: images (uint8 [N, H, W, 3], or the solid colour of each JPEG), labels, ids."""

    images: np.ndarray
    labels: np.ndarray
    sample_ids: list[str]


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's IDX: 0, 0, type 0x08 (uint8), ndim, big-endian uint32 dims, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(root: Path, sizes=(12, 7), n_classes: int = 10, gz: bool = True) -> dict[str, Written]:
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for (split, prefix), n, seed in zip((("train", "train"), ("test", "t10k")), sizes, (1, 2)):
        gray = rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng(seed + 10).integers(0, n_classes, size=n).astype(np.uint8)
        for kind, array in (("images-idx3", gray), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                with gzip.open(root / f"{name}.gz", "wb") as fh:
                    fh.write(idx_bytes(array))
            else:
                (root / name).write_bytes(idx_bytes(array))
        out[split] = Written(np.repeat(gray[..., None], 3, axis=-1), labels.astype(np.int64),
                             [f"{split}/{i:05d}" for i in range(n)])
    return out


# -- CIFAR ------------------------------------------------------------------------------------------


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """[N, 32, 32, 3] -> CIFAR's [N, 3072] rows: the red plane, then green, then blue, row-major."""
    rows = np.empty((len(images), 3072), dtype=np.uint8)
    for i, image in enumerate(images):
        for c in range(3):
            for y in range(32):
                rows[i, c * 1024 + y * 32:c * 1024 + (y + 1) * 32] = image[y, :, c]
    return rows


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_cifar10(root: Path, per_batch: int = 3, names=("airplane", "automobile", "bird")) -> dict[str, Written]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, list] = {"train": [], "test": []}
    batches = [("train", f"data_batch_{i}") for i in range(1, 6)] + [("test", "test_batch")]
    for seed, (split, name) in enumerate(batches):
        images = rng(100 + seed).integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng(200 + seed).integers(0, len(names), size=per_batch).tolist()
        _pickle(folder / name, {"batch_label": f"batch {name}", "labels": labels, "data": cifar_rows(images),
                                "filenames": [f"img_{seed}_{i}.png" for i in range(per_batch)]})
        out[split].append((images, labels))
    _pickle(folder / "batches.meta", {"label_names": list(names), "num_cases_per_batch": per_batch, "num_vis": 3072})
    return {split: _concat(split, parts) for split, parts in out.items()}


def write_cifar100(root: Path, sizes=(8, 5), names=("apple", "aquarium_fish", "baby", "bear")) -> dict[str, Written]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for seed, (split, n) in enumerate(zip(("train", "test"), sizes)):
        images = rng(300 + seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        fine = rng(400 + seed).integers(0, len(names), size=n).tolist()
        _pickle(folder / split, {"filenames": [f"f{i}.png" for i in range(n)], "batch_label": split,
                                 "fine_labels": fine, "coarse_labels": [label // 2 for label in fine],
                                 "data": cifar_rows(images)})
        out[split] = _concat(split, [(images, fine)])
    _pickle(folder / "meta", {"fine_label_names": list(names), "coarse_label_names": ["fruit", "animal"]})
    return out


def _concat(split: str, parts: list) -> Written:
    images = np.concatenate([p[0] for p in parts])
    labels = np.array([label for p in parts for label in p[1]], dtype=np.int64)
    return Written(images, labels, [f"{split}/{i:05d}" for i in range(len(labels))])


# -- SVHN -------------------------------------------------------------------------------------------


def write_svhn(root: Path, sizes=(11, 6)) -> dict[str, Written]:
    """Labels in SVHN's 1..10 (10 = the digit 0); every split holds at least one 10."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for seed, (split, n) in enumerate(zip(("train", "test"), sizes)):
        images = rng(500 + seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        svhn_labels = rng(600 + seed).integers(1, 11, size=n)
        svhn_labels[0] = 10
        savemat(root / f"{split}_32x32.mat",
                {"X": images.transpose(1, 2, 3, 0), "y": svhn_labels.reshape(-1, 1).astype(np.uint8)})
        digits = np.where(svhn_labels == 10, 0, svhn_labels)
        out[split] = Written(images, digits.astype(np.int64), [f"{split}/{i:05d}" for i in range(n)])
    return out


# -- JPEG datasets ----------------------------------------------------------------------------------


def colour(index: int) -> tuple[int, int, int]:
    """A distinct, JPEG-safe solid colour per sample (channels 40 apart at least)."""
    return (40 + (index * 53) % 180, 40 + (index * 97) % 180, 40 + (index * 29) % 180)


def write_jpeg(path: Path, rgb: tuple[int, int, int], size=(40, 30), gray: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("L", size, rgb[0]) if gray else Image.new("RGB", size, rgb)
    image.save(path, format="JPEG", quality=95)


CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
CUB_TRAIN_FLAGS = [1, 0, 1, 0, 1, 1, 1, 0, 0]  # image ids 1..9, three per class
CUB_GRAY_ID = 5  # a grayscale JPEG, as a few real CUB images are


def write_cub(root: Path) -> dict[str, Written]:
    """`root/CUB_200_2011/` as the archive unpacks; colours are per image id."""
    base = root / "CUB_200_2011"
    base.mkdir(parents=True, exist_ok=True)
    lines = {"images.txt": [], "image_class_labels.txt": [], "train_test_split.txt": [], "classes.txt": []}
    out: dict[str, list] = {"train": [], "test": []}
    for c, name in enumerate(CUB_CLASSES, start=1):
        lines["classes.txt"].append(f"{c} {name}")
    for image_id, flag in enumerate(CUB_TRAIN_FLAGS, start=1):
        class_id = (image_id - 1) // 3 + 1
        folder = CUB_CLASSES[class_id - 1]
        relative = f"{folder}/{folder.split('.')[1]}_{image_id:04d}_{700 + image_id}.jpg"
        gray = image_id == CUB_GRAY_ID
        rgb = colour(image_id)
        write_jpeg(base / "images" / relative, rgb, gray=gray)
        lines["images.txt"].append(f"{image_id} {relative}")
        lines["image_class_labels.txt"].append(f"{image_id} {class_id}")
        lines["train_test_split.txt"].append(f"{image_id} {flag}")
        out["train" if flag else "test"].append(((rgb[0],) * 3 if gray else rgb, class_id - 1, relative))
    for name, rows in lines.items():
        (base / name).write_text("\n".join(rows) + "\n")
    (root / "attributes.txt").write_text("1 has_bill_shape::curved\n")  # the archive has it at top level
    return {split: Written(np.array([r[0] for r in rows], dtype=np.uint8), np.array([r[1] for r in rows]),
                           [r[2] for r in rows]) for split, rows in out.items()}


# -- ImageNet validation ----------------------------------------------------------------------------

# Leaf synsets (ImageNet classes) with ILSVRC2012_IDs deliberately NOT in sorted-wnid order, plus two
# inner synsets (num_children > 0) that must be ignored, as in the real meta.mat.
IMAGENET_LEAVES = {1: "n02012849", 2: "n04592741", 3: "n01440764", 4: "n01443537"}
IMAGENET_INNER = {5: "n00015388", 6: "n01317541"}
IMAGENET_NAMES = {"n01440764": "tench, tinca tinca", "n01443537": "goldfish, carassius auratus",
                  "n02012849": "crane", "n04592741": "wing"}
# Ground truth (ILSVRC2012_ID) of validation images 1..10, shuffled across classes.
IMAGENET_TRUTH = [3, 1, 4, 4, 2, 3, 1, 3, 2, 4]
DEVKIT = "ILSVRC2012_devkit_t12"


def write_meta_mat(path: Path) -> None:
    """The devkit's data/meta.mat: a 1 x N struct array `synsets` (inner synsets first, shuffled)."""
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    rows = [(k, w, "inner", 3) for k, w in IMAGENET_INNER.items()] + [
        (k, w, IMAGENET_NAMES[w], 0) for k, w in sorted(IMAGENET_LEAVES.items(), key=lambda kv: kv[1], reverse=True)]
    synsets = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, (ilsvrc_id, wnid, words, n_children) in enumerate(rows):
        synsets[0, i] = (ilsvrc_id, wnid, words, f"gloss of {wnid}", n_children,
                         np.arange(1, n_children + 1, dtype=np.uint16), 0 if n_children == 0 else 2, 1300)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"synsets": synsets})


def write_devkit(root: Path, as_archive: bool) -> None:
    staging = root / DEVKIT if not as_archive else root / f".{DEVKIT}"
    write_meta_mat(staging / "data" / "meta.mat")
    (staging / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "".join(f"{t}\n" for t in IMAGENET_TRUTH))
    if as_archive:
        with tarfile.open(root / f"{DEVKIT}.tar.gz", "w:gz") as tar:
            tar.add(staging, arcname=DEVKIT)
        shutil.rmtree(staging)


def write_imagenet(root: Path, layout: str, devkit_archive: bool = False) -> dict[str, Written]:
    """10 validation JPEGs, flat (with the devkit) or moved into wnid folders as torchvision does."""
    root.mkdir(parents=True, exist_ok=True)
    wnids = sorted(IMAGENET_LEAVES.values())
    samples = []
    for number, ilsvrc_id in enumerate(IMAGENET_TRUTH, start=1):
        wnid = IMAGENET_LEAVES[ilsvrc_id]
        name = f"ILSVRC2012_val_{number:08d}.JPEG"
        path = root / name if layout == "flat" else root / wnid / name
        write_jpeg(path, colour(number), size=(24, 20), gray=number == 7)
        rgb = (colour(number)[0],) * 3 if number == 7 else colour(number)
        samples.append((wnids.index(wnid), name, wnid, rgb))
    if layout == "flat":
        write_devkit(root, devkit_archive)
    samples.sort()
    return {"val": Written(np.array([s[3] for s in samples], dtype=np.uint8), np.array([s[0] for s in samples]),
                           [f"{s[2]}/{s[1]}" for s in samples])}


def tar_gz(archive: Path, folder: Path, arcname: str) -> bytes:
    """Pack `folder` as `arcname/` into a .tar.gz, return its bytes."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive.read_bytes()
