"""A folder of images, one sub-folder per class: the format most user datasets come in.

Two layouts are read:
- explicit splits: `root/train/<class>/*` and `root/test/<class>/*` (chosen when `root/train` or
  `root/test` is a folder);
- flat: `root/<class>/*`, split into train/test by a seeded stratified split (`test_fraction`,
  `seed`).
Classes are the sorted folder names (the union over splits, so a class absent from one split keeps
its label). Images are the class folder's direct files with a common image extension
(case-insensitive), sorted by name, as torchvision's ImageFolder orders them; they stay file paths
and are decoded lazily by SplitData.image. Sample ids are paths relative to root (posix).
Hidden entries (names starting with ".") are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.registry import Reader, SplitData, register_reader, stratified_split

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir()
         if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.name,
    )


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise FileNotFoundError(f"imagefolder: dataset folder {root} does not exist")


def _flat_split(root: Path, labels: np.ndarray, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """The seeded stratified split of a flat layout; sklearn's refusals name the folder."""
    try:
        return stratified_split(labels, spec)
    except ValueError as exc:
        raise ValueError(f"imagefolder: cannot split {root} into train/test: {exc}") from exc


@register_reader
class ImageFolderReader(Reader):
    """Reader `imagefolder` (see the module docstring for the layouts)."""

    name = "imagefolder"

    def has_split_folders(self, root: Path) -> bool:
        """Explicit-split layout: a `train` or `test` folder directly under root."""
        return any((root / split).is_dir() for split in self.splits)

    def folder_classes(self, root: Path) -> list[str]:
        """Sorted class folder names found on disk (union over the split folders)."""
        _check_root(root)
        if self.has_split_folders(root):
            found = {c for s in self.splits if (root / s).is_dir() for c in _subfolders(root / s)}
        else:
            found = set(_subfolders(root))
        if not found:
            raise ValueError(
                f"imagefolder: {root} has no class folders (expected {root}/<class>/<image> or "
                f"{root}/train/<class>/<image> and {root}/test/<class>/<image>)")
        return sorted(found)

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        return self.folder_classes(root)

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        names = self.class_names(spec, root)
        explicit = self.has_split_folders(root)
        folder = root / split if explicit else root
        paths, labels = self._scan(folder, names)
        if not paths:
            raise ValueError(f"imagefolder: split {split!r} is empty: no image files in the class folders of {folder}")
        if not explicit:
            keep = _flat_split(root, labels, spec)[split]
            paths, labels = [paths[i] for i in keep], labels[keep]
        return SplitData(
            images=paths,
            labels=labels,
            class_names=names,
            sample_ids=[p.relative_to(root).as_posix() for p in paths],
        )

    def status(self, spec: dict[str, Any], root: Path) -> str:
        return "present" if root.is_dir() and _subfolders(root) else "missing"

    def _scan(self, folder: Path, names: list[str]) -> tuple[list[Path], np.ndarray]:
        """Image paths under folder/<class>/ in label order, and their labels."""
        if not folder.is_dir():
            raise FileNotFoundError(f"imagefolder: split folder {folder} does not exist")
        unknown = sorted(set(_subfolders(folder)) - set(names))
        if unknown:
            raise ValueError(f"imagefolder: {folder} has class folders not in the class list: {', '.join(unknown)}")
        paths: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(names):
            if (folder / name).is_dir():
                files = _image_files(folder / name)
                paths += files
                labels += [label] * len(files)
        return paths, np.asarray(labels, dtype=np.int64)
