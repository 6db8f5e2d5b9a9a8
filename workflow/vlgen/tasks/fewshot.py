"""Few-shot prototype classification on cached features (PROTOCOL.md, "Few-shot").

Arrays in, numbers out: the callers read the feature store and write the tables. Pure numpy, so
the evaluation runs (and is tested) without torch.

Protocol: for N shots, each class's prototype is the mean of the L2-normalised features of the
first N train images of that class in a random permutation of the whole train split; every test
image is predicted as argmax of `f_test @ prototypes.T` with `f_test` L2-normalised; accuracy is
taken over the whole test split. Presets:

- `paper`: the prototype (a mean of unit vectors) is NOT re-normalised, as in the authors' code,
  so a class whose support images disagree gets a shorter prototype and lower scores;
- `default`: the prototype is re-normalised to unit length, i.e. a cosine-similarity classifier.

With N = 1 every prototype is already a unit vector and the presets coincide.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

PRESETS = ("paper", "default")
# The spread over trials: the authors' code reported numpy's default std (ddof=0); the corrected
# default is the sample std (ddof=1). Config `fewshot.ddof` maps each preset to its ddof.
DDOF_OF_PRESET = {"paper": 0, "default": 1}
SUMMARY_KEYS = ("model", "dataset", "preset", "shots")
# Test rows scored per matmul: 8192 x 1000 classes of float32 scores is 32 MiB.
BATCH_ROWS = 8192


def episode_rng(seed: int, dataset: str, shots: int, trial: int) -> np.random.Generator:
    """The generator for one episode, a function of (seed, dataset, N, trial) only.

    The model is deliberately not an input: every model is evaluated on the same support sets, so
    differences between models are not sampling noise. (The authors' code used no seed at all.)
    """
    if min(seed, shots, trial) < 0:
        raise ValueError(f"seed, shots and trial must be >= 0, got {seed}, {shots}, {trial}")
    # Python's hash() of a str is salted per process (PYTHONHASHSEED); crc32 is the same everywhere.
    name_hash = zlib.crc32(dataset.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, name_hash, shots, trial]))


def sample_support(labels: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into the train split of one episode's support set.

    Per class, the first `shots` images of ONE random permutation of the whole train split
    (PROTOCOL.md), which is what the authors' shuffled-dataset loop picked. A class with fewer
    than `shots` train images contributes all of them (its prototype averages fewer images).
    The indices come grouped by class (ascending), in permutation order within a class.
    """
    labels = _as_labels(labels, "labels")
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    order = rng.permutation(labels.size)
    # A stable sort by label keeps permutation order within each class, so the position of an
    # index inside its class block is its rank in the permutation among that class's images.
    by_class = order[np.argsort(labels[order], kind="stable")]
    sorted_labels = labels[by_class]
    block_start = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank_in_class = np.arange(by_class.size) - block_start
    return by_class[rank_in_class < shots]


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32 (a new array; the input is not modified).

    Squared norms come from einsum to avoid a second [N, D] temporary on 50,000 x 2048 inputs.
    An all-zero row stays zero instead of becoming NaN.
    """
    rows = np.asarray(features, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    return rows / np.maximum(norms, np.finfo(np.float32).tiny)[:, None]


def prototypes(
    features: np.ndarray,
    labels: np.ndarray,
    support_idx: np.ndarray,
    n_classes: int,
    preset: str,
) -> np.ndarray:
    """Class prototypes [n_classes, D] (float32) from the support rows of `features`.

    Prototype = mean of the L2-normalised support features of the class; re-normalised to unit
    length under `default`, left as is under `paper` (the authors' code). A class without any
    support image gets a zero prototype: it scores 0 for every test image, so its test images
    count as errors instead of crashing the run.
    """
    _check_preset(preset)
    labels = _as_labels(labels, "labels")
    support = l2_normalise(np.asarray(features)[support_idx])
    support_labels = labels[support_idx]
    sums = np.zeros((n_classes, support.shape[1]), dtype=np.float32)
    np.add.at(sums, support_labels, support)
    counts = np.bincount(support_labels, minlength=n_classes)
    means = sums / np.maximum(counts, 1)[:, None].astype(np.float32)
    if preset == "default":
        return l2_normalise(means)
    return means


def accuracy(test_unit: np.ndarray, test_labels: np.ndarray, class_prototypes: np.ndarray) -> float:
    """Fraction of test rows whose argmax of `test_unit @ prototypes.T` is their label.

    `test_unit` must already be L2-normalised (done once per split, not per trial). Scores are
    computed in row batches so memory stays at BATCH_ROWS x n_classes whatever the split size.
    """
    correct = 0
    for start in range(0, len(test_labels), BATCH_ROWS):
        batch = slice(start, start + BATCH_ROWS)
        predicted = (test_unit[batch] @ class_prototypes.T).argmax(axis=1)
        correct += int(np.count_nonzero(predicted == test_labels[batch]))
    return correct / len(test_labels)


def fewshot_trials(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    *,
    shots: Sequence[int],
    trials: int,
    seed: int,
    dataset: str,
    presets: Sequence[str],
) -> list[dict[str, Any]]:
    """One row `{"preset", "shots", "trial", "accuracy"}` per preset, N and trial (0-based).

    All presets of a trial share one support set, so their difference is the preset alone.
    Labels are ints 0..C-1 with C = max label of both splits + 1.
    """
    for preset in presets:
        _check_preset(preset)
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    train_labels = _as_labels(train_labels, "train_labels")
    test_labels = _as_labels(test_labels, "test_labels")
    _check_rows(train_features, train_labels, "train")
    _check_rows(test_features, test_labels, "test")
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    test_unit = l2_normalise(test_features)
    rows = []
    for n_shots in shots:
        for trial in range(trials):
            rng = episode_rng(seed, dataset, n_shots, trial)
            support = sample_support(train_labels, n_shots, rng)
            for preset in presets:
                protos = prototypes(train_features, train_labels, support, n_classes, preset)
                rows.append(
                    {
                        "preset": preset,
                        "shots": int(n_shots),
                        "trial": trial,
                        "accuracy": accuracy(test_unit, test_labels, protos),
                    }
                )
    return rows


def trial_stats(values: Iterable[float], ddof: int = 1) -> dict[str, float | int]:
    """Mean, std, standard error and count of per-trial accuracies, and the ddof of the std.

    ddof=1 is the sample standard deviation, the usual estimate of the spread of a new trial;
    ddof=0 is numpy's default, what the authors reported (std * sqrt((n - 1) / n) of the former).
    sem = std / sqrt(n) either way. With n <= ddof trials std and sem are NaN rather than a
    misleading 0.
    """
    acc = np.asarray(list(values), dtype=np.float64)
    n = int(acc.size)
    std = float(acc.std(ddof=ddof)) if n > ddof else math.nan
    return {"mean": float(acc.mean()), "std": std, "sem": std / math.sqrt(n), "n_trials": n, "ddof": ddof}


def summarise(rows: Iterable[Mapping[str, Any]], by: Sequence[str] = SUMMARY_KEYS,
              ddof: Mapping[str, int] = DDOF_OF_PRESET) -> list[dict[str, Any]]:
    """Per group of `by` keys (those that every row has), the `trial_stats` of its accuracies.

    `ddof` maps a row's preset to the ddof of its std (rows without a preset: 1). Groups come out
    in order of first appearance. Keys absent from the rows are skipped, so the raw output of
    `fewshot_trials` (no model or dataset yet) can be summarised too.
    """
    rows = list(rows)
    keys = [key for key in by if all(key in row for row in rows)]
    groups: dict[tuple[Any, ...], list[float]] = {}
    presets: dict[tuple[Any, ...], str | None] = {}
    for row in rows:
        group = tuple(row[key] for key in keys)
        groups.setdefault(group, []).append(float(row["accuracy"]))
        presets[group] = row.get("preset")
    return [{**dict(zip(keys, group)), **trial_stats(values, ddof.get(presets[group], 1))}
            for group, values in groups.items()]


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise ValueError(f"unknown few-shot preset {preset!r}; known: {', '.join(PRESETS)}")


def _as_labels(labels: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name} must be a non-empty 1-d integer array, got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0:
        raise ValueError(f"{name} must be >= 0 (classes 0..C-1), got min {labels.min()}")
    return labels


def _check_rows(features: np.ndarray, labels: np.ndarray, split: str) -> None:
    if np.ndim(features) != 2 or len(features) != len(labels):
        raise ValueError(
            f"{split}: features must be [n, D] with n = len(labels) = {len(labels)},"
            f" got {np.shape(features)}"
        )
