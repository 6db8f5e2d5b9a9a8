"""The dataset-reader registry: a catalog entry names a reader; the reader knows the on-disk format.

Readers register themselves with `@register_reader`; adding a dataset family is adding one module
to `vlgen.data`. Readers import nothing heavy at import time (no torch).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

# Defaults of the dataset catalog fields every reader shares (config.schema.yaml $defs.dataset).
DEFAULT_SEED = 0
DEFAULT_TEST_FRACTION = 0.5


@dataclass
class SplitData:
    """One split of a dataset: images (uint8 HxWx3 arrays or image file paths), labels, names, ids."""

    images: list[Any] | np.ndarray
    labels: np.ndarray
    class_names: list[str]
    sample_ids: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> Any:
        """Sample `index` as an RGB PIL image (grayscale repeated to three channels)."""
        from PIL import Image

        item = self.images[index]
        if isinstance(item, np.ndarray):
            image = Image.fromarray(item)
        else:
            with Image.open(item) as handle:
                image = handle.copy()
        return image.convert("RGB")


@dataclass
class LabelView:
    """Another labelling of a split's images (an attribute task), aligned with its sample ids.

    Views let the same store entry be evaluated on several tasks without re-extraction.
    -1 marks an image that is not part of the view for this split (e.g. a held-out test subset).
    """

    labels: np.ndarray
    class_names: list[str]

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.labels.ndim != 1:
            raise ValueError(f"LabelView: labels must be one-dimensional, got shape {self.labels.shape}")
        bad = self.labels[(self.labels < -1) | (self.labels >= len(self.class_names))]
        if bad.size:
            raise ValueError(f"LabelView: label {int(bad[0])} is outside -1..{len(self.class_names) - 1} "
                             f"(class_names: {self.class_names})")


class Reader(ABC):
    """How to read one family of datasets from its real on-disk format."""

    name: ClassVar[str]
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    # The file `prepare` writes last (relative to root), so a workflow rule can depend on it;
    # None for data the user provides or that ships with a package.
    marker: ClassVar[str | None] = None
    # Data the user must provide (ImageNet): a check job runs `prepare` (which then only checks)
    # before any extraction, so a dry run works without the data and a real run stops early.
    user_provided: ClassVar[bool] = False
    # Readers whose `captions` works: known at DAG time, so a config can be checked without data.
    has_captions: ClassVar[bool] = False
    # The names `label_views` returns, known at DAG time for the same reason.
    view_names: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        """Read `split` of the dataset described by `spec` (a dataset key payload) under `root`."""

    @abstractmethod
    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        """Class names in label order (what text models encode)."""

    def prepare(self, spec: dict[str, Any], root: Path) -> None:
        """Make the data present under `root` (download or generate); the default expects it there."""
        if not root.exists():
            raise FileNotFoundError(f"dataset folder {root} does not exist; reader {self.name!r} cannot create it")

    def status(self, spec: dict[str, Any], root: Path) -> str:
        """'present' or 'missing', cheaply."""
        return "present" if root.exists() else "missing"

    def captions(self, spec: dict[str, Any], root: Path, split: str) -> list[list[str]]:
        """Captions of each image of `split`, aligned with `load(spec, root, split).sample_ids`."""
        captioned = [name for name, reader in READERS.items() if reader.has_captions]
        raise ValueError(f"dataset reader {self.name!r} has no captions "
                         f"(readers with captions: {', '.join(captioned) or 'none'})")

    def label_views(self, spec: dict[str, Any], root: Path, split: str) -> dict[str, LabelView]:
        """Attribute tasks over the images of `split` by view name; none unless the reader knows some."""
        return {}


READERS: dict[str, Reader] = {}


def register_reader(cls: type[Reader]) -> type[Reader]:
    if cls.name in READERS:
        raise ValueError(f"dataset reader {cls.name!r} is registered twice")
    READERS[cls.name] = cls()
    return cls


def get_reader(name: str) -> Reader:
    try:
        return READERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset reader {name!r} (registered: {', '.join(sorted(READERS))})") from None


def stratified_split(labels: np.ndarray, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Seeded stratified train/test indices (ascending), from the spec's test_fraction and seed.

    sklearn's train_test_split does the work; sorting keeps each split in the source's order, so
    the split is a fixed function of (labels, test_fraction, seed).
    """
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    train, test = train_test_split(
        indices,
        test_size=spec.get("test_fraction", DEFAULT_TEST_FRACTION),
        random_state=spec.get("seed", DEFAULT_SEED),
        stratify=labels,
    )
    return {"train": np.sort(train), "test": np.sort(test)}
