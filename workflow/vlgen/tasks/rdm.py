"""Representational dissimilarity matrices over a dataset's classes (PROTOCOL.md, "RSA").

Arrays in, arrays out (numpy/scipy only): callers read the store and write `.npz` files.

Image models: every image's feature is L2-normalised, then per class k the mean mu_k, the std s_k
and the count n_k give the Welch t-statistic norm

    RDM_ij = || (mu_i - mu_j) / sqrt(s_i^2 / n_i + s_j^2 / n_j) ||_2

Preset `paper`: s_k is ONE scalar per class, numpy's std (ddof=0) over all dimensions and images
of the class (the authors' code), so the RDM is the Euclidean distance between class means divided
by a per-pair scalar. Preset `per_dim`: s_k is a std per dimension (ddof=0), plus `std_epsilon`
(the authors added 1e-6 for TSM) so a dimension that is constant in both classes adds 0, not NaN.

Text models (one vector per class, no variance): Euclidean distance on the unnormalised vectors.
Cosine and correlation distances are options for both (scipy's `pdist`: 1 - r, never r).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist, squareform

from vlgen.tasks.fewshot import l2_normalise

PRESETS = ("paper", "per_dim")
IMAGE_DISTANCES = ("welch", "euclidean", "cosine", "correlation")
TEXT_DISTANCES = ("euclidean", "cosine", "correlation")
# Rows of the per-dimension Welch RDM computed at once: 8 x C x D float64 (C=1000, D=2048: 125 MiB).
PER_DIM_BLOCK_ROWS = 8


@dataclass(frozen=True)
class ClassStats:
    """Per-class mean [C, D], std ([C] for `paper`, [C, D] for `per_dim`) and image count [C]."""

    means: np.ndarray
    stds: np.ndarray
    counts: np.ndarray


def class_stats(features: np.ndarray, labels: np.ndarray, n_classes: int, preset: str) -> ClassStats:
    """Means, stds (ddof=0, float64) and counts of L2-normalised features, class by class.

    Every class 0..n_classes-1 must have at least one image: a class absent from the split has no
    mean, and an RDM with a hole cannot be compared with another model's.
    """
    _check_choice(preset, PRESETS, "RSA preset")
    labels = np.asarray(labels)
    if np.ndim(features) != 2 or len(features) != len(labels):
        raise ValueError(f"features must be [n, D] with n = len(labels) = {len(labels)}, got {np.shape(features)}")
    counts = np.bincount(labels, minlength=n_classes)
    if len(counts) > n_classes:
        raise ValueError(f"labels go up to {labels.max()} but there are only {n_classes} classes")
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        raise ValueError(f"classes {missing.tolist()} have no image in this split: their RDM rows are undefined")
    unit = l2_normalise(features)
    # One class at a time in float64: ImageNet val (50,000 x 2048) never exists as a float64 copy.
    members = np.split(np.argsort(labels, kind="stable"), np.cumsum(counts)[:-1])
    means, stds = [], []
    for rows in members:
        block = unit[rows].astype(np.float64)
        means.append(block.mean(axis=0))
        stds.append(block.std() if preset == "paper" else block.std(axis=0))  # paper: over dims and images
    return ClassStats(np.stack(means), np.asarray(stds), counts)


def welch_rdm(stats: ClassStats, std_epsilon: float = 0.0) -> np.ndarray:
    """The Welch t-statistic norm between every pair of classes, [C, C] float64, zero diagonal.

    With scalar stds (`paper`) this is the Euclidean distance of the means rescaled per pair; with
    per-dimension stds each dimension is scaled by its own pooled variance (row blocks bound memory).
    """
    if stats.stds.ndim == 1:
        variance = stats.stds**2 / stats.counts
        pooled = np.add.outer(variance, variance)
        np.fill_diagonal(pooled, 1.0)  # the diagonal is 0 / 1 below, whatever the class's spread
        _check_pooled(pooled)
        rdm = squareform(pdist(stats.means, "euclidean")) / np.sqrt(pooled)
    else:
        variance = (stats.stds + std_epsilon) ** 2 / stats.counts[:, None]
        n_classes = len(stats.means)
        rdm = np.empty((n_classes, n_classes))
        for start in range(0, n_classes, PER_DIM_BLOCK_ROWS):
            rows = slice(start, start + PER_DIM_BLOCK_ROWS)
            ratio = np.square(stats.means[rows, None, :] - stats.means[None, :, :])
            pooled = variance[rows, None, :] + variance[None, :, :]
            # A dimension constant in both classes (pooled 0) cannot tell them apart: it adds 0,
            # unless the means differ there, where the statistic is infinite (caught below).
            with np.errstate(divide="ignore"):
                np.divide(ratio, pooled, out=ratio, where=ratio != 0)
            rdm[rows] = np.sqrt(ratio.sum(axis=2))
        np.fill_diagonal(rdm, 0.0)
        if not np.isfinite(rdm).all():
            raise ValueError("per_dim Welch RDM: a dimension has zero variance in two classes whose means differ "
                             "there; set rsa.std_epsilon > 0")
    return rdm


def vector_rdm(vectors: np.ndarray, distance: str) -> np.ndarray:
    """scipy's pairwise distance between class vectors (`euclidean`, `cosine`, `correlation`)."""
    _check_choice(distance, TEXT_DISTANCES, "RDM distance")
    rdm = squareform(pdist(np.asarray(vectors, dtype=np.float64), distance))
    if not np.isfinite(rdm).all():
        raise ValueError(f"{distance} RDM has non-finite entries (a zero or constant class vector?)")
    return rdm


def image_rdm(features: np.ndarray, labels: np.ndarray, n_classes: int, *, distance: str, preset: str = "paper",
              std_epsilon: float = 0.0) -> np.ndarray:
    """RDM of an image model: Welch norm (`preset`, `std_epsilon`) or a `vector_rdm` of the class means."""
    _check_choice(distance, IMAGE_DISTANCES, "image RDM distance")
    if distance == "welch":
        return welch_rdm(class_stats(features, labels, n_classes, preset), std_epsilon)
    return vector_rdm(class_stats(features, labels, n_classes, "paper").means, distance)  # stds unused


def _check_pooled(pooled: np.ndarray) -> None:
    zero = np.argwhere(pooled == 0)
    if zero.size:
        i, j = zero[0]
        raise ValueError(f"classes {i} and {j} both have zero spread (a single image each, or identical images): "
                         "their Welch statistic is undefined")


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(allowed)}")
