"""Spectral clustering and cluster matching against scikit-learn, scipy and hand-made tables."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.cluster import SpectralClustering
from sklearn.manifold import spectral_embedding
from sklearn.metrics import adjusted_rand_score

from helpers.imports import heavy_imports
from vlgen.tasks.clustering import (
    abs_cosine_affinity,
    cluster_split,
    contingency,
    greedy_matching,
    hungarian_matching,
    lean_spectral_clusters,
    lean_spectral_embedding,
    matched_accuracy,
    score_clusters,
    spectral_clusters,
)


def samples_from_counts(counts):
    """labels and cluster ids with exactly `counts[class, cluster]` samples in each cell."""
    labels, clusters = [], []
    for (label, cluster), n in np.ndenumerate(np.asarray(counts)):
        labels += [label] * n
        clusters += [cluster] * n
    return np.array(labels), np.array(clusters)


def authors_permute_labels(labels, clusters, n_labels):
    """The authors' `permute_labels`, transcribed loop for loop (stable sort for definite ties)."""
    congruence = np.zeros((n_labels, n_labels))
    for label in range(n_labels):
        for cluster in range(n_labels):
            congruence[label, cluster] = np.logical_and(labels == label, clusters == cluster).sum()
    perm = np.zeros(n_labels, dtype=int)
    done = []
    rows, cols = np.unravel_index(np.argsort(-congruence, axis=None, kind="stable"), congruence.shape)
    for label, cluster in zip(rows, cols):
        if len(done) == n_labels:
            break
        if label not in done:
            perm[label] = cluster
            done.append(label)
    permuted = np.zeros_like(clusters)
    for label in range(n_labels):
        permuted[clusters == perm[label]] = label
    return permuted


def blobs(n, n_classes, dim, spread, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    labels = rng.integers(0, n_classes, size=n)
    return (centres[labels] + spread * rng.normal(size=(n, dim))).astype(np.float32), labels


# -- matchings ---------------------------------------------------------------------------------
def test_greedy_is_not_one_to_one_and_unmatched_clusters_get_label_zero():
    # Classes 0 and 1 both have cluster 0 as their most frequent: both "take" it and class 1 (the
    # larger index, written last) keeps it. Cluster 1 is nobody's favourite: label 0.
    counts = [[5, 1, 0],
              [4, 2, 0],
              [0, 0, 3]]
    np.testing.assert_array_equal(greedy_matching(np.array(counts)), [1, 0, 2])
    labels, clusters = samples_from_counts(counts)
    # Correct: class 1 in cluster 0 (4), class 0 in cluster 1 (1), class 2 in cluster 2 (3).
    rows = {r["matching"]: r for r in score_clusters(labels, clusters)}
    assert rows["greedy"]["accuracy"] == pytest.approx(8 / 15)
    # One-to-one: 0->0 (5) and 1->1 (2) and 2->2 (3).
    assert rows["hungarian"]["accuracy"] == pytest.approx(10 / 15)


def test_greedy_lets_a_later_class_overwrite_and_label_zero_collect_leftovers():
    # Every class prefers cluster 2; clusters 0 and 1 fall back to label 0, cluster 2 to class 2.
    counts = [[1, 0, 6],
              [0, 2, 7],
              [3, 0, 9]]
    np.testing.assert_array_equal(greedy_matching(np.array(counts)), [0, 0, 2])
    labels, clusters = samples_from_counts(counts)
    assert matched_accuracy(labels, clusters, greedy_matching(np.array(counts))) == pytest.approx((1 + 0 + 9) / 28)


@pytest.mark.parametrize("seed", range(20))
def test_greedy_equals_the_authors_loop(seed):
    rng = np.random.default_rng(seed)
    n_labels = int(rng.integers(2, 8))
    labels = rng.integers(0, n_labels, 300)
    # Clusters correlated with labels, with confusions, so several classes share favourites.
    clusters = np.where(rng.uniform(size=300) < 0.5, labels, rng.integers(0, n_labels, 300))
    clusters = rng.permutation(n_labels)[clusters]
    counts = contingency(labels, clusters, n_labels, n_labels)
    expected = authors_permute_labels(labels, clusters, n_labels)
    np.testing.assert_array_equal(greedy_matching(counts)[clusters], expected)


def test_hungarian_is_perfect_on_a_relabelling_and_beats_every_other_bijection():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 200)
    perm = np.array([3, 0, 4, 1, 2])
    rows = {r["matching"]: r for r in score_clusters(labels, perm[labels])}
    assert rows["hungarian"]["accuracy"] == 1.0
    assert rows["hungarian"]["nmi"] == pytest.approx(1.0) and rows["hungarian"]["ari"] == pytest.approx(1.0)
    clusters = np.where(rng.uniform(size=200) < 0.6, perm[labels], rng.integers(0, 5, 200))
    best = max(np.mean(np.array(p)[clusters] == labels) for p in itertools.permutations(range(5)))
    counts = contingency(labels, clusters, 5, 5)
    assert matched_accuracy(labels, clusters, hungarian_matching(counts)) == pytest.approx(best)


def test_nmi_and_ari_equal_closed_forms():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 500)
    clusters = np.where(rng.uniform(size=500) < 0.7, labels, rng.integers(0, 4, 500))
    rows = score_clusters(labels, clusters)
    p = contingency(labels, clusters, 4, 4) / 500
    pu, pv = p.sum(1), p.sum(0)
    mutual = np.sum(p[p > 0] * np.log(p[p > 0] / np.outer(pu, pv)[p > 0]))
    entropy = lambda q: -np.sum(q[q > 0] * np.log(q[q > 0]))  # noqa: E731
    nmi = mutual / ((entropy(pu) + entropy(pv)) / 2)  # scikit-learn's default: arithmetic mean
    comb = lambda x: x * (x - 1) / 2  # noqa: E731
    n_ij = contingency(labels, clusters, 4, 4)
    index, a, b = comb(n_ij).sum(), comb(n_ij.sum(1)).sum(), comb(n_ij.sum(0)).sum()
    expected_index = a * b / comb(500)
    ari = (index - expected_index) / ((a + b) / 2 - expected_index)
    for row in rows:
        assert row["nmi"] == pytest.approx(nmi) and row["ari"] == pytest.approx(ari) and row["n"] == 500
    assert [r["matching"] for r in rows] == ["hungarian", "greedy"]


def test_unknown_matching_is_named():
    with pytest.raises(ValueError, match="'bogus'"):
        score_clusters(np.array([0, 1]), np.array([1, 0]), ["bogus"])


# -- spectral clustering -------------------------------------------------------------------------
def test_affinity_is_abs_cosine():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(abs_cosine_affinity(x), np.abs(unit @ unit.T), atol=1e-6)
    assert abs_cosine_affinity(x, np.float32).dtype == np.float32


def test_dense_path_is_sklearn_spectral_clustering():
    x, _ = blobs(400, 4, 16, 2.0, seed=4)
    clusters, path = spectral_clusters(x, 4, seed=0)
    unit = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    expected = SpectralClustering(4, affinity="precomputed", random_state=0).fit_predict(np.abs(unit @ unit.T))
    assert path == "dense"
    assert adjusted_rand_score(clusters, expected) == pytest.approx(1.0)


def test_lean_embedding_spans_sklearns_embedding():
    x, _ = blobs(300, 5, 12, 1.5, seed=5)
    lean = lean_spectral_embedding(x, 5, seed=0)
    reference = spectral_embedding(abs_cosine_affinity(x), n_components=5, drop_first=False, random_state=0)
    # Same subspace: the projection of each basis onto the other keeps its whole norm
    # (cosines of the principal angles all 1).
    q_lean, _ = np.linalg.qr(lean)
    q_ref, _ = np.linalg.qr(reference)
    np.testing.assert_allclose(np.linalg.svd(q_lean.T @ q_ref, compute_uv=False), 1.0, atol=1e-4)


@pytest.mark.slow
def test_lean_path_agrees_with_sklearn_on_3000_points():
    x, labels = blobs(3000, 10, 64, 3.0, seed=6)  # overlapping classes: an imperfect clustering
    dense, path = spectral_clusters(x, 10, seed=0)
    lean, lean_path = spectral_clusters(x, 10, seed=0, dense_max_samples=2999)
    assert (path, lean_path) == ("dense", "lean")
    assert adjusted_rand_score(dense, lean) >= 0.99
    assert 0.2 < adjusted_rand_score(labels, dense) < 0.99  # not trivial


def test_both_paths_recover_separated_blobs():
    x, labels = blobs(600, 6, 32, 0.2, seed=7)
    for limit in (15_000, 10):
        clusters, rows = cluster_split(x, labels, seed=0, dense_max_samples=limit)
        assert adjusted_rand_score(labels, clusters) == pytest.approx(1.0)
        assert [r["accuracy"] for r in rows] == [1.0, 1.0]
    assert adjusted_rand_score(labels, lean_spectral_clusters(x, 6, seed=1)) == pytest.approx(1.0)


def test_cluster_count_is_class_count():
    x, labels = blobs(200, 3, 8, 0.2, seed=8)
    clusters, rows = cluster_split(x, labels + 2, seed=0)  # labels 2..4: three classes
    assert np.unique(clusters).size == 3 and rows[0]["n"] == 200


def test_task_modules_do_not_import_torch():
    assert heavy_imports("vlgen.tasks.clustering", "vlgen.tasks.probe", "vlgen.report.generalization", "vlgen.report.plots") == []
