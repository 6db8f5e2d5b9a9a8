"""Which images are attacked: the authors' legacy-RNG choice, applied to any split's size."""

from __future__ import annotations

import numpy as np


def attacked_indices(n_total: int, n_images: int, seed: int = 42) -> np.ndarray:
    """Indices of the attacked images, in the order they are attacked.

    The authors' `np.random.seed(42); np.random.permutation(50000)[:1000]` on ImageNet val; the
    legacy `RandomState` is used on purpose (a `Generator` draws another permutation), and the
    same rule over a split of another size picks that split's images. `n_images` larger than the
    split takes every image.
    """
    if n_total < 1 or n_images < 1:
        raise ValueError(f"attacks need at least one image (split size {n_total}, n_images {n_images})")
    return np.random.RandomState(seed).permutation(n_total)[:n_images]


def held_out_indices(n_total: int, attacked: np.ndarray) -> np.ndarray:
    """The indices not attacked, in order: what a head trained on the attacked split may see."""
    keep = np.ones(n_total, dtype=bool)
    keep[attacked] = False
    return np.flatnonzero(keep)
