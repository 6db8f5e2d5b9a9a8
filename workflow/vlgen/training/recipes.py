"""Recipe kinds: what supervision a network gets (none, labels, captions, label names) and its loss.

Every recipe trains the same network with the same optimiser, steps, batch and augmentation (the
trainer's); a recipe only adds heads and a loss, and says whether it trains at all and which sentences
the frozen text encoder must embed. Its fields (with defaults written in) are part of the training key;
its name is not. torch is imported inside methods: config validation asks `trains`/`uses_text` cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch


@dataclass
class Targets:
    """What the losses compare with, for the whole training split (rows align with the images).

    `caption_ids[i, j]` indexes `sentences` (the unique captions) for caption j of image i, -1 past
    `caption_counts[i]`; `text` holds the frozen encoder's embedding of each of the recipe's sentences.
    """

    labels: torch.Tensor
    n_classes: int
    caption_ids: torch.Tensor | None = None
    caption_counts: torch.Tensor | None = None
    text: torch.Tensor | None = None


class Recipe:
    """One kind of supervision; subclasses register themselves in RECIPES by `kind`."""

    kind: ClassVar[str]
    trains: ClassVar[bool] = True
    uses_text: ClassVar[bool] = False
    uses_captions: ClassVar[bool] = False
    defaults: ClassVar[Mapping[str, Any]] = {}

    def canonical(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The recipe with defaults written in (what the key hashes); names unknown fields."""
        extra = sorted(set(fields) - {"kind"} - set(self.defaults))
        if extra:
            allowed = ", ".join(sorted(self.defaults)) or "no other field"
            raise ValueError(f"recipe kind {self.kind!r} does not use {', '.join(map(repr, extra))} "
                             f"(it reads: {allowed})")
        return {**self.defaults, **fields, "kind": self.kind}

    def sentences(self, fields: Mapping[str, Any], class_names: list[str], captions: list[str]) -> list[str]:
        """What the frozen text encoder embeds into `Targets.text` (nothing for recipes without text)."""
        return []

    def heads(self, fields: Mapping[str, Any], dim: int, targets: Targets) -> torch.nn.Module:
        """The trainable parts on top of the network's [B, dim] embedding."""
        from torch import nn

        return nn.ModuleDict()

    def loss(self, fields: Mapping[str, Any], heads: torch.nn.Module, features: torch.Tensor,
             index: torch.Tensor, targets: Targets, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError(f"recipe kind {self.kind!r} does not train")


RECIPES: dict[str, Recipe] = {}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    if cls.kind in RECIPES:
        raise ValueError(f"recipe kind {cls.kind!r} is registered twice")
    RECIPES[cls.kind] = cls()
    return cls


def get_recipe(kind: str) -> Recipe:
    try:
        return RECIPES[kind]
    except KeyError:
        raise KeyError(f"unknown recipe kind {kind!r} (registered: {', '.join(sorted(RECIPES))})") from None


def training_recipe(kind: str) -> Recipe:
    """The recipe of a training job; an error for a kind that does not train (nothing to run)."""
    recipe = get_recipe(kind)
    if not recipe.trains:
        raise ValueError(f"recipe kind {kind!r} does not train (its network is the seeded initialisation)")
    return recipe


def _temperature(fields: Mapping[str, Any]) -> torch.nn.Module:
    """CLIP's logit scale as log(1/T), trained only with `learn_temperature` (capped at 100 as in CLIP)."""
    import torch
    from torch import nn

    class Temperature(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / fields["temperature"])),
                                          requires_grad=bool(fields["learn_temperature"]))

        def forward(self) -> torch.Tensor:
            return 1.0 / self.log_scale.clamp(max=math.log(100.0)).exp()

    return Temperature()


@register_recipe
class RandomRecipe(Recipe):
    """No training: the seeded random initialisation itself (the baseline every recipe starts from)."""

    kind: ClassVar = "random"
    trains: ClassVar = False


@register_recipe
class LabelsRecipe(Recipe):
    """Cross-entropy of a linear classifier on the class labels."""

    kind: ClassVar = "labels"

    def heads(self, fields: Mapping[str, Any], dim: int, targets: Targets) -> torch.nn.Module:
        from torch import nn

        return nn.ModuleDict({"classifier": nn.Linear(dim, targets.n_classes)})

    def loss(self, fields: Mapping[str, Any], heads: torch.nn.Module, features: torch.Tensor,
             index: torch.Tensor, targets: Targets, generator: torch.Generator) -> torch.Tensor:
        from vlgen.training.losses import label_cross_entropy

        return label_cross_entropy(heads["classifier"](features), targets.labels[index].to(features.device))


@register_recipe
class CaptionsRecipe(Recipe):
    """CLIP-style symmetric InfoNCE against a frozen sentence encoder, through trained projections of
    both sides; each step draws one of each image's captions (from the epoch's seeded generator)."""

    kind: ClassVar = "captions"
    uses_text: ClassVar = True
    uses_captions: ClassVar = True
    defaults: ClassVar = {"projection_dim": 128, "temperature": 0.07, "learn_temperature": False}

    def sentences(self, fields: Mapping[str, Any], class_names: list[str], captions: list[str]) -> list[str]:
        return list(captions)

    def heads(self, fields: Mapping[str, Any], dim: int, targets: Targets) -> torch.nn.Module:
        from torch import nn

        width = int(fields["projection_dim"])
        return nn.ModuleDict({"image": nn.Linear(dim, width), "text": nn.Linear(targets.text.shape[1], width),
                              "temperature": _temperature(fields)})

    def loss(self, fields: Mapping[str, Any], heads: torch.nn.Module, features: torch.Tensor,
             index: torch.Tensor, targets: Targets, generator: torch.Generator) -> torch.Tensor:
        import torch

        from vlgen.training.losses import symmetric_info_nce

        pick = (torch.rand(len(index), generator=generator) * targets.caption_counts[index]).long()
        ids = targets.caption_ids[index, pick]
        text = heads["text"](targets.text[ids].to(features.device))
        return symmetric_info_nce(heads["image"](features), text, ids.to(features.device), heads["temperature"]())


@register_recipe
class LabelNamesRecipe(Recipe):
    """Cross-entropy over the cosine similarity between the projected image embedding and the frozen
    embeddings of the C class prompts: the labels' information, delivered through language."""

    kind: ClassVar = "label-names"
    uses_text: ClassVar = True
    defaults: ClassVar = {"template": "a photo of a {}.", "temperature": 0.07, "learn_temperature": False}

    def canonical(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        out = super().canonical(fields)
        if not isinstance(out["template"], str) or out["template"].count("{}") != 1:
            raise ValueError(f"recipe field 'template' must contain '{{}}' exactly once, got {out['template']!r}")
        return out

    def sentences(self, fields: Mapping[str, Any], class_names: list[str], captions: list[str]) -> list[str]:
        from vlgen.models.common import fill_template

        return [fill_template(fields["template"], name)[0] for name in class_names]

    def heads(self, fields: Mapping[str, Any], dim: int, targets: Targets) -> torch.nn.Module:
        from torch import nn

        return nn.ModuleDict({"image": nn.Linear(dim, targets.text.shape[1]), "temperature": _temperature(fields)})

    def loss(self, fields: Mapping[str, Any], heads: torch.nn.Module, features: torch.Tensor,
             index: torch.Tensor, targets: Targets, generator: torch.Generator) -> torch.Tensor:
        from vlgen.training.losses import label_name_cross_entropy

        return label_name_cross_entropy(heads["image"](features), targets.text.to(features.device),
                                        targets.labels[index].to(features.device), heads["temperature"]())
