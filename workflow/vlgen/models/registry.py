"""The model-source registry: a catalog entry names a source; the source knows how to load it.

Sources register themselves with `@register_source`; adding a source is adding one module to
`vlgen.models` (imported by its `__init__`). Source modules import torch and friends inside
`load`, never at import time, so that config validation and CPU jobs start fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

Modality = Literal["image", "text"]
# What `load` needs as weights: nothing ("n/a"), a seeded random init, files found without a download
# ("local"), or a file the weights stage provides ("pretrained").
WeightsKind = Literal["n/a", "random-init", "local", "pretrained"]
# Fields every catalog entry may carry whatever its source (all but `source` stay out of the key).
COMMON_FIELDS = frozenset({"source", "family", "description", "transfer_augment", "expected_top1", "factors",
                           "rsa_std"})


class ImageFeatureModel(ABC):
    """A loaded image model: preprocessed batch [B, 3, H, W] -> features [B, D]."""

    dim: int
    preprocess: dict[str, Any]

    @abstractmethod
    def __call__(self, images: Any) -> Any:
        """Features of a batch (a torch tensor on the model's device), shape [B, dim]."""


class TextFeatureModel(ABC):
    """A loaded text model: class names -> one feature vector per class name."""

    dim: int

    @abstractmethod
    def encode(self, class_names: list[str], batch_size: int | None = None) -> Any:
        """float32 numpy array [len(class_names), dim]; `batch_size` (None: the source's own) is how many
        sentences run at once, for callers with thousands (training's frozen caption encoder)."""


class Source(ABC):
    """How to turn a catalog entry (its key payload) into a feature model."""

    name: ClassVar[str]
    modality: ClassVar[Modality]
    required: ClassVar[tuple[str, ...]] = ()
    # The other fields the source reads; None accepts anything. A field the source ignores would still
    # enter the key (and hide a typo or a misplaced setting), so declared sources report it.
    optional: ClassVar[tuple[str, ...] | None] = None
    # The value `load` uses when a field is absent (or null). `canonical` writes them into the key
    # payload, so `token_rule: mean` and no token_rule share a key, and a changed default changes keys.
    defaults: ClassVar[Mapping[str, Any]] = {}
    # The software environment its models run in: "main" (the package's own dependencies) or "tf" (the
    # `[tf]` extra, kept out of the main environment); the workflow picks the extraction's python by it.
    environment: ClassVar[str] = "main"

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The entry with every default written in: one spelling per model, what the key hashes."""
        filled = dict(spec)
        for field, value in self.defaults.items():
            if filled.get(field) is None:
                filled[field] = value
        return filled

    def check(self, spec: dict[str, Any]) -> list[str]:
        """Problems with a catalog entry, phrased with the field name; empty when fine."""
        problems = [f"source {self.name!r} needs field {field!r}" for field in self.required if field not in spec]
        if self.optional is not None:
            known = COMMON_FIELDS | set(self.required) | set(self.optional)
            problems += [f"source {self.name!r} does not use field {field!r} (it reads: {', '.join(sorted(known))})"
                         for field in sorted(spec) if field not in known]
        return problems

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        """Which weights `load` needs for this entry (the weights stage and `vlgen models` ask)."""
        return "n/a"

    @abstractmethod
    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> ImageFeatureModel | TextFeatureModel:
        """Build the model described by `spec` (a model key payload), in eval mode on `device`."""

    def feature_dim(self, spec: dict[str, Any]) -> int:
        """Width of the features; the default builds the model on the meta device (no memory)."""
        import torch

        with torch.device("meta"):
            return self.load(spec, None, "meta").dim


SOURCES: dict[str, Source] = {}


def register_source(cls: type[Source]) -> type[Source]:
    if cls.name in SOURCES:
        raise ValueError(f"model source {cls.name!r} is registered twice")
    SOURCES[cls.name] = cls()
    return cls


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown model source {name!r} (registered: {', '.join(sorted(SOURCES))})") from None
