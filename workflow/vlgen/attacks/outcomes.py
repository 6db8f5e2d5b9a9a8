"""Per-image attack outcomes on disk (one .npz per job) and the rows of results/{run}/tables/attacks.csv.

numpy and pandas only: the table job does not import torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlgen.attacks.success import mean_perturbation, success_rates

TABLE_COLUMNS = ("model", "dataset", "head", "norm", "targeted", "epsilon", "success_rate", "success_rate_raw",
                 "clean_accuracy", "n_images", "mean_perturbation", "feature_key")


def save_outcome(path: str | Path, *, epsilons: np.ndarray, broken: np.ndarray, norms: np.ndarray,
                 labels: np.ndarray, clean_predictions: np.ndarray, indices: np.ndarray,
                 targets: np.ndarray | None, meta: dict[str, Any]) -> None:
    """Write one job's outcomes; `meta` (model, dataset, head, norm, mode, feature_key, ...) as JSON.

    Written to a temporary name and renamed, so a killed job leaves no file that looks complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez_compressed(partial, epsilons=epsilons, broken=broken, norms=norms, labels=labels,
                        clean_predictions=clean_predictions, indices=indices,
                        targets=np.full(len(labels), -1) if targets is None else targets,
                        meta=np.array(json.dumps(meta)))
    partial.replace(path)


def load_outcome(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "meta"}
        return arrays, json.loads(str(data["meta"]))


def table_rows(path: str | Path) -> list[dict[str, Any]]:
    """One row per epsilon of one job: cumulative and raw success rates, clean top-1, mean perturbation."""
    arrays, meta = load_outcome(path)
    cumulative, raw = success_rates(arrays["broken"], arrays["epsilons"])
    perturbation = mean_perturbation(arrays["norms"], arrays["broken"])
    clean = float(np.mean(arrays["clean_predictions"] == arrays["labels"]))
    return [{"model": meta["model"], "dataset": meta["dataset"], "head": meta["head"], "norm": meta["norm"],
             "targeted": meta["mode"] == "targeted", "epsilon": float(eps), "success_rate": float(c),
             "success_rate_raw": float(r), "clean_accuracy": clean, "n_images": int(arrays["broken"].shape[1]),
             "mean_perturbation": float(p), "feature_key": meta["feature_key"]}
            for eps, c, r, p in zip(arrays["epsilons"], cumulative, raw, perturbation)]


def attack_table(paths: list[str | Path]) -> pd.DataFrame:
    """attacks.csv from every job's outcome file, sorted by epsilon within a job."""
    rows = [row for path in paths for row in sorted(table_rows(path), key=lambda r: r["epsilon"])]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
