"""CIFAR-10 and CIFAR-100 in their "python version": pickled batches in the unpacked archive.

Each batch is a pickled dict (written by Python 2: read with encoding latin1) whose `data` is uint8
[N, 3072], channel-major (1024 red, 1024 green, 1024 blue, rows of 32). Train is the train batches
concatenated in order, test is the test batch: torchvision's order. Class names are the meta
file's list, verbatim (CIFAR-100 keeps its underscores, e.g. "aquarium_fish", as the authors'
code did). CIFAR-100 uses its 100 fine labels. Sample ids: `<split>/<index in the split, 5 digits>`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vlgen.data.fetch import DownloadedReader
from vlgen.data.registry import SplitData, register_reader


def unpickle(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="latin1")


class CifarReader(DownloadedReader):
    """The two CIFARs differ only in file names and dict keys (class attributes below)."""

    folder: ClassVar[str]
    batches: ClassVar[dict[str, tuple[str, ...]]]
    meta: ClassVar[str]
    names_key: ClassVar[str]
    labels_key: ClassVar[str]

    def needed(self, spec: dict[str, Any], root: Path) -> list[Path]:
        return [root / self.folder / name for name in (self.meta, *self.batches["train"], *self.batches["test"])]

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        self.check_present(spec, root)
        return list(unpickle(root / self.folder / self.meta)[self.names_key])

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        self.check_present(spec, root)
        batches = [unpickle(root / self.folder / name) for name in self.batches[split]]
        data = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
        labels = np.concatenate([np.asarray(b[self.labels_key], dtype=np.int64) for b in batches])
        images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        return SplitData(
            images=images,
            labels=labels,
            class_names=self.class_names(spec, root),
            sample_ids=[f"{split}/{i:05d}" for i in range(len(labels))],
        )


@register_reader
class Cifar10Reader(CifarReader):
    """Reader `cifar10`: `root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`."""

    name = "cifar10"
    folder = "cifar-10-batches-py"
    batches = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
    meta = "batches.meta"
    names_key = "label_names"
    labels_key = "labels"


@register_reader
class Cifar100Reader(CifarReader):
    """Reader `cifar100`: `root/cifar-100-python/{train, test, meta}`, fine labels."""

    name = "cifar100"
    folder = "cifar-100-python"
    batches = {"train": ("train",), "test": ("test",)}
    meta = "meta"
    names_key = "fine_label_names"
    labels_key = "fine_labels"
