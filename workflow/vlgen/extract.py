"""Feature extraction: one model on one split of one dataset, into the store.

An entry that is already complete and verified costs no model work at all (not even loading
the model): only its manifest is rewritten. An interrupted extraction resumes from the last whole
chunk the store recorded.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vlgen.data import load_split
from vlgen.data.fingerprint import check_fingerprint
from vlgen.data.registry import SplitData, get_reader
from vlgen.gpus import claim_gpu
from vlgen.keys import content_key
from vlgen.models.registry import get_source
from vlgen.preprocess import build_transform
from vlgen.store import FeatureStore

log = logging.getLogger("vlgen.extract")

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PreprocessedImages(Dataset):
    """Samples `indices` of a split, decoded and preprocessed (in DataLoader workers)."""

    def __init__(self, split: SplitData, transform: Any, indices: range):
        self.split = split
        self.transform = transform
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.split.image(self.indices[i]))


def resolve_device(device: str) -> str:
    """The torch device of a GPU job; "auto" and "cuda" first claim a free GPU (vlgen.gpus), before CUDA starts."""
    if device in ("auto", "cuda"):
        claim_gpu()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def reading_spec(payload: dict[str, Any], dataset_spec: dict[str, Any] | None) -> dict[str, Any]:
    """The dataset spec to read with: the key's own, or a fuller one (an image key leaves out the class
    names some readers check) that agrees with the key on every field the key holds."""
    keyed = payload["dataset"]
    if dataset_spec is None:
        return keyed
    differ = sorted(k for k in keyed if dataset_spec.get(k) != keyed[k])
    if differ:
        raise ValueError(f"the dataset spec disagrees with the key payload on {', '.join(differ)}")
    return dataset_spec


def extract(payload: dict[str, Any], store_root: str | Path, dataset_root: str | Path, *,
            dataset_spec: dict[str, Any] | None = None, weights: str | Path | None = None, device: str = "auto",
            batch_size: int = 64, workers: int = 0, progress: bool = True) -> Path:
    """Make sure the store holds the features of `payload`; return the manifest's path.

    `dataset_spec` is what the dataset is read with (default: the payload's); data whose key holds a
    fingerprint (user-provided) must still be that copy, or nothing is extracted.
    """
    store = FeatureStore(store_root)
    key = content_key(payload)
    if store.is_complete(key):
        problems = store.verify(key)
        if not problems:
            log.info("entry %s is complete and verified: no model work", key)
            return store.write_manifest(key)
        log.warning("entry %s failed verification (%s): recomputing", key, "; ".join(problems))
        store.remove(key)
    dataset = reading_spec(payload, dataset_spec)
    check_fingerprint(payload["dataset"], dataset_root)
    device = resolve_device(device)
    source = get_source(payload["model"]["source"])
    weights_path = Path(weights) if weights else None
    if source.modality == "text":
        _extract_text(store, payload, dataset, source, Path(dataset_root), weights_path, device)
    else:
        _extract_images(store, payload, dataset, source, Path(dataset_root), weights_path, device, batch_size,
                        workers, progress)
    return store.manifest_path(key)


def _publish(writer: Any, started: float) -> None:
    writer.extra_attrs["extract_seconds"] = round(time.time() - started, 3)
    writer.finish()
    log.info("entry %s written: %d x %d (resumed from row %d)", writer.key, writer.n, writer.dim,
             writer.resumed_from_row)


def _extract_text(store: FeatureStore, payload: dict[str, Any], dataset: dict[str, Any], source: Any, root: Path,
                  weights: Path | None, device: str) -> None:
    started = time.time()
    names = get_reader(dataset["reader"]).class_names(dataset, root)
    model = source.load(payload["model"], weights, device)
    with torch.inference_mode():
        features = np.asarray(model.encode(names), dtype=np.float32)
    with store.writer(payload, np.arange(len(names)), names, model.dim, attrs={"device": device}) as writer:
        writer.append(features[writer.rows_done:])
        _publish(writer, started)


def _extract_images(store: FeatureStore, payload: dict[str, Any], dataset: dict[str, Any], source: Any,
                    root: Path, weights: Path | None, device: str, batch_size: int, workers: int,
                    progress: bool) -> None:
    from tqdm.auto import tqdm

    started = time.time()
    split = load_split(dataset, root, payload["split"])
    model = source.load(payload["model"], weights, device)
    dtype = PRECISIONS[payload["model"].get("precision", "fp32")]
    device_type = torch.device(device).type
    # Leaving the block on an error waits for the chunks in flight, so the rerun resumes after them.
    # model.preprocess is the resolved preprocessing (a `library` entry's values come from the library)
    attrs = {"device": device, "preprocess": model.preprocess}
    with store.writer(payload, split.labels, split.sample_ids, model.dim, attrs=attrs) as writer:
        remaining = range(writer.rows_done, len(split))
        if writer.rows_done:
            log.info("resuming entry %s at row %d of %d", writer.key, writer.rows_done, len(split))
        loader = DataLoader(PreprocessedImages(split, build_transform(model.preprocess), remaining),
                            batch_size=batch_size, num_workers=workers, pin_memory=device.startswith("cuda"))
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            # In a job's log file (not a terminal) the bar prints a line every 30 s rather than redrawing.
            bar = tqdm(loader, desc=f"extract {writer.key}", unit="batch", disable=not progress,
                       mininterval=0.1 if sys.stderr.isatty() else 30)
            for batch in bar:
                batch = batch.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                writer.append(model(batch).float().cpu().numpy())
        _publish(writer, started)
