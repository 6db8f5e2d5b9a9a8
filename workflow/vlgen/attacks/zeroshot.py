"""CLIP's zero-shot head: cosine similarity to the text tower's class prompts, times 100.

logits = 100 * normalise(image features) @ normalise(text features of template(class))^T, OpenAI's
zero-shot classifier (their logit scale is 100). The image features are the source's (`encode_image`,
unnormalised), so the head sits on the features the store holds. The CLIP comes from an `open_clip`
entry or a `checkpoint` entry of an `open_clip/<name>` architecture (the paper's CLIP).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

LOGIT_SCALE = 100.0


class ZeroShotHead(torch.nn.Module):
    """[B, D] image features -> [B, n_classes] cosine logits x 100."""

    def __init__(self, text_features: torch.Tensor):
        super().__init__()
        self.register_buffer("text", torch.nn.functional.normalize(text_features.float(), dim=-1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return LOGIT_SCALE * torch.nn.functional.normalize(features, dim=-1) @ self.text.T


def _open_clip_model(payload: dict[str, Any], weights: Path | None) -> tuple[torch.nn.Module, str]:
    """An `open_clip` entry: the whole CLIP (a random init rebuilds the same seeded model as the image tower)."""
    from vlgen.models.common import pretrained_tag, require_weights, seeded
    from vlgen.models.source_open_clip import create_clip

    if pretrained_tag(payload) is None:
        with seeded(payload.get("init_seed", 0)):
            return create_clip(payload, None), payload["name"]
    return create_clip(payload, require_weights("open_clip", payload, weights)), payload["name"]


def _checkpoint_model(payload: dict[str, Any], weights: Path | None) -> tuple[torch.nn.Module, str]:
    """A `checkpoint` entry of an `open_clip/<name>` architecture (the paper's CLIP): the file's whole CLIP."""
    from vlgen.models.architectures import Architecture
    from vlgen.models.source_checkpoint import load_network, require_file

    architecture = Architecture.parse(payload["architecture"])
    if architecture.library != "open_clip":
        raise ValueError(f"a zero-shot head needs a CLIP text tower: architecture {payload['architecture']!r} has none")
    return load_network(payload["architecture"], payload["format"], require_file(payload, weights)), architecture.name


# source -> (whole CLIP model, open_clip model name for its tokenizer)
CLIP_LOADERS: dict[str, Callable[[dict[str, Any], Path | None], tuple[torch.nn.Module, str]]] = {
    "open_clip": _open_clip_model, "checkpoint": _checkpoint_model}


def clip_text_features(payload: dict[str, Any], weights: Path | None, prompts: list[str]) -> torch.Tensor:
    """The CLIP text tower's embeddings of `prompts` ([P, D]), from the checkpoint of the image entry."""
    import open_clip

    if payload.get("layer") is not None:
        raise ValueError(f"a zero-shot head needs the image embedding: model entry sets layer {payload['layer']!r}")
    if payload.get("source") not in CLIP_LOADERS:
        raise ValueError(f"a zero-shot head needs a CLIP model (text tower): source {payload.get('source')!r} has "
                         f"none (zero-shot sources: {', '.join(CLIP_LOADERS)})")
    clip, name = CLIP_LOADERS[payload["source"]](payload, weights)
    tokens = open_clip.get_tokenizer(name)(prompts)
    with torch.no_grad():
        return clip.eval().encode_text(tokens).float()


def zeroshot_head(payload: dict[str, Any], weights: Path | None, class_names: list[str], template: str
                  ) -> ZeroShotHead:
    """The zero-shot head of an `open_clip` entry over `class_names` ('{}' in `template` is the name)."""
    from vlgen.models.common import fill_template

    prompts = [fill_template(template, name)[0] for name in class_names]
    return ZeroShotHead(clip_text_features(payload, weights, prompts))
