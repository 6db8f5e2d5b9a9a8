"""`timm`: any timm architecture by name; default feature = the pooled pre-logits (num_classes=0).

With `pretrained: <tag>` the weights are a local file in timm's own key names (a timm hub repo's
model.safetensors or .pth), loaded like the `checkpoint` source's `state_dict` format.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.common import NetworkSource
from vlgen.models.registry import register_source

if TYPE_CHECKING:
    import torch


def _model_name(spec: dict[str, Any]) -> str:
    """`name` plus the pretrained tag (`resnet50` + `tv_in1k` -> `resnet50.tv_in1k`); true = default tag."""
    tag = spec["pretrained"]
    return spec["name"] if tag is True else f"{spec['name']}.{tag}"


@register_source
class TimmSource(NetworkSource):
    """timm's global pool output with the classifier removed, i.e. forward_head(pre_logits=True).

    For BiT (resnetv2_50x1_bit) this is the protocol's pre-logits feature: the head conv is skipped.
    """

    name: ClassVar = "timm"

    def architecture(self, spec: dict[str, Any]) -> torch.nn.Module:
        import timm

        return timm.create_model(spec["name"], pretrained=False, num_classes=0)

    def pretrained(self, spec: dict[str, Any], weights: Path) -> torch.nn.Module:
        from vlgen.models.architectures import Architecture
        from vlgen.models.source_checkpoint import load_network

        # The file is read here (safely, every key checked), not by timm: a `file` overlay makes timm call
        # the model's custom loader where the config says custom_load (BiT: np.load, Google's .npz only),
        # which cannot read the safetensors timm's hub repos ship. The tag still selects the architecture.
        architecture = f"timm/{_model_name(spec)}"
        return Architecture.parse(architecture).lib.feature_network(load_network(architecture, "state_dict", weights))
