"""`timm`: any timm architecture by name; default feature = the pooled pre-logits (num_classes=0)."""

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
        import timm

        # A `file` overlay makes timm load (and adapt: classifier dropped, BiT .npz converted) the
        # local file instead of downloading; the tag still selects the architecture's pretrained_cfg.
        return timm.create_model(_model_name(spec), pretrained=True, num_classes=0,
                                 pretrained_cfg_overlay={"file": str(weights)})
