"""Centered kernel alignment (CKA) between image models on the same images.

Linear CKA (Kornblith et al. 2019) and its debiased form (Nguyen et al. 2021, the unbiased HSIC
estimator of Song et al. 2012) are usually written with n x n Gram matrices K = X X^T. With 50,000
images that is a 20 GB matrix per model, so everything here is in feature space instead: with
column-centred features Xc (float64),

    tr(K L)        = ||Xc^T Yc||_F^2           (a D_x x D_y product, accumulated over row blocks)
    diag(K)        = squared norms of the rows of Xc
    K 1 = Xc (Xc^T 1) = 0                      (centred columns sum to zero)

and the unbiased HSIC (zero-diagonal K~, L~) becomes, with t = tr(KL), d = diag(K) . diag(L),
s_x = sum diag(K), s_y = sum diag(L):

    HSIC_1 = [t - d + s_x s_y / ((n-1)(n-2)) - 2 d / (n-2)] / (n (n-3))

CKA compares two representations of the same images, so rows are aligned by sample id first: two
entries of one split may list their images in different orders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

# Rows converted to float64 at a time: bounds the float64 copy at ROW_BLOCK x D per model side.
ROW_BLOCK = 4096
STRINGS = np.dtypes.StringDType()
# Debiased HSIC divides by n (n - 3).
MIN_SAMPLES = 4


def align_rows(reference_ids: Sequence[str], ids: Sequence[str], model: str) -> np.ndarray:
    """Row indices that put `ids` in the order of `reference_ids` (ids[index] == reference_ids).

    Raises ValueError naming `model` when the two entries do not hold exactly the same images:
    CKA between different images is not a comparison of representations.
    """
    # numpy's variable-width strings: what the store's sample ids load as, and any list of str converts
    reference, ids = np.asarray(reference_ids, dtype=STRINGS), np.asarray(ids, dtype=STRINGS)
    for name, values in (("reference", reference), (model, ids)):
        if len(np.unique(values)) != len(values):
            raise ValueError(f"sample ids of {name} are not unique: rows cannot be aligned by sample id")
    order = np.argsort(ids)
    position = np.searchsorted(ids, reference, sorter=order)
    position = np.minimum(position, len(ids) - 1)
    index = order[position]
    if len(ids) != len(reference) or not np.array_equal(ids[index], reference):
        missing = sorted(set(reference.tolist()) ^ set(ids.tolist()))
        raise ValueError(f"features of {model} are not over the same images as the first model "
                         f"({len(ids)} vs {len(reference)} rows; {len(missing)} sample ids differ, e.g. {missing[:3]})")
    return index


@dataclass(frozen=True)
class Representation:
    """One model's features (any float dtype, rows aligned) with its float64 column means and the
    per-model terms of CKA: squared norms of centred rows and ||Xc^T Xc||_F^2."""

    model: str
    features: np.ndarray
    mean: np.ndarray
    row_norms2: np.ndarray
    self_product2: float

    @classmethod
    def of(cls, model: str, features: np.ndarray, block: int = ROW_BLOCK) -> Representation:
        features = np.asarray(features)
        if features.ndim != 2 or len(features) < MIN_SAMPLES:
            raise ValueError(f"features of {model}: need a [n >= {MIN_SAMPLES}, D] array, got shape {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError(f"features of {model} hold NaN or infinite values")
        mean = features.mean(axis=0, dtype=np.float64)
        row_norms2 = np.concatenate([np.einsum("ij,ij->i", x, x) for x in _centred_blocks(features, mean, block)])
        gram = _cross_product(features, mean, features, mean, block)
        return cls(model, features, mean, row_norms2, float(np.sum(gram * gram)))

    @property
    def n(self) -> int:
        return len(self.features)


def _centred_blocks(features: np.ndarray, mean: np.ndarray, block: int) -> Iterator[np.ndarray]:
    for start in range(0, len(features), block):
        yield np.asarray(features[start:start + block], dtype=np.float64) - mean


def _cross_product(x: np.ndarray, mean_x: np.ndarray, y: np.ndarray, mean_y: np.ndarray, block: int) -> np.ndarray:
    """Xc^T Yc [D_x, D_y] in float64, summed over row blocks (never an n x n matrix)."""
    total = np.zeros((x.shape[1], y.shape[1]))
    for xb, yb in zip(_centred_blocks(x, mean_x, block), _centred_blocks(y, mean_y, block)):
        total += xb.T @ yb
    return total


def _unbiased_hsic(product2: float, a: Representation, b: Representation) -> float:
    """Song et al.'s unbiased HSIC of the linear kernels, from feature-space terms (module docstring)."""
    n = a.n
    d = float(a.row_norms2 @ b.row_norms2)
    s = float(a.row_norms2.sum()) * float(b.row_norms2.sum())
    return (product2 - d + s / ((n - 1) * (n - 2)) - 2 * d / (n - 2)) / (n * (n - 3))


def pair_cka(a: Representation, b: Representation, block: int = ROW_BLOCK) -> tuple[float, float]:
    """(linear CKA, debiased CKA) of two representations whose rows are the same images in the same order."""
    if a.n != b.n:
        raise ValueError(f"features of {a.model} and {b.model} have {a.n} and {b.n} rows: align them by sample id")
    cross = _cross_product(a.features, a.mean, b.features, b.mean, block)
    product2 = float(np.sum(cross * cross))
    linear = product2 / np.sqrt(a.self_product2 * b.self_product2)
    debiased = _unbiased_hsic(product2, a, b) / np.sqrt(_unbiased_hsic(a.self_product2, a, a)
                                                        * _unbiased_hsic(b.self_product2, b, b))
    return float(linear), float(debiased)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two [n, D] arrays with rows in the same order."""
    return pair_cka(Representation.of("x", x), Representation.of("y", y))[0]


def debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA of two [n, D] arrays with rows in the same order (near 0 for independent data)."""
    return pair_cka(Representation.of("x", x), Representation.of("y", y))[1]


def aligned(model: str, features: np.ndarray, ids: Sequence[str], reference_ids: Sequence[str],
            block: int = ROW_BLOCK) -> Representation:
    """The representation of `model` with its rows put in the order of `reference_ids` (see `align_rows`)."""
    return Representation.of(model, np.asarray(features)[align_rows(reference_ids, ids, model)], block)


def cka_rows(representations: Sequence[Representation], block: int = ROW_BLOCK) -> list[dict]:
    """One row per unordered pair (in the given order): `model_a, model_b, linear_cka, debiased_cka, n`.

    Each model's own terms were computed once, in `Representation.of`, for all its pairs.
    """
    rows = []
    for a, b in combinations(representations, 2):
        linear, debiased = pair_cka(a, b, block)
        rows.append({"model_a": a.model, "model_b": b.model, "linear_cka": linear, "debiased_cka": debiased, "n": a.n})
    return rows
