"""`checkpoint`: a published checkpoint file loaded into a named architecture via a key mapping.

    source: checkpoint
    architecture: torchvision/resnet50     # <library>/<name>, see architectures.py
    format: madry                          # key mapping, see checkpoint_formats.py
    weights: {url: ..., sha256: ...}       # the pin; the weights stage provides the file

The file is read without running code from it (safe_load.py), mapped, and loaded with every key
checked; the feature is the architecture's own (classifier removed) unless `layer` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.architectures import Architecture
from vlgen.models.checkpoint_formats import FORMATS, get_format
from vlgen.models.common import (NetworkSource, TorchImageModel, canonical_layer, feature_fn, require_local_file,
                                 seeded)
from vlgen.models.library_preprocess import library_problems
from vlgen.models.registry import WeightsKind, register_source

if TYPE_CHECKING:
    import torch

CLASSIFIER_FIELDS = frozenset({"weights", "format", "architecture"})


def load_network(architecture: str, format_name: str, weights: Path) -> torch.nn.Module:
    """The whole network (classifier included, sized from the checkpoint) with the file's weights."""
    from vlgen.models.safe_load import read_checkpoint

    arch, fmt = Architecture.parse(architecture), get_format(format_name)
    stored = fmt.stored_state(read_checkpoint(weights, fmt.allowed_globals), str(weights))
    state = fmt.map_keys(stored, str(weights))
    head = arch.classifier_name()
    rows = state.get(f"{head}.weight") if head else None
    # Keys the format declares absent keep a seeded init, so a rebuild is identical.
    with seeded(0):
        module = arch.build(None if rows is None else int(rows.shape[0]))
    fmt.load_into(module, state, str(weights), stored=list(stored))
    return module.eval()


def require_file(spec: dict[str, Any], weights: Path | None) -> Path:
    return require_local_file(
        weights, f"weights for checkpoint model {spec.get('architecture')!r} (pin {spec.get('weights')})",
        "run the workflow's download_weights rule or `vlgen weights pin`")


def classifier_problems(classifier: Any) -> list[str]:
    if classifier is None:
        return []
    if not isinstance(classifier, Mapping) or "weights" not in classifier or set(classifier) - CLASSIFIER_FIELDS:
        return [f"field 'classifier' must be a mapping with 'weights' and optionally 'format', 'architecture', "
                f"got {classifier!r}"]
    return []


@register_source
class CheckpointSource(NetworkSource):
    name: ClassVar = "checkpoint"
    required: ClassVar = ("architecture", "format", "weights")
    optional: ClassVar = ("layer", "pooling", "preprocess", "precision", "classifier")

    def check(self, spec: dict[str, Any]) -> list[str]:
        problems = super().check(spec)
        try:
            Architecture.parse(str(spec.get("architecture")))
        except ValueError as exc:
            problems.append(f"field 'architecture': {exc}")
        if spec.get("format") not in FORMATS:
            problems.append(f"field 'format' must be a registered checkpoint format ({', '.join(sorted(FORMATS))}), "
                            f"got {spec.get('format')!r}")
        return problems + classifier_problems(spec.get("classifier")) + library_problems(spec.get("preprocess"))

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        return "pretrained"

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        return canonical_layer(spec)  # no `pretrained`/`init_seed`: the checkpoint is the weights

    def architecture(self, spec: dict[str, Any]) -> torch.nn.Module:
        arch = Architecture.parse(spec["architecture"])
        return arch.lib.feature_network(arch.build())

    def pretrained(self, spec: dict[str, Any], weights: Path) -> torch.nn.Module:
        arch = Architecture.parse(spec["architecture"])
        return arch.lib.feature_network(load_network(spec["architecture"], spec["format"], weights))

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> TorchImageModel:
        module = self.pretrained(spec, require_file(spec, weights))
        return TorchImageModel(module, feature_fn(module, spec), spec["preprocess"], device)
