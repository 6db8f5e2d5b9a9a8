"""The attacked images: the selected samples of a split, resized and cropped, in [0, 1], NOT normalised
(the classifier normalises, so that foolbox perturbs pixels)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlgen.attacks.selection import attacked_indices
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


@dataclass
class AttackedImages:
    images: torch.Tensor  # [N, 3, crop, crop] in [0, 1]
    labels: np.ndarray  # [N]
    indices: np.ndarray  # [N] positions in the split
    class_names: list[str]  # the split's, in label order


def load_attacked_images(dataset_payload: dict[str, Any], root: str | Path, split: str, *, n_images: int,
                         selection_seed: int, geometry: dict[str, Any]) -> AttackedImages:
    """The `n_images` images of `split` chosen by `attacked_indices`, transformed by `geometry`."""
    data = load_split(dataset_payload, Path(root), split)
    indices = attacked_indices(len(data), n_images, selection_seed)
    transform = attack_transform(geometry)
    images = torch.stack([transform(data.image(int(i))) for i in indices])
    return AttackedImages(images, np.asarray(data.labels)[indices], indices, list(data.class_names))
