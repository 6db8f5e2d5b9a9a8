"""The attacked images: the selected samples of a split, resized and cropped, in [0, 1], NOT normalised
(the classifier normalises, so that foolbox perturbs pixels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlgen.data import load_split


def attack_transform(geometry: dict[str, Any]) -> Any:
    """RGB PIL image -> float32 [3, crop, crop] in [0, 1]: Resize(size) -> CenterCrop(crop).

    `size` is the shorter side (an int) or an exact (height, width) (the authors' BiT `Resize((224, 224))`).
    """
    from torchvision.transforms import InterpolationMode, v2

    interpolation = InterpolationMode(geometry["interpolation"])
    return v2.Compose([
        v2.Resize(geometry["size"], interpolation=interpolation, antialias=True),
        v2.CenterCrop(geometry["crop"]),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
    ])


def load_attacked_images(dataset_payload: dict[str, Any], root: str | Path, split: str, indices: np.ndarray,
                         geometry: dict[str, Any]) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """(images [N, 3, crop, crop] in [0, 1], labels [N], the split's class names) of `indices`."""
    data = load_split(dataset_payload, Path(root), split)
    transform = attack_transform(geometry)
    images = torch.stack([transform(data.image(int(i))) for i in indices])
    return images, np.asarray(data.labels)[indices], list(data.class_names)
