"""One `train_model` job: read the training data, load the frozen text encoder if the recipe uses it, train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vlgen.keys import content_key
from vlgen.training.data import load_training_data
from vlgen.training.recipes import get_recipe
from vlgen.training.trained_store import TrainedStore
from vlgen.training.trainer import Encoder, train


def text_encoder(spec: dict[str, Any], weights: Path | None, device: str) -> Encoder:
    """Sentences -> embeddings with the catalog's text model (its own source's code), frozen."""
    from vlgen.models.registry import get_source

    model = get_source(spec["source"]).load(spec, weights, device)
    return lambda sentences: np.asarray(model.encode(sentences), dtype=np.float32)


def run_training(payload: dict[str, Any], store_root: str | Path, dataset_root: str | Path, *,
                 dataset_spec: dict[str, Any] | None = None, text_weights: str | Path | None = None,
                 device: str = "auto") -> Path:
    """The manifest of the trained entry of `payload`, training it unless the store holds it complete."""
    from vlgen.extract import reading_spec, resolve_device

    store = TrainedStore(store_root)
    key = content_key(payload)
    if store.is_complete(key):
        return store.write_manifest(key)
    device = resolve_device(device)
    recipe = get_recipe(payload["recipe"]["kind"])
    preprocess = payload["training"]["preprocess"]
    data = load_training_data(reading_spec({"dataset": payload["data"]}, dataset_spec), Path(dataset_root),
                              preprocess["size"], preprocess["interpolation"], with_captions=recipe.uses_captions)
    encode = (text_encoder(payload["text_encoder"], Path(text_weights) if text_weights else None, device)
              if recipe.uses_text else None)
    return train(payload, data, store_root, encode=encode, device=device)
