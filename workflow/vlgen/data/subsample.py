"""`max_per_class`: a seeded, order-preserving subsample of a split (part of the dataset key)."""

from __future__ import annotations

import numpy as np

from vlgen.data.registry import SplitData


def subsample_indices(labels: np.ndarray, max_per_class: int, seed: int) -> np.ndarray:
    """Ascending indices keeping at most `max_per_class` per label.

    One Generator seeded by `seed` draws, label by label in increasing label order, which
    members of an over-full class stay; smaller classes are kept whole and draw nothing.
    """
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) > max_per_class:
            members = rng.choice(members, size=max_per_class, replace=False)
        keep.append(members)
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def take(data: SplitData, indices: np.ndarray) -> SplitData:
    """The samples at `indices`, in that order."""
    if isinstance(data.images, np.ndarray):
        images = data.images[indices]
    else:
        images = [data.images[i] for i in indices]
    return SplitData(
        images=images,
        labels=data.labels[indices],
        class_names=list(data.class_names),
        sample_ids=[data.sample_ids[i] for i in indices],
    )


def subsample_per_class(data: SplitData, max_per_class: int | None, seed: int) -> SplitData:
    """`data` unchanged when max_per_class is None, else its seeded per-class subsample."""
    if max_per_class is None:
        return data
    return take(data, subsample_indices(np.asarray(data.labels), max_per_class, seed))
