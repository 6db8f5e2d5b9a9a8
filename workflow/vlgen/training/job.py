"""One `train_model` job: read the training data, load the frozen text encoder if the recipe uses it, train."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.keys import content_key
from vlgen.training.data import load_training_data
from vlgen.training.recipes import training_recipe
from vlgen.training.trained_store import TrainedStore, replace_atomic
from vlgen.training.trainer import Encoder, train

# Captions per forward pass of the frozen encoder: padded batches run ~2x faster than one at a time on a CPU.
SENTENCE_BATCH = 64


def text_encoder(spec: dict[str, Any], weights: Path | None, device: str) -> Encoder:
    """Sentences -> embeddings with the catalog's text model (its own source's code), frozen."""
    from vlgen.models.registry import get_source

    model = get_source(spec["source"]).load(spec, weights, device)
    return lambda sentences: np.asarray(model.encode(sentences, batch_size=SENTENCE_BATCH), dtype=np.float32)


def cached_encoder(store_root: str | Path, spec: dict[str, Any], weights: Path | None, device: str) -> Encoder:
    """`text_encoder`, with each list of sentences embedded once per store: the seeds of a recipe share it.

    The file is named by the encoder's payload and the sentences and written atomically, under a lock: jobs
    that start together (the seeds of one recipe) wait for the first instead of all computing it. The
    encoder is loaded only on a miss.
    """

    def encode(sentences: list[str]) -> np.ndarray:
        key = content_key({"encoder": spec, "sentences": sentences})
        path = TrainedStore(store_root).dir / "sentences" / f"{key}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the job is killed
            if not path.is_file():
                embeddings = text_encoder(spec, weights, device)(sentences)
                replace_atomic(path, lambda tmp: _save_array(tmp, embeddings))
            return np.load(path)

    return encode


def _save_array(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as fh:  # a file object: np.save would add ".npy" to a temporary name
        np.save(fh, array)


def run_training(payload: dict[str, Any], store_root: str | Path, dataset_root: str | Path, *,
                 dataset_spec: dict[str, Any] | None = None, text_weights: str | Path | None = None,
                 device: str = "auto") -> Path:
    """The manifest of the trained entry of `payload`, training it unless the store holds it complete."""
    from vlgen.extract import reading_spec, resolve_device

    recipe = training_recipe(payload["recipe"]["kind"])
    store = TrainedStore(store_root)
    key = content_key(payload)
    if store.is_complete(key):
        return store.write_manifest(key)
    device = resolve_device(device)
    preprocess = payload["training"]["preprocess"]
    data = load_training_data(reading_spec({"dataset": payload["data"]}, dataset_spec), Path(dataset_root),
                              preprocess["size"], preprocess["interpolation"], with_captions=recipe.uses_captions)
    encode = (cached_encoder(store_root, payload["text_encoder"], Path(text_weights) if text_weights else None, device)
              if recipe.uses_text else None)
    return train(payload, data, store_root, encode=encode, device=device)
