"""Success rates per epsilon from per-image attack outcomes (numpy only).

An image counts as broken at epsilon if the attack at any epsilon' <= epsilon broke it: a
perturbation inside the smaller ball is inside the larger one, so the curve is non-decreasing by
construction (PGD from a random start can miss at a larger epsilon what it found at a smaller one).
The authors' raw per-epsilon rate is kept beside it (`success_rate_raw`).
"""

from __future__ import annotations

import numpy as np


def cumulative_broken(broken: np.ndarray, epsilons: np.ndarray) -> np.ndarray:
    """[E, N] bool: broken by the attack at some epsilon' <= epsilon (columns are images)."""
    broken = np.asarray(broken, dtype=bool)
    epsilons = np.asarray(epsilons, dtype=float)
    if broken.ndim != 2 or broken.shape[0] != len(epsilons):
        raise ValueError(f"outcomes of shape {broken.shape} do not match {len(epsilons)} epsilons")
    order = np.argsort(epsilons, kind="stable")
    cumulative = np.empty_like(broken)
    cumulative[order] = np.logical_or.accumulate(broken[order], axis=0)
    return cumulative


def success_rates(broken: np.ndarray, epsilons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative, raw) success rate per epsilon, each [E]."""
    broken = np.asarray(broken, dtype=bool)
    return cumulative_broken(broken, epsilons).mean(axis=1), broken.mean(axis=1)


def mean_perturbation(norms: np.ndarray, broken: np.ndarray) -> np.ndarray:
    """[E] mean perturbation norm of the images each epsilon's attack broke (NaN where none)."""
    norms, broken = np.asarray(norms, dtype=float), np.asarray(broken, dtype=bool)
    counts = broken.sum(axis=1)
    totals = np.where(broken, norms, 0.0).sum(axis=1)
    return np.divide(totals, counts, out=np.full(len(counts), np.nan), where=counts > 0)
