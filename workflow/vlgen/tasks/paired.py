"""Paired comparisons of training recipes with the training seed as the unit (issue 17, controlled experiment).

Every recipe is trained once per seed; seed s of two recipes shares the initialisation seed, the data
order and the crops, so the difference of their scores at seed s is one paired observation. With
n seeds:

- effect size = mean difference / standard deviation of the differences with ddof=1 (Cohen's d_z);
  NaN below two seeds, +-inf when every difference is the same non-zero number;
- p = exact two-sided sign-flip test: under the null that the recipe does not matter, each
  difference is as likely negative as positive, so all 2^n sign assignments are equally likely;
  p is the fraction of them whose |sum| is at least the observed |sum|. The identity and the
  all-flipped assignment always count, so p >= 2 / 2^n (the floor: 0.25 for 3 seeds, 1/32 for 6).

Arrays and tables in, numbers out; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# 2^20 assignments (a 1M x 20 sign matrix, 160 MB as float64) is where enumeration stops being cheap.
MAX_SEEDS = 20
TABLE_COLUMNS = ["recipe", "seed", "task", "dataset", "view", "metric", "value"]
GROUP_COLUMNS = ["task", "dataset", "view", "metric"]
# What each comparison asks: language vs labels (captions, label-names), and each recipe vs no training.
COMPARISONS = (("captions", "labels"), ("label-names", "labels"), ("labels", "random"), ("captions", "random"),
               ("label-names", "random"))


def sign_flip_floor(n: int) -> float:
    """The smallest p an exact two-sided sign-flip test over n paired differences can give."""
    return 2.0 / 2.0**n


def sign_flip_p(diffs: Sequence[float]) -> float:
    """Exact two-sided sign-flip p of the mean of `diffs` (every one of the 2^n sign assignments)."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.ndim != 1 or d.size == 0 or not np.isfinite(d).all():
        raise ValueError(f"paired differences must be a non-empty 1-d array of finite numbers, got {d!r}")
    if d.size > MAX_SEEDS:
        raise ValueError(f"{d.size} paired differences: exact enumeration is limited to {MAX_SEEDS}")
    bits = (np.arange(2**d.size)[:, None] >> np.arange(d.size)) & 1
    sums = np.abs((1 - 2 * bits) @ d)
    # Sums that equal the observed one up to rounding count as "at least as extreme".
    tolerance = 1e-12 * max(1.0, float(np.abs(d).sum()))
    return float(np.mean(sums >= abs(d.sum()) - tolerance))


def effect_size(diffs: Sequence[float]) -> float:
    """Mean / sd (ddof=1) of the differences: NaN under two values, +-inf for identical non-zero ones."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size < 2:
        return math.nan
    mean = float(d.mean())
    if np.ptp(d) == 0.0:  # equal values: the sd is 0 (numpy's would be rounding noise)
        return math.nan if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / float(d.std(ddof=1))


@dataclass(frozen=True)
class PairedResult:
    n_seeds: int
    mean_a: float
    mean_b: float
    mean_diff: float  # mean of a - b over seeds
    sd_diff: float  # ddof=1
    effect_size: float
    p_sign_flip: float
    p_floor: float


def paired(a: Sequence[float], b: Sequence[float]) -> PairedResult:
    """Compare recipe a with recipe b; a[i] and b[i] are the scores of the same seed."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired scores need one value per seed on both sides, got shapes {a.shape} and {b.shape}")
    d = a - b
    return PairedResult(n_seeds=int(d.size), mean_a=float(a.mean()), mean_b=float(b.mean()),
                        mean_diff=float(d.mean()), sd_diff=float(d.std(ddof=1)) if d.size > 1 else math.nan,
                        effect_size=effect_size(d), p_sign_flip=sign_flip_p(d), p_floor=sign_flip_floor(d.size))


def recipe_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (recipe, task, dataset, view, metric): mean over seeds, its standard error (sd ddof=1 / sqrt n), n."""
    _check_table(table)
    grouped = table.groupby(["recipe", *GROUP_COLUMNS], sort=False)["value"]
    out = grouped.agg(mean="mean", sd=lambda v: v.std(ddof=1), n_seeds="count").reset_index()
    out["se"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out.drop(columns="sd")


def paired_table(table: pd.DataFrame, comparisons: Sequence[tuple[str, str]] = COMPARISONS) -> pd.DataFrame:
    """One row per (comparison, task, dataset, view, metric) on the seeds both recipes have.

    A comparison whose recipes are not both in the table is left out (a run may train a subset).
    """
    _check_table(table)
    recipes = set(table["recipe"])
    # pivot_table sorts its index: the rows are put back in the table's order at the end
    first_seen: dict[tuple, int] = {}
    for i, group in enumerate(table[GROUP_COLUMNS].itertuples(index=False, name=None)):
        first_seen.setdefault(group, i)
    rows = []
    for a, b in comparisons:
        if not {a, b} <= recipes:
            continue
        wide = (table[table["recipe"].isin([a, b])]
                .pivot_table(index=[*GROUP_COLUMNS, "seed"], columns="recipe", values="value", aggfunc="first")
                .dropna())
        for group, scores in wide.groupby(level=GROUP_COLUMNS, sort=False):
            result = paired(scores[a].to_numpy(), scores[b].to_numpy())
            rows.append({"recipe_a": a, "recipe_b": b, **dict(zip(GROUP_COLUMNS, group)), **asdict(result)})
    rows.sort(key=lambda row: (comparisons.index((row["recipe_a"], row["recipe_b"])),
                               first_seen[tuple(row[c] for c in GROUP_COLUMNS)]))
    columns = ["recipe_a", "recipe_b", *GROUP_COLUMNS, *PairedResult.__dataclass_fields__]
    return pd.DataFrame(rows, columns=columns)


def _check_table(table: pd.DataFrame) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"controlled table lacks columns {missing} (has {list(table.columns)})")
    duplicated = table.duplicated(["recipe", "seed", *GROUP_COLUMNS])
    if duplicated.any():
        raise ValueError(f"controlled table has {int(duplicated.sum())} duplicated (recipe, seed, task, dataset, "
                         f"view, metric) rows, e.g. {table[duplicated].iloc[0].to_dict()}")
