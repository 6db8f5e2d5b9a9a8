"""The training split as arrays: images resized once to the input size, labels, class names, captions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.registry import get_reader


@dataclass
class TrainingData:
    """`images` uint8 [N, H, W, 3]; `captions[i]` the captions of image i (None when no recipe needs them)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    captions: list[list[str]] | None = None

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.captions is not None:
            if len(self.captions) != len(self.labels):
                raise ValueError(f"{len(self.captions)} caption lists but {len(self.labels)} images")
            empty = [i for i, c in enumerate(self.captions) if not c]
            if empty:
                raise ValueError(f"image {empty[0]} has no caption ({len(empty)} images without one)")


def caption_index(captions: list[list[str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Unique captions (sorted), ids [N, K] into them (-1 past an image's count), counts [N].

    Equal strings get one id, which is what makes identical captions in a batch positives of each other.
    """
    unique = sorted({c for row in captions for c in row})
    position = {c: i for i, c in enumerate(unique)}
    counts = np.array([len(row) for row in captions], dtype=np.int64)
    ids = np.full((len(captions), int(counts.max(initial=0))), -1, dtype=np.int64)
    for i, row in enumerate(captions):
        ids[i, :len(row)] = [position[c] for c in row]
    return unique, ids, counts


def load_training_data(spec: dict[str, Any], root: Path, size: int, interpolation: str,
                       with_captions: bool) -> TrainingData:
    """The dataset's train split, each image resized (shorter side = `size`) with extraction's own Resize."""
    from torchvision.transforms import InterpolationMode, v2

    reader = get_reader(spec["reader"])
    split = reader.load(spec, Path(root), "train")
    resize = v2.Resize(size, interpolation=InterpolationMode(interpolation), antialias=True)
    arrays = [np.asarray(resize(split.image(i)), dtype=np.uint8) for i in range(len(split))]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"training images of several shapes after resizing: {sorted(shapes)[:3]}")
    captions = reader.captions(spec, Path(root), "train") if with_captions else None
    return TrainingData(np.stack(arrays), np.asarray(split.labels, dtype=np.int64), list(split.class_names),
                        captions)
