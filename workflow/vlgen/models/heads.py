"""ImageNet classifiers for the attacks: a checkpoint model with its own head, normalisation inside.

Attacks perturb pixels in [0, 1] (foolbox bounds (0, 1)), so the classifier takes [0, 1] images and
normalises with the model's preprocessing statistics itself. The head is the checkpoint's own
(RN50, SIN x3, AR x3); a catalog entry may name another checkpoint under `classifier` (BiT-M: its
ImageNet-21k head is not an ImageNet-1k classifier, so the in1k fine-tuned BiT-M-R50x1 is used as
a whole, a recorded deviation). Models without one (CLIP, VirTex, ICMLM) need a trained or
zero-shot head, which the attack stage builds. This module imports torch: only attack jobs import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vlgen.models.architectures import Architecture
from vlgen.models.checkpoint_formats import get_format
from vlgen.models.library_preprocess import resolve_preprocess


def _head_source(spec: dict[str, Any]) -> tuple[str, str]:
    head = spec.get("classifier") or {}
    return head.get("architecture", spec["architecture"]), head.get("format", spec["format"])


def has_classifier(spec: dict[str, Any]) -> bool:
    """Whether the checkpoint behind the model's classifier provides a classifier layer."""
    if spec.get("source") != "checkpoint":
        return False
    architecture, format_name = _head_source(spec)
    head = Architecture.parse(architecture).classifier_name()
    return head is not None and get_format(format_name).provides(f"{head}.weight")


def load_classifier(spec: dict[str, Any], weights: str | Path, device: str = "cpu") -> ImageClassifier:
    """The model's ImageNet classifier from `weights` (the classifier pin's file, else the model's)."""
    from vlgen.models.source_checkpoint import load_network

    if not has_classifier(spec):
        raise ValueError(f"{spec.get('source')} model {spec.get('architecture') or spec.get('name')!r} has no "
                         "classifier in its checkpoint: train a linear or zero-shot head instead")
    architecture, format_name = _head_source(spec)
    network = load_network(architecture, format_name, Path(weights))
    head = network.get_submodule(Architecture.parse(architecture).classifier_name()).weight
    preprocess = resolve_preprocess(spec["preprocess"])
    return ImageClassifier(network, preprocess["mean"], preprocess["std"], dim=int(head.shape[1]),
                           num_classes=int(head.shape[0])).to(device)


class ImageClassifier(torch.nn.Module):
    """[B, 3, H, W] images in [0, 1] -> logits [B, num_classes]; `dim` is the head's input width."""

    def __init__(self, network: torch.nn.Module, mean: list[float], std: list[float], dim: int, num_classes: int):
        super().__init__()
        self.network = network.eval()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.dim = dim
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network((images - self.mean) / self.std)
