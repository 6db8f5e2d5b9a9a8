"""`hf`: a Hugging Face transformer's last hidden states at the class name inside a sentence.

The protocol's BERT and GPT-2 take the FIRST sub-token of the class name (`token_rule: first`; the
authors hard-coded index 5 for BERT and 4 for GPT-2); the corrected default is the mean over exactly
the class name's sub-tokens (`mean`), excluding the template's words and the final ".".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.common import DEFAULT_TEMPLATE, fill_template, template_problems, token_rule_problems
from vlgen.models.registry import Source, TextFeatureModel, WeightsKind, register_source

if TYPE_CHECKING:
    import numpy as np
    import torch

PACKAGE_PREFIX = "python-package:"
DEFAULT_TOKEN_RULE = "mean"
TOKEN_RULES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "first": lambda states: states[0],
    "mean": lambda states: states.mean(dim=0),
}


def package_dir(module_name: str) -> Path:
    """Model directory shipped inside an installed package (`get_model_path()` or `MODEL_DIR`)."""
    module = importlib.import_module(module_name)
    getter = getattr(module, "get_model_path", None)
    path = getter() if getter is not None else getattr(module, "MODEL_DIR", None)
    if path is None:
        raise ValueError(f"package {module_name!r} has neither get_model_path() nor MODEL_DIR")
    return Path(path)


def is_local(name: str) -> bool:
    """Whether `name` is found without a download (decided without importing the package)."""
    return name.startswith(PACKAGE_PREFIX) or Path(name).is_dir()


def resolve_location(name: str, weights: Path | None) -> tuple[str, bool]:
    """Where to load from and whether it is local: weights-stage dir, package dir, local dir or hub id."""
    if weights is not None:
        return str(weights), True
    if name.startswith(PACKAGE_PREFIX):
        return str(package_dir(name.removeprefix(PACKAGE_PREFIX))), True
    return name, is_local(name)


def name_token_indices(offsets: list[tuple[int, int]], start: int, end: int) -> list[int]:
    """Tokens whose character span overlaps the class name's [start, end).

    Overlap (not containment) handles byte-level BPE tokens that start with the preceding space
    (GPT-2's "Ġtench"); special tokens have empty spans and never match.
    """
    return [i for i, (s, e) in enumerate(offsets) if s < e and s < end and e > start]


class HFTextModel(TextFeatureModel):
    """By default one sentence per class name, run alone (no padding), so the result does not depend on
    batching; training's frozen encoder embeds thousands of captions in padded batches instead (the padding
    is masked: a sentence's vector differs from its unbatched one by float rounding only)."""

    def __init__(self, module: Any, tokenizer: Any, template: str, token_rule: str, device: str):
        self.module = module.eval().to(device)
        self.tokenizer = tokenizer
        self.template = template
        self.reduce = TOKEN_RULES[token_rule]
        self.device = device
        self.dim = int(module.config.hidden_size)

    def _encode_batch(self, class_names: list[str]) -> list[torch.Tensor]:
        filled = [fill_template(self.template, name) for name in class_names]
        encoded = self.tokenizer([sentence for sentence, _, _ in filled], padding=len(filled) > 1,
                                 return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping").tolist()
        states = self.module(**encoded.to(self.device)).last_hidden_state
        rows = []
        for i, (name, (sentence, start, end)) in enumerate(zip(class_names, filled)):
            indices = name_token_indices([tuple(pair) for pair in offsets[i]], start, end)  # padding: empty spans
            if not indices:
                raise ValueError(f"class name {name!r} has no tokens in {sentence!r}")
            rows.append(self.reduce(states[i][indices]).float().cpu())
        return rows

    def encode(self, class_names: list[str], batch_size: int | None = None) -> np.ndarray:
        import torch

        # A tokenizer without a padding token (GPT-2's) can only run sentences alone.
        batch_size = (batch_size or 1) if self.tokenizer.pad_token is not None else 1
        # Batches of sentences of similar length: less padding to run (a third less on the scenes' captions).
        order = sorted(range(len(class_names)), key=lambda i: len(class_names[i]))
        rows: list[torch.Tensor] = [torch.zeros(0)] * len(order)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                for i, row in zip(batch, self._encode_batch([class_names[i] for i in batch])):
                    rows[i] = row
        return (torch.stack(rows) if rows else torch.zeros(0, self.dim)).numpy()


@register_source
class HFSource(Source):
    """`name`: hub id, local directory, or `python-package:<module>` (a model shipped in a package)."""

    name: ClassVar = "hf"
    modality: ClassVar = "text"
    required: ClassVar = ("name",)
    optional: ClassVar = ("template", "token_rule", "weights", "preprocess")
    defaults: ClassVar = {"template": DEFAULT_TEMPLATE, "token_rule": DEFAULT_TOKEN_RULE}

    def check(self, spec: dict[str, Any]) -> list[str]:
        problems = super().check(spec) + template_problems(spec) + token_rule_problems(spec, tuple(TOKEN_RULES))
        if spec.get("name") == PACKAGE_PREFIX:
            problems.append(f"field 'name': {PACKAGE_PREFIX!r} needs a module name after the colon")
        return problems

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        return "local" if is_local(spec["name"]) else "pretrained"

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> HFTextModel:
        import torch
        from transformers import AutoModel, AutoTokenizer

        location, local = resolve_location(spec["name"], weights)
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local)
        if not tokenizer.is_fast:
            raise ValueError(f"hf model {spec['name']!r}: a fast tokenizer is needed (character offsets)")
        module = AutoModel.from_pretrained(location, local_files_only=local, dtype=torch.float32)
        return HFTextModel(module, tokenizer, spec.get("template", DEFAULT_TEMPLATE),
                           spec.get("token_rule", DEFAULT_TOKEN_RULE), device)

    def feature_dim(self, spec: dict[str, Any]) -> int:
        from transformers import AutoConfig

        pin = spec.get("weights") or {}
        if "hub" in pin:  # pinned: read the weights stage's hub cache, never the network
            from vlgen.weights import HUB_CACHE

            return int(AutoConfig.from_pretrained(pin["hub"], revision=pin["revision"], cache_dir=HUB_CACHE,
                                                  local_files_only=True).hidden_size)
        location, local = resolve_location(spec["name"], None)
        return int(AutoConfig.from_pretrained(location, local_files_only=local).hidden_size)
