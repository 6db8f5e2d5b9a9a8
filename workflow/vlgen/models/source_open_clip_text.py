"""`open_clip_text`: the text tower of an open_clip checkpoint (CLIP-T in the protocol)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.common import (DEFAULT_INIT_SEED, DEFAULT_TEMPLATE, canonical_init, fill_template, pretrained_tag,
                                 require_weights, seeded, template_problems, token_rule_problems, weights_kind)
from vlgen.models.registry import Source, TextFeatureModel, WeightsKind, register_source
from vlgen.models.source_open_clip import OPEN_CLIP_DEFAULTS, OPEN_CLIP_FIELDS, create_clip, open_clip_problems

if TYPE_CHECKING:
    import numpy as np
    import torch

TOKEN_RULE = "eot"  # the only one: CLIP's text feature is the end-of-text token
BATCH = 256  # sentences per encode_text call; rows are independent (fixed 77-token context)


class OpenClipTextModel(TextFeatureModel):
    """encode_text of the filled template: the EOT token after ln_final, times text_projection."""

    def __init__(self, module: torch.nn.Module, tokenizer: Any, template: str, device: str):
        self.module = module.eval().to(device)
        self.tokenizer = tokenizer
        self.template = template
        self.device = device
        self.dim = int(module.text_projection.shape[-1])

    def encode(self, class_names: list[str], batch_size: int | None = None) -> np.ndarray:
        import torch

        sentences = [fill_template(self.template, name)[0] for name in class_names]
        batch = batch_size or BATCH
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(sentences), batch):
                tokens = self.tokenizer(sentences[start:start + batch]).to(self.device)
                chunks.append(self.module.encode_text(tokens).float().cpu())
        return torch.cat(chunks).numpy() if chunks else torch.zeros(0, self.dim).numpy()


@register_source
class OpenClipTextSource(Source):
    name: ClassVar = "open_clip_text"
    modality: ClassVar = "text"
    required: ClassVar = ("name",)
    optional: ClassVar = ("pretrained", "init_seed", "template", "token_rule", "weights", "preprocess") \
        + OPEN_CLIP_FIELDS
    defaults: ClassVar = {"template": DEFAULT_TEMPLATE, "token_rule": TOKEN_RULE, **OPEN_CLIP_DEFAULTS}

    def check(self, spec: dict[str, Any]) -> list[str]:
        return (super().check(spec) + open_clip_problems(spec) + template_problems(spec)
                + token_rule_problems(spec, (TOKEN_RULE,)))

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        return weights_kind(spec)

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        return canonical_init(super().canonical(spec))

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> OpenClipTextModel:
        import open_clip

        if pretrained_tag(spec) is None:
            with seeded(spec.get("init_seed", DEFAULT_INIT_SEED)):
                model = create_clip(spec, None)
        else:
            model = create_clip(spec, require_weights(self.name, spec, weights))
        return OpenClipTextModel(model, open_clip.get_tokenizer(spec["name"]),
                                 spec.get("template", DEFAULT_TEMPLATE), device)

    def feature_dim(self, spec: dict[str, Any]) -> int:
        import open_clip

        return int(open_clip.get_model_config(spec["name"])["embed_dim"])
