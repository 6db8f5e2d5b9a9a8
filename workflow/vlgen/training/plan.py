"""The config section `controlled`, expanded into training payloads and ordinary catalog entries.

Each (recipe, seed) becomes a run model `{recipe}-s{seed}` of source `trained` whose `training` field is
the training payload, so the model's feature key holds the training key. The payload holds what
determines the trained weights: trainer version, the recipe's fields with defaults written in (not its
name), the architecture, the seed and, for a recipe that trains, the optimisation settings and the
training data's payload, and for a recipe that uses text, the frozen encoder's payload. No torch here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vlgen.training import TRAINER_VERSION
from vlgen.training.architectures import canonical_architecture
from vlgen.training.recipes import get_recipe

FAMILY = "controlled"
SOURCE = "trained"
# Written into every training payload (config.schema.yaml documents the same values).
TRAINING_DEFAULTS: dict[str, Any] = {"epochs": 8, "batch_size": 64, "optimizer": "adamw", "lr": 2.0e-3,
                                     "weight_decay": 1.0e-4, "crop_scale": [0.6, 1.0]}
# The frozen encoder embeds whole sentences (captions, class prompts): its template is the sentence itself.
SENTENCE_TEMPLATE = "{}"


@dataclass(frozen=True)
class ControlledModel:
    """One run model of the controlled experiment."""

    name: str
    recipe: str
    seed: int
    entry: dict[str, Any]


def model_name(recipe: str, seed: int) -> str:
    return f"{recipe}-s{seed}"


def recipe_fields(section: Mapping[str, Any], recipe: str) -> dict[str, Any]:
    """The recipe's fields with defaults written in; ValueError names the recipe."""
    fields = dict(section["recipes"][recipe])
    try:
        return get_recipe(fields["kind"]).canonical(fields)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"controlled.recipes.{recipe}: {exc.args[0]}") from None


def training_payload(section: Mapping[str, Any], recipe: str, seed: int, data: Callable[[], dict[str, Any]],
                     text_encoder: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The training key's payload; `data` and `text_encoder` are asked only when the recipe needs them."""
    fields = recipe_fields(section, recipe)
    kind = get_recipe(fields["kind"])
    try:
        architecture = canonical_architecture(section["architecture"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"controlled.architecture: {exc.args[0]}") from None
    payload: dict[str, Any] = {"trainer_version": TRAINER_VERSION, "recipe": fields, "architecture": architecture,
                               "seed": seed}
    if kind.trains:
        payload["training"] = {**TRAINING_DEFAULTS, **section.get("training", {}), "preprocess": section["preprocess"]}
        payload["data"] = data()
    if kind.uses_text:
        payload["text_encoder"] = {**text_encoder(), "template": SENTENCE_TEMPLATE}
    return payload


def expand(section: Mapping[str, Any], data: Callable[[], dict[str, Any]],
           text_encoder: Callable[[], dict[str, Any]]) -> list[ControlledModel]:
    """Every (recipe, seed) of the section, recipes in config order, then seeds."""
    models = []
    for recipe in section["recipes"]:
        for seed in section["seeds"]:
            entry = {"source": SOURCE, "family": FAMILY, "description": f"recipe {recipe}, seed {seed}",
                     "training": training_payload(section, recipe, seed, data, text_encoder),
                     "preprocess": dict(section["preprocess"])}
            models.append(ControlledModel(model_name(recipe, seed), recipe, seed, entry))
    return models
