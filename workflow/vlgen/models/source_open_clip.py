"""`open_clip` (image tower): features = `encode_image` without normalisation (the attention-pool
output for CLIP RN50, 1024-d). The protocol runs CLIP in fp32."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.common import NetworkSource, pretrained_tag
from vlgen.models.registry import register_source

if TYPE_CHECKING:
    import torch

OPEN_CLIP_FIELDS = ("image_size",)
OPEN_CLIP_DEFAULTS = {"image_size": None}  # null: the size the model config was built for


def create_clip(spec: dict[str, Any], weights: Path | None) -> torch.nn.Module:
    """The whole CLIP model (both towers), so that `open_clip` and `open_clip_text` entries with the
    same name, tag and init_seed are the same checkpoint, also when randomly initialised."""
    import open_clip
    import torch

    tag = pretrained_tag(spec)
    # Loading a file bypasses open_clip's tag handling: reapply the tag's activation (OpenAI's
    # checkpoints were trained with QuickGELU).
    quick_gelu = bool(tag) and open_clip.get_pretrained_cfg(spec["name"], tag).get("quick_gelu", False)
    return open_clip.create_model(
        spec["name"], pretrained=None if weights is None else str(weights),
        force_image_size=spec.get("image_size"), force_quick_gelu=quick_gelu,
        pretrained_text=False,  # a random init must not fetch a HF text tower
        device=torch.get_default_device())


def open_clip_problems(spec: dict[str, Any]) -> list[str]:
    if spec.get("pretrained") is True:
        return ["field 'pretrained' must name an open_clip tag (e.g. openai) or be null"]
    return []


@register_source
class OpenClipSource(NetworkSource):
    """The image tower `model.visual`; `layer` names are relative to it."""

    name: ClassVar = "open_clip"
    optional: ClassVar = NetworkSource.optional + OPEN_CLIP_FIELDS
    defaults: ClassVar = OPEN_CLIP_DEFAULTS

    def check(self, spec: dict[str, Any]) -> list[str]:
        return super().check(spec) + open_clip_problems(spec)

    def architecture(self, spec: dict[str, Any]) -> torch.nn.Module:
        return create_clip(spec, None).visual

    def pretrained(self, spec: dict[str, Any], weights: Path) -> torch.nn.Module:
        return create_clip(spec, weights).visual
