"""scikit-learn's bundled digits (1797 8x8 images): the offline stand-in for MNIST.

It ships with scikit-learn, so it is always present and needs no root. Pixel values 0..16 become
uint8 by `(v * 255 + 8) // 16` (nearest integer to v * 255 / 16, halves rounded up: 0 -> 0,
8 -> 128, 16 -> 255); the grayscale plane is repeated to three channels, as PROTOCOL does for
grayscale datasets. The train/test split is sklearn's stratified train_test_split, seeded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.registry import Reader, SplitData, register_reader, stratified_split

CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map digits' 0..16 integer intensities to 0..255 (nearest, halves up)."""
    return ((values.astype(np.int64) * 255 + 8) // 16).astype(np.uint8)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 images as uint8 [N, 8, 8, 3] and their labels (loaded once per process)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    gray = scale_to_uint8(bunch.images)
    return np.repeat(gray[..., None], 3, axis=-1), bunch.target.astype(np.int64)


@register_reader
class DigitsReader(Reader):
    """Reader `digits`: sample ids are `digits/<index in load_digits, 4 digits>`."""

    name = "digits"

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        images, labels = _digits()
        indices = stratified_split(labels, spec)[split]
        return SplitData(
            images=images[indices],
            labels=labels[indices],
            class_names=list(CLASS_NAMES),
            sample_ids=[f"digits/{i:04d}" for i in indices],
        )

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        return list(CLASS_NAMES)

    def prepare(self, spec: dict[str, Any], root: Path) -> None:
        """Nothing to do: the data ships with scikit-learn."""

    def status(self, spec: dict[str, Any], root: Path) -> str:
        return "present"
