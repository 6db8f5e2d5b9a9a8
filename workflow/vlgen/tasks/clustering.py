"""Unsupervised spectral clustering of cached features (PROTOCOL.md, "Unsupervised clustering").

Arrays in, numbers out; numpy, scipy and scikit-learn only (no torch). The whole test split is
clustered once into as many clusters as it has classes, with the |cosine similarity| of the raw
features as a precomputed affinity, and the clusters are scored against the labels in two ways
from the SAME clusters:

- `hungarian` (default): a one-to-one cluster -> class matching that maximises the matched
  count (scipy's `linear_sum_assignment`);
- `greedy` (paper): the authors' `permute_labels`, quirks included (see `greedy_matching`).

NMI and ARI (scikit-learn) need no matching and are the same for both.

Up to `dense_max_samples` rows scikit-learn's `SpectralClustering(affinity="precomputed")` runs
directly on a float64 affinity; it then factorises a dense N x N matrix (ARPACK shift-invert),
which at SVHN's 26,032 test images needs ~23 GB. Above that, `lean_spectral_clusters` computes
the same embedding with a float32 affinity normalised in place and ARPACK in regular mode (matrix
products only): ~2.7 GB at 26,032 rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from vlgen.tasks.fewshot import l2_normalise

log = logging.getLogger("vlgen.clustering")

MATCHINGS = ("hungarian", "greedy")
DENSE_MAX_SAMPLES = 15_000
# The lean path's matrix products are float32 (relative error ~1e-7): asking ARPACK for machine
# precision (sklearn's eigen_tol="auto" -> 0) would chase that noise. Eigenvectors to 1e-6 leave
# k-means assignments unchanged (tests: ARI >= 0.99 against scikit-learn's dense path).
LEAN_EIGEN_TOL = 1e-6
AFFINITY_BLOCK_ROWS = 2048


def abs_cosine_affinity(features: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """|cosine similarity| between every pair of rows, [N, N] of `dtype` (the paper's affinity).

    Non-negative, as `SpectralClustering(affinity="precomputed")` requires (DESIGN.md).
    """
    unit = l2_normalise(features).astype(dtype, copy=False)
    affinity = np.empty((len(unit), len(unit)), dtype=dtype)
    # Row blocks, not `unit @ unit.T`: numpy sends that product to BLAS syrk, which segfaults in
    # the OpenBLAS bundled with numpy 2.4 (0.3.31) at 26,032 x 2048 (measured); blocks go through
    # gemm, and the absolute value is taken while a block is still in cache.
    for start in range(0, len(unit), AFFINITY_BLOCK_ROWS):
        block = affinity[start:start + AFFINITY_BLOCK_ROWS]
        np.matmul(unit[start:start + AFFINITY_BLOCK_ROWS], unit.T, out=block)
        np.abs(block, out=block)
    return affinity


def sklearn_spectral_clusters(features: np.ndarray, n_clusters: int, *, seed: int, n_init: int = 10) -> np.ndarray:
    """Cluster ids from scikit-learn's SpectralClustering on the float64 |cosine| affinity."""
    from sklearn.cluster import SpectralClustering

    model = SpectralClustering(n_clusters=n_clusters, affinity="precomputed", assign_labels="kmeans",
                               n_init=n_init, random_state=seed)
    return model.fit_predict(abs_cosine_affinity(features, np.float64))


def lean_spectral_embedding(features: np.ndarray, n_components: int, *, seed: int) -> np.ndarray:
    """scikit-learn's spectral embedding of the |cosine| affinity, in ~4 N^2 bytes.

    scikit-learn (`spectral_embedding`, norm_laplacian, drop_first=False) takes the eigenvectors of
    the `n_components` smallest eigenvalues of L = I - D^-1/2 A D^-1/2, where scipy's `laplacian`
    ignores A's diagonal (self-loops), and returns them divided by sqrt(D). The same vectors are
    the eigenvectors of the LARGEST eigenvalues of M = D^-1/2 A D^-1/2 (A with a zero diagonal),
    which ARPACK finds from products with M alone: no factorisation, so M is built once, in
    float32, in place. Eigenvectors are defined up to sign and rotation within repeated
    eigenvalues, neither of which changes k-means' partition.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    affinity = abs_cosine_affinity(features, np.float32)
    np.fill_diagonal(affinity, 0.0)
    degree = affinity.sum(axis=1, dtype=np.float64)
    inv_sqrt = (1.0 / np.sqrt(np.maximum(degree, np.finfo(np.float64).tiny))).astype(np.float32)
    # Row then column scaling, in place: broadcasting with `*=` allocates no N x N temporary.
    affinity *= inv_sqrt[:, None]
    affinity *= inv_sqrt[None, :]
    n = affinity.shape[0]

    def matvec(vector: np.ndarray) -> np.ndarray:
        # A float64 vector would upcast the whole float32 matrix (an N x N float64 temporary).
        return affinity @ np.asarray(vector, dtype=np.float32).ravel()

    operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    start = np.random.default_rng(seed).uniform(-1.0, 1.0, n)  # as sklearn's _init_arpack_v0
    _, vectors = eigsh(operator, k=n_components, which="LA", tol=LEAN_EIGEN_TOL, v0=start)
    return vectors * inv_sqrt[:, None].astype(np.float64)


def lean_spectral_clusters(features: np.ndarray, n_clusters: int, *, seed: int, n_init: int = 10) -> np.ndarray:
    """Cluster ids: `lean_spectral_embedding` then k-means, as SpectralClustering does."""
    from sklearn.cluster import KMeans

    embedding = lean_spectral_embedding(features, n_clusters, seed=seed)
    return KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(embedding)


def spectral_clusters(features: np.ndarray, n_clusters: int, *, seed: int, n_init: int = 10,
                      dense_max_samples: int = DENSE_MAX_SAMPLES) -> tuple[np.ndarray, str]:
    """Cluster ids [N] and the path taken: "dense" (scikit-learn) or "lean" (above the limit)."""
    if len(features) <= dense_max_samples:
        return sklearn_spectral_clusters(features, n_clusters, seed=seed, n_init=n_init), "dense"
    return lean_spectral_clusters(features, n_clusters, seed=seed, n_init=n_init), "lean"


def contingency(labels: np.ndarray, clusters: np.ndarray, n_classes: int, n_clusters: int) -> np.ndarray:
    """counts[class, cluster]: how many samples of each class fell in each cluster."""
    flat = np.asarray(labels, dtype=np.int64) * n_clusters + np.asarray(clusters, dtype=np.int64)
    return np.bincount(flat, minlength=n_classes * n_clusters).reshape(n_classes, n_clusters)


def hungarian_matching(counts: np.ndarray) -> np.ndarray:
    """cluster -> class, one-to-one, maximising the matched count; -1 for a cluster left over."""
    from scipy.optimize import linear_sum_assignment

    classes, clusters = linear_sum_assignment(counts, maximize=True)
    mapping = np.full(counts.shape[1], -1, dtype=np.int64)
    mapping[clusters] = classes
    return mapping


def greedy_matching(counts: np.ndarray) -> np.ndarray:
    """cluster -> class as the authors' `permute_labels` computed it (paper preset).

    Their loop walks the class x cluster count matrix in descending order and gives each class,
    the first time it is met, that cell's cluster; clusters are never marked as taken. The first
    cell met for a class is its row maximum, so: every class picks its most frequent cluster,
    and several classes may pick the same one. Labels are then written class by class in
    ascending order (`permuted[prediction == perm[c]] = c`), so a cluster picked by several
    classes ends up labelled with the LARGEST of their indices, and a cluster no class picked
    keeps the array's initial value, label 0. Ties within a row go to the smallest cluster index
    (a stable sort); the authors' `np.argsort` (quicksort) left tie order unspecified.
    """
    counts = np.asarray(counts)
    mapping = np.zeros(counts.shape[1], dtype=np.int64)  # clusters no class picks: label 0
    for label, cluster in enumerate(np.argmax(counts, axis=1)):  # argmax: first maximum
        mapping[cluster] = label  # ascending: a later (larger) class overwrites an earlier one
    return mapping


MATCHING_FUNCTIONS = {"hungarian": hungarian_matching, "greedy": greedy_matching}


def matched_accuracy(labels: np.ndarray, clusters: np.ndarray, mapping: np.ndarray) -> float:
    """Fraction of samples whose cluster is mapped to their class."""
    return float(np.mean(mapping[clusters] == labels))


def score_clusters(labels: np.ndarray, clusters: np.ndarray, matchings: Sequence[str] = MATCHINGS
                   ) -> list[dict[str, Any]]:
    """One row `{"matching", "accuracy", "nmi", "ari", "n"}` per matching, from the same clusters."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    unknown = [m for m in matchings if m not in MATCHING_FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown matching(s) {unknown}; known: {', '.join(MATCHINGS)}")
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    counts = contingency(labels, clusters, int(labels.max()) + 1, int(clusters.max()) + 1)
    nmi = float(normalized_mutual_info_score(labels, clusters))
    ari = float(adjusted_rand_score(labels, clusters))
    return [{"matching": m, "accuracy": matched_accuracy(labels, clusters, MATCHING_FUNCTIONS[m](counts)),
             "nmi": nmi, "ari": ari, "n": int(labels.size)} for m in matchings]


def cluster_split(features: np.ndarray, labels: np.ndarray, *, seed: int, n_init: int = 10,
                  dense_max_samples: int = DENSE_MAX_SAMPLES, matchings: Sequence[str] = MATCHINGS
                  ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Cluster a split into as many clusters as it has classes; the cluster ids and score rows.

    The number of clusters is the number of distinct labels present (PROTOCOL.md: #classes; a
    class with no sample in the split could not be found anyway).
    """
    labels = np.asarray(labels)
    if np.ndim(features) != 2 or len(features) != labels.size:
        raise ValueError(f"features must be [n, D] with n = {labels.size} labels, got {np.shape(features)}")
    n_clusters = int(np.unique(labels).size)
    clusters, path = spectral_clusters(features, n_clusters, seed=seed, n_init=n_init,
                                       dense_max_samples=dense_max_samples)
    log.info("%d samples -> %d clusters (%s path)", labels.size, n_clusters, path)
    return clusters, score_clusters(labels, clusters, matchings)
