"""`torchvision`: any torchvision.models builder by name; feature = the classifier's input."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.common import NetworkSource
from vlgen.models.registry import register_source

if TYPE_CHECKING:
    import torch


def drop_classifier(module: torch.nn.Module) -> torch.nn.Module:
    """Replace the last Linear layer (the classifier: `fc` of ResNets, `classifier[-1]`, `heads.head`)
    by Identity, so the output is its input: avg-pool features for ResNets (protocol: "fc removed")."""
    import torch

    linears = [name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"{type(module).__name__} has no Linear classifier to remove: set 'layer' and 'pooling'")
    module.set_submodule(linears[-1], torch.nn.Identity())
    return module


@register_source
class TorchvisionSource(NetworkSource):
    """torchvision.models.get_model(name); `pretrained` is a weights tag (e.g. IMAGENET1K_V1) whose
    state dict the weights stage stores as a local file."""

    name: ClassVar = "torchvision"

    def architecture(self, spec: dict[str, Any]) -> torch.nn.Module:
        import torchvision

        return drop_classifier(torchvision.models.get_model(spec["name"], weights=None))

    def pretrained(self, spec: dict[str, Any], weights: Path) -> torch.nn.Module:
        import torch
        import torchvision

        module = torchvision.models.get_model(spec["name"], weights=None)
        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return drop_classifier(module)
