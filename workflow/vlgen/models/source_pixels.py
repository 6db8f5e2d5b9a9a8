"""`pixels`: the preprocessed image itself, flattened — the no-learning baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from vlgen.models.common import TorchImageModel
from vlgen.models.registry import Source, register_source


@register_source
class PixelsSource(Source):
    """Features = the normalised pixels of the crop, [3 * crop * crop]; nothing to load."""

    name: ClassVar = "pixels"
    modality: ClassVar = "image"
    optional: ClassVar = ("preprocess", "precision")

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> TorchImageModel:
        import torch

        flatten = torch.nn.Flatten()
        return TorchImageModel(flatten, flatten, spec["preprocess"], device)

    def feature_dim(self, spec: dict[str, Any]) -> int:
        return 3 * spec["preprocess"]["crop"] ** 2
