"""Image preprocessing for feature extraction, built from a resolved `preprocess` dict.

Every field of the dict is part of the feature key, so the transform is a pure function of it:
Resize (shorter side) -> CenterCrop -> float in [0, 1] -> Normalize. The protocol's paper preset is
Resize(256, bicubic) -> CenterCrop(256) with ImageNet statistics; CLIP uses 224 and its own.
torch/torchvision are imported inside `build_transform`, never at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from PIL import Image

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
RESIZE_BACKENDS = ("pil", "tensor")


def _geometry(preprocess: dict[str, Any]) -> list[Any]:
    from torchvision.transforms import InterpolationMode, v2

    interpolation = InterpolationMode(preprocess["interpolation"])
    return [v2.Resize(preprocess["size"], interpolation=interpolation, antialias=True),
            v2.CenterCrop(preprocess["crop"])]


def build_transform(preprocess: dict[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """RGB PIL image -> normalised float32 tensor [3, crop, crop].

    `resize_backend: pil` resizes the PIL image (PIL's kernels, as the authors' code did);
    `tensor` converts to a uint8 tensor first and resizes with torch's kernels. Both round to 8 bits
    before scaling to [0, 1], so they differ only by the resize implementation (a few 1/255 steps),
    which is still enough to change the features: hence the backend is in the key.
    """
    import torch
    from torchvision.transforms import v2

    backend = preprocess.get("resize_backend", "pil")
    if backend not in RESIZE_BACKENDS:
        raise ValueError(f"preprocess.resize_backend must be one of {RESIZE_BACKENDS}, got {backend!r}")
    if preprocess["interpolation"] not in INTERPOLATIONS:
        raise ValueError(f"preprocess.interpolation must be one of {INTERPOLATIONS}, "
                         f"got {preprocess['interpolation']!r}")
    to_tensor = [v2.PILToTensor()]
    steps = _geometry(preprocess) + to_tensor if backend == "pil" else to_tensor + _geometry(preprocess)
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(mean=list(preprocess["mean"]), std=list(preprocess["std"]))])
