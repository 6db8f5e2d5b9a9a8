"""How sure each model distance is: a bootstrap over classes (PROTOCOL.md, RSA uncertainty).

The classes are the sampled units of an RDM comparison, so each resample draws C classes with
replacement; every model's RDM is taken over the drawn classes, the entries between two copies of one
class are dropped (their dissimilarity is a class with itself, rsatoolbox's bootstrap does the same),
and r is recomputed for every pair of models on the remaining entries. One seeded sequence of
resamples serves every pair, so a pair's interval does not depend on which other models are in the run.

From the resampled r: a percentile interval per pair, and how often each clade of the point-estimate
dendrogram (average linkage on 1 - r) recurs in the resampled trees.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np
from scipy import stats
from scipy.cluster.hierarchy import to_tree

from vlgen.tasks.rdm_compare import METHODS, Rdm, check_comparable, upper_triangle
from vlgen.tasks.rsa import model_linkage


def class_resamples(n_classes: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """`resamples` seeded draws of `n_classes` class indices with replacement."""
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield rng.integers(0, n_classes, size=n_classes)


class ResampledEntries:
    """The RDMs' upper triangles stored entry by entry ([T, M]: each entry's M values side by side), so a
    class resample is one row gather through a [C, C] table of triangle positions (the layout
    `rdm_compare.permuted_correlations` found fastest on 1,000 classes)."""

    def __init__(self, rdms: Sequence[np.ndarray]):
        n_classes = len(rdms[0])
        self.rows, self.cols = np.triu_indices(n_classes, k=1)
        self.by_entry = np.ascontiguousarray(np.stack([np.asarray(rdm)[self.rows, self.cols] for rdm in rdms]).T)
        self.position = np.zeros((n_classes, n_classes), dtype=np.int64)
        self.position[self.rows, self.cols] = self.position[self.cols, self.rows] = np.arange(len(self.rows))

    def __call__(self, classes: np.ndarray) -> np.ndarray:
        """[T', M] entries of every RDM over the drawn `classes` (upper triangle, row by row), pairs of one
        class dropped."""
        a, b = classes[self.rows], classes[self.cols]
        keep = a != b
        return self.by_entry[self.position[a[keep], b[keep]]]


def correlation_matrix(entries: np.ndarray, method: str) -> np.ndarray:
    """[M, M] Pearson (or Spearman: Pearson on ranks) r between the columns of `entries` [T, M]."""
    if method not in METHODS:
        raise ValueError(f"unknown RDM comparison method {method!r}; known: {', '.join(METHODS)}")
    if method == "spearman":
        entries = stats.rankdata(entries, axis=0)
    centred = entries - entries.mean(axis=0)
    scaled = centred / np.linalg.norm(centred, axis=0)
    return np.clip(scaled.T @ scaled, -1.0, 1.0)


def bootstrap_correlations(rdms: Sequence[np.ndarray], method: str, resamples: int, seed: int) -> np.ndarray:
    """[resamples, M, M] r between every pair of RDMs, one class resample per slice.

    A resample whose entries are constant for some model (possible with very few classes) gives NaN
    for that model's pairs; `percentile_interval` ignores NaN.
    """
    entries = ResampledEntries(rdms)
    out = np.empty((resamples, len(rdms), len(rdms)))
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, classes in enumerate(class_resamples(len(rdms[0]), resamples, seed)):
            out[k] = correlation_matrix(entries(classes), method)
    return out


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The central `confidence` percentile interval of bootstrap samples (NaN without finite samples)."""
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def clades(similarity: np.ndarray, models: Sequence[str]) -> list[frozenset[str]]:
    """The clades (leaf sets of internal nodes, the root excluded) of the average-linkage tree on 1 - r."""
    found: list[frozenset[str]] = []

    def walk(node) -> frozenset[str]:
        if node.is_leaf():
            return frozenset([models[node.id]])
        leaves = walk(node.left) | walk(node.right)
        found.append(leaves)
        return leaves

    if len(models) < 3:
        return []
    walk(to_tree(model_linkage(similarity)))
    return [clade for clade in found if len(clade) < len(models)]


def clade_support(similarity: np.ndarray, boot: np.ndarray, models: Sequence[str]) -> dict[frozenset[str], float]:
    """Fraction of resampled trees that hold each clade of the point-estimate tree.

    Resamples with NaN (a constant RDM over the drawn classes) have no tree and are not counted; without
    any usable resample every support is NaN.
    """
    usable = [matrix for matrix in boot if np.isfinite(matrix).all()]
    counts = dict.fromkeys(clades(similarity, models), 0)
    for matrix in usable:
        for clade in set(clades(matrix, models)) & counts.keys():
            counts[clade] += 1
    return {clade: count / len(usable) if usable else float("nan") for clade, count in counts.items()}


def uncertainty_rows(rdms: Sequence[Rdm], method: str, resamples: int, seed: int,
                     confidence: float = 0.95) -> tuple[list[dict], list[dict]]:
    """(interval rows, clade rows) of one dataset's RDMs (checked comparable first).

    Interval rows: `model_a, model_b, ci_low, ci_high` per unordered pair (in the given order; NaN
    without resamples). Clade rows: `clade` (its models joined by ";", in the given order), `size`,
    `support` per clade of the point-estimate tree.
    """
    check_comparable(rdms)
    models = [rdm.model for rdm in rdms]
    matrices = [rdm.matrix for rdm in rdms]
    boot = bootstrap_correlations(matrices, method, resamples, seed)
    intervals = [{"model_a": models[a], "model_b": models[b],
                  **dict(zip(("ci_low", "ci_high"), percentile_interval(boot[:, a, b], confidence)))}
                 for a, b in combinations(range(len(models)), 2)]
    similarity = correlation_matrix(np.stack([upper_triangle(m) for m in matrices], axis=1), method)
    clade_rows = [{"clade": ";".join(m for m in models if m in clade), "size": len(clade), "support": value}
                  for clade, value in clade_support(similarity, boot, models).items()]
    return intervals, clade_rows
