"""The attacked classifier: [0, 1] images -> normalisation -> model -> head -> logits.

Heads are registered by name (config `attacks.heads`):
- `native`: the model's own ImageNet classifier (`vlgen.models.heads.load_classifier`; BiT-M's comes
  from its in1k fine-tuned checkpoint);
- `zeroshot`: CLIP's text tower over the dataset's class names (`vlgen.attacks.zeroshot`);
- `probe`: a saved linear probe on the model's features (`vlgen.tasks.probe.linear_head`).
`native` replaces the feature network (the whole checkpoint classifies); the others sit on the
features the source's model gives, loaded from the store entry's payload as extraction loaded it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlgen.models.common import DEFAULT_TEMPLATE
from vlgen.models.heads import ImageClassifier, load_classifier
from vlgen.models.registry import ImageFeatureModel, get_source
from vlgen.tasks.probe import linear_head


@dataclass(frozen=True)
class HeadInputs:
    """What the head builders read: the model's key payload (plus its catalog `classifier`), files, names."""

    payload: dict[str, Any]
    weights: Path | None = None  # the feature model's weights (its pin's file)
    classifier_weights: Path | None = None  # the native head's checkpoint (the classifier pin's file)
    probe: Path | None = None  # a saved probe (`probe` head)
    class_names: tuple[str, ...] = ()
    template: str = DEFAULT_TEMPLATE
    device: str = "cpu"


class FeaturesThenHead(torch.nn.Module):
    """Normalised images -> the feature model's features -> head logits."""

    def __init__(self, model: ImageFeatureModel, head: torch.nn.Module):
        super().__init__()
        self.model = model
        # The feature network as a submodule, so that .to() and .eval() reach it.
        self.backbone = getattr(model, "module", torch.nn.Identity())
        self.head = head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.model(images))


def feature_model(inputs: HeadInputs) -> ImageFeatureModel:
    return get_source(inputs.payload["source"]).load(inputs.payload, inputs.weights, inputs.device)


# A head builder returns (network on normalised images -> logits, the head's input width, n_classes).
Built = tuple[torch.nn.Module, int, int]


def _native(inputs: HeadInputs) -> Built:
    if inputs.classifier_weights is None:
        raise ValueError("the native head needs the classifier checkpoint (classifier_weights)")
    classifier = load_classifier(inputs.payload, inputs.classifier_weights, inputs.device)
    return classifier.network, classifier.dim, classifier.num_classes


def _probe(inputs: HeadInputs) -> Built:
    if inputs.probe is None:
        raise ValueError("the probe head needs a saved probe file")
    head = linear_head(inputs.probe, map_location=inputs.device)
    return FeaturesThenHead(feature_model(inputs), head), head.in_features, head.out_features


def _zeroshot(inputs: HeadInputs) -> Built:
    from vlgen.attacks.zeroshot import zeroshot_head

    head = zeroshot_head(inputs.payload, inputs.weights, list(inputs.class_names), inputs.template)
    return FeaturesThenHead(feature_model(inputs), head.to(inputs.device)), head.text.shape[1], head.text.shape[0]


HEADS: dict[str, Callable[[HeadInputs], Built]] = {
    "native": _native, "probe": _probe, "zeroshot": _zeroshot}


def attacked_classifier(head: str, inputs: HeadInputs, mean: list[float], std: list[float]) -> ImageClassifier:
    """The classifier foolbox attacks: [0, 1] images, normalised with `mean`/`std` inside, no grads on weights."""
    if head not in HEADS:
        raise ValueError(f"unknown attack head {head!r} (registered: {', '.join(HEADS)})")
    network, dim, n_classes = HEADS[head](inputs)
    classifier = ImageClassifier(network, list(mean), list(std), dim=dim, num_classes=n_classes).to(inputs.device)
    return classifier.eval().requires_grad_(False)
