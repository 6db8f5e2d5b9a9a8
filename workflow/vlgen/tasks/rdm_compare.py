"""Comparing RDMs between models: correlation of upper triangles and a Mantel permutation test.

PROTOCOL.md: Pearson r between the upper triangles of two RDMs (Spearman as an option), with
p-values; model distance = 1 - r. The parametric p-value (scipy's) assumes independent entries,
which the entries of an RDM are not (each class appears in C - 1 of them), so a Mantel test is
reported too: the classes of one RDM are permuted (rows and columns together) and r recomputed,
p = (1 + #{r_perm >= r}) / (1 + permutations), one-sided (RDMs that agree have r > 0).

One seeded sequence of class permutations serves every pair of a dataset, so a pair's p-value does
not depend on which other models are in the run. Spearman is Pearson on ranks, and permuting
classes permutes the ranks of the triangle, so the null distribution needs ranking only once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

METHODS = ("pearson", "spearman")
# r_perm is counted as >= r within this tolerance: the identity permutation must count.
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Rdm:
    """One model's RDM with the class names of its rows, in label order, and how it was made
    (the Welch std preset, "none" for other distances, and the distance)."""

    model: str
    matrix: np.ndarray
    classes: tuple[str, ...]
    preset: str = "none"
    distance: str = "unknown"


def upper_triangle(rdm: np.ndarray) -> np.ndarray:
    """Entries above the diagonal, row by row (scipy's condensed order)."""
    rows, cols = np.triu_indices(len(rdm), k=1)
    return np.asarray(rdm)[rows, cols]


def check_comparable(rdms: Sequence[Rdm]) -> None:
    """Square, symmetric, finite, at least 3 classes, and the same classes in the same order.

    Raises ValueError naming the models: comparing RDMs whose rows mean different classes would
    produce a number that means nothing.
    """
    for rdm in rdms:
        matrix = rdm.matrix
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(rdm.classes):
            raise ValueError(f"RDM of {rdm.model}: shape {matrix.shape} does not match its {len(rdm.classes)} classes")
        if len(rdm.classes) < 3:
            raise ValueError(f"RDM of {rdm.model}: {len(rdm.classes)} classes give fewer than 3 pairs to correlate")
        if not np.isfinite(matrix).all():
            raise ValueError(f"RDM of {rdm.model} holds NaN or infinite entries")
        if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=0):
            raise ValueError(f"RDM of {rdm.model} is not symmetric")
        if np.ptp(upper_triangle(matrix)) == 0:
            raise ValueError(f"RDM of {rdm.model} is constant: its correlation with anything is undefined")
    for rdm in rdms[1:]:
        if rdm.classes != rdms[0].classes:
            raise ValueError(f"RDMs of {rdms[0].model} and {rdm.model} are over different classes or class orders "
                             f"({_first_difference(rdms[0].classes, rdm.classes)})")


def _first_difference(a: tuple[str, ...], b: tuple[str, ...]) -> str:
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} classes"
    row = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    return f"first difference at row {row}: {a[row]!r} vs {b[row]!r}"


def correlate(a: np.ndarray, b: np.ndarray, method: str) -> tuple[float, float]:
    """(r, parametric p-value) of the upper triangles, from scipy.stats (pearsonr or spearmanr)."""
    _check_method(method)
    x, y = upper_triangle(a), upper_triangle(b)
    result = stats.pearsonr(x, y) if method == "pearson" else stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def class_permutations(n_classes: int, permutations: int, seed: int) -> Iterator[np.ndarray]:
    """`permutations` seeded permutations of the classes (the same sequence for every pair of models)."""
    rng = np.random.default_rng(seed)
    for _ in range(permutations):
        yield rng.permutation(n_classes)


def permuted_correlations(rdms: Sequence[np.ndarray], method: str, permutations: int, seed: int) -> np.ndarray:
    """Null correlations [permutations, M, M]: entry [k, a, b] = r(RDM a, RDM b with classes permuted by k).

    Each triangle is standardised once (ranked first for Spearman); a class permutation p maps
    triangle entry (i, j) to entry (p_i, p_j) of the original, so a permuted triangle is a gather
    and all pairs of one permutation are one matrix product. The gather reads rows of the
    transposed triangles [T, M] (each entry's M values side by side: half the time of gathering
    columns on 1000 classes), through a [C, C] table of triangle positions.
    """
    n_classes = len(rdms[0])
    z = standardised_triangles(rdms, method)
    by_entry = np.ascontiguousarray(z.T)
    rows, cols = np.triu_indices(n_classes, k=1)
    position = np.zeros((n_classes, n_classes), dtype=np.int64)
    position[rows, cols] = position[cols, rows] = np.arange(len(rows))
    null = np.empty((permutations, len(rdms), len(rdms)))
    for k, perm in enumerate(class_permutations(n_classes, permutations, seed)):
        null[k] = z @ by_entry[position[perm[rows], perm[cols]]] / z.shape[1]
    return null


def mantel_p(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value, (1 + #{null >= observed}) / (1 + len(null)); NaN without permutations."""
    if len(null) == 0:
        return float("nan")
    return float((1 + np.count_nonzero(null >= observed - TIE_TOLERANCE)) / (1 + len(null)))


def correlation_rows(rdms: Sequence[Rdm], method: str, permutations: int, seed: int) -> list[dict]:
    """One row per unordered pair of models (in the given order): r, parametric and Mantel p.

    Rows: `model_a, model_b, preset, distance, method, r, p_parametric, p_permutation`; `preset` and
    `distance` say how the two RDMs were made ("a/b" where the models' differ, e.g. `welch/euclidean`
    for an image and a text model); model_b's classes are the ones permuted. The observed r of the Mantel count comes from the same standardised triangles as the
    null, so the identity permutation ties exactly.
    """
    check_comparable(rdms)
    matrices = [rdm.matrix for rdm in rdms]
    null = permuted_correlations(matrices, method, permutations, seed)
    z = standardised_triangles(matrices, method)
    observed = z @ z.T / z.shape[1]
    rows = []
    for a, b in combinations(range(len(rdms)), 2):
        r, p_parametric = correlate(matrices[a], matrices[b], method)
        rows.append({"model_a": rdms[a].model, "model_b": rdms[b].model,
                     "preset": _pair_label(rdms[a].preset, rdms[b].preset),
                     "distance": _pair_label(rdms[a].distance, rdms[b].distance), "method": method, "r": r,
                     "p_parametric": p_parametric, "p_permutation": mantel_p(observed[a, b], null[:, a, b])})
    return rows


def _pair_label(a: str, b: str) -> str:
    return a if a == b else f"{a}/{b}"


def standardised_triangles(matrices: Sequence[np.ndarray], method: str) -> np.ndarray:
    """[M, T] upper triangles (ranked for Spearman) with mean 0 and std 1: r(a, b) = z_a . z_b / T."""
    _check_method(method)
    triangles = np.stack([upper_triangle(r) for r in matrices])
    if method == "spearman":
        triangles = stats.rankdata(triangles, axis=1)
    return (triangles - triangles.mean(axis=1, keepdims=True)) / triangles.std(axis=1, keepdims=True)


def similarity_matrix(rows: Sequence[Mapping], models: Sequence[str]) -> np.ndarray:
    """The symmetric [M, M] matrix of r (diagonal 1) from pairwise rows, in `models` order.

    Rows about other models are ignored (a subset of models can be drawn); a missing pair is an error.
    """
    index = {model: i for i, model in enumerate(models)}
    matrix = np.full((len(models), len(models)), np.nan)
    np.fill_diagonal(matrix, 1.0)
    for row in rows:
        if row["model_a"] in index and row["model_b"] in index:
            a, b = index[row["model_a"]], index[row["model_b"]]
            matrix[a, b] = matrix[b, a] = row["r"]
    if np.isnan(matrix).any():
        i, j = np.argwhere(np.isnan(matrix))[0]
        raise ValueError(f"no correlation between {models[i]} and {models[j]}")
    return matrix


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown RDM comparison method {method!r}; known: {', '.join(METHODS)}")
