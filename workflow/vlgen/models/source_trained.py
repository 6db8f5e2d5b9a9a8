"""`trained`: a network of the controlled experiment (vlgen.training), as the training stage left it.

The entry's `training` field is the whole training payload, so the feature key holds the training key:
retraining differently re-extracts. A recipe that trains reads `weights.safetensors` from the published
directory `{store}/trained/{key}` (the workflow passes it as the weights); `random` is the seeded
initialisation itself and needs no file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from vlgen.models.common import TorchImageModel
from vlgen.models.registry import Source, WeightsKind, register_source


@register_source
class TrainedSource(Source):
    """The architecture of the training payload, initialised from its seed, with the trained weights."""

    name: ClassVar = "trained"
    modality: ClassVar = "image"
    required: ClassVar = ("training", "preprocess")
    optional: ClassVar = ("precision",)

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        from vlgen.training.recipes import get_recipe

        return "local" if get_recipe(spec["training"]["recipe"]["kind"]).trains else "random-init"

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> TorchImageModel:
        from vlgen.training.architectures import build_network

        training = spec["training"]
        network = build_network(training["architecture"], int(training["seed"]))
        if self.weights_kind(spec) == "local":
            network.load_state_dict(_trained_state(training, weights))
        return TorchImageModel(network, network, spec["preprocess"], device)

    def feature_dim(self, spec: dict[str, Any]) -> int:
        import torch

        from vlgen.training.architectures import build_network

        with torch.device("meta"):
            return int(build_network(spec["training"]["architecture"], int(spec["training"]["seed"])).dim)


def _trained_state(training: dict[str, Any], weights: Path | None) -> dict[str, Any]:
    """The published weights of exactly this training payload (a complete entry, same key)."""
    from safetensors.torch import load_file

    from vlgen.keys import content_key
    from vlgen.training.trained_store import COMPLETE, PAYLOAD, WEIGHTS

    key = content_key(training)
    if weights is None or not (Path(weights) / COMPLETE).is_file():
        raise FileNotFoundError(f"trained weights of training key {key} are not present (got weights={weights!r}); "
                                "run the train_model rule (or `vlgen train`) first")
    published = content_key(json.loads((Path(weights) / PAYLOAD).read_text()))
    if published != key:
        raise ValueError(f"{weights} holds training key {published}, not {key}")
    return load_file(str(Path(weights) / WEIGHTS))
