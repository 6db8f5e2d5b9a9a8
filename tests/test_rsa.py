"""RSA: RDMs against direct loops of PROTOCOL.md's formulas, comparisons against scipy, Figure 3."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy import stats
from scipy.cluster.hierarchy import fcluster

from helpers.imports import heavy_imports
from vlgen.config import ConfigError, load_config
from vlgen.report.plots_rsa import plot_rsa, plot_stability, rsa_figure
from vlgen.tasks.rdm import class_stats, image_rdm, vector_rdm, welch_rdm
from vlgen.tasks.rdm_bootstrap import ResampledEntries, bootstrap_correlations, class_resamples, uncertainty_rows
from vlgen.tasks.rdm_compare import (
    Rdm,
    check_comparable,
    class_permutations,
    correlation_rows,
    permuted_correlations,
    similarity_matrix,
    upper_triangle,
)
from vlgen.tasks.rsa import (
    RdmMethod,
    dendrogram_order,
    load_rdm,
    model_distances,
    model_linkage,
    model_rdm,
    model_tsne,
    rdm_method,
    rdm_split,
    rsa_datasets,
    save_rdm,
)
from vlgen.tasks.rsa_interop import COMPARE_METHODS, SAME_AS_OURS, compare, export_hdf5, to_rsatoolbox

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"splits": ["test"], "preset": "paper", "std_epsilon": 1e-6, "image_distance": "welch",
            "text_distance": "euclidean", "method": "pearson", "permutations": 99, "seed": 0}


def labelled_features(rng, n_classes=5, dim=6, per_class=(3, 9)):
    """Class clouds of unequal size and spread, so every term of the Welch formula matters."""
    counts = rng.integers(*per_class, size=n_classes)
    labels = rng.permutation(np.repeat(np.arange(n_classes), counts))
    centres = rng.normal(size=(n_classes, dim))
    spread = rng.uniform(0.2, 2.0, size=(n_classes, 1))
    features = centres[labels] + spread[labels] * rng.normal(size=(len(labels), dim))
    return features.astype(np.float32), labels


def reference_welch(features, labels, n_classes, per_dim, epsilon=0.0):
    """PROTOCOL.md's RDM written out pair by pair, in float64."""
    unit = [np.asarray(f, np.float64) / np.linalg.norm(np.asarray(f, np.float64)) for f in features]
    groups = [np.array([u for u, y in zip(unit, labels) if y == k]) for k in range(n_classes)]
    rdm = np.zeros((n_classes, n_classes))
    for i in range(n_classes):
        for j in range(n_classes):
            if i == j:
                continue
            gi, gj = groups[i], groups[j]
            if per_dim:
                si, sj = np.std(gi, axis=0) + epsilon, np.std(gj, axis=0) + epsilon
            else:
                si, sj = np.std(gi), np.std(gj)
            t = (gi.mean(axis=0) - gj.mean(axis=0)) / np.sqrt(si**2 / len(gi) + sj**2 / len(gj))
            rdm[i, j] = np.sqrt(np.sum(t**2))
    return rdm


def triangle(matrix):
    n = len(matrix)
    return np.array([matrix[i, j] for i in range(n) for j in range(i + 1, n)])


def random_rdm(rng, n_classes, dim=4):
    points = rng.normal(size=(n_classes, dim))
    return np.linalg.norm(points[:, None] - points[None], axis=2)


# -- RDMs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["paper", "per_dim"])
def test_welch_rdm_matches_the_formula(preset):
    features, labels = labelled_features(np.random.default_rng(0))
    rdm = image_rdm(features, labels, 5, distance="welch", preset=preset, std_epsilon=1e-6)
    expected = reference_welch(features, labels, 5, per_dim=preset == "per_dim", epsilon=1e-6)
    np.testing.assert_allclose(rdm, expected, rtol=1e-5, atol=1e-9)
    assert np.all(np.diag(rdm) == 0) and np.allclose(rdm, rdm.T)


def test_scalar_std_welch_is_rescaled_euclidean():
    features, labels = labelled_features(np.random.default_rng(1))
    welch = image_rdm(features, labels, 5, distance="welch", preset="paper")
    euclidean = image_rdm(features, labels, 5, distance="euclidean")
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    var = np.array([unit[labels == k].std() ** 2 / np.sum(labels == k) for k in range(5)])
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(welch[off], (euclidean / np.sqrt(var[:, None] + var[None]))[off], rtol=1e-5)


def test_welch_ignores_feature_scale_but_not_direction():
    features, labels = labelled_features(np.random.default_rng(2))
    scaled = features * np.random.default_rng(3).uniform(0.1, 10, size=(len(features), 1)).astype(np.float32)
    base = image_rdm(features, labels, 5, distance="welch", preset="paper")
    np.testing.assert_allclose(image_rdm(scaled, labels, 5, distance="welch", preset="paper"), base, rtol=1e-4)


def test_per_dim_constant_dimension_adds_nothing_without_epsilon():
    rng = np.random.default_rng(4)
    features, labels = labelled_features(rng)
    features[:, 0] = 0.0  # a dead unit: zero in every image of every class
    rdm = image_rdm(features, labels, 5, distance="welch", preset="per_dim", std_epsilon=0.0)
    reference = reference_welch(np.delete(features, 0, axis=1), labels, 5, per_dim=True)
    # normalisation is over all dims, and the dead one contributes 0 to the norm: same unit vectors
    np.testing.assert_allclose(rdm, reference, rtol=1e-5)


@pytest.mark.parametrize("distance", ["euclidean", "cosine", "correlation"])
def test_text_rdm_is_a_plain_distance_between_class_vectors(distance):
    vectors = np.random.default_rng(5).normal(size=(6, 8))
    rdm = vector_rdm(vectors, distance)
    for i, j in combinations(range(6), 2):
        a, b = vectors[i], vectors[j]
        expected = {"euclidean": np.sqrt(np.sum((a - b) ** 2)),
                    "cosine": 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)),
                    "correlation": 1 - np.corrcoef(a, b)[0, 1]}[distance]
        assert rdm[i, j] == pytest.approx(expected) and rdm[j, i] == pytest.approx(expected)


def test_text_model_rows_follow_labels_and_stay_unnormalised():
    vectors = np.random.default_rng(6).normal(size=(4, 3)) * np.array([[1], [5], [0.1], [2]])
    order = np.array([2, 0, 3, 1])  # rows stored out of label order
    rdm = model_rdm(vectors[order], order, 4, rdm_method(SETTINGS, is_text=True))
    np.testing.assert_allclose(rdm, np.linalg.norm(vectors[:, None] - vectors[None], axis=2))


def test_rdm_method_per_model_kind():
    assert rdm_method(SETTINGS, is_text=True) == RdmMethod("euclidean", "none", per_image=False)
    assert rdm_method(SETTINGS, is_text=False) == RdmMethod("welch", "paper", per_image=True, std_epsilon=0.0)
    per_dim = rdm_method({**SETTINGS, "preset": "per_dim"}, is_text=False)
    assert per_dim.std_epsilon == 1e-6
    assert rdm_method({**SETTINGS, "image_distance": "cosine"}, is_text=False).preset == "none"


def test_a_class_without_images_is_an_error():
    features, labels = labelled_features(np.random.default_rng(7))
    with pytest.raises(ValueError, match=r"classes \[5\] have no image"):
        class_stats(features, labels, 6, "paper")


def test_classes_without_spread_have_no_welch_statistic():
    # Scalar std: a class whose unit vectors are all constant across dimensions has std 0.
    flat = np.array([[1.0, 1, 1, 1], [-1, -1, -1, -1], [1, 2, 3, 4], [4, 3, 2, 1]])
    with pytest.raises(ValueError, match="classes 0 and 1 both have zero spread"):
        welch_rdm(class_stats(flat, np.array([0, 1, 2, 2]), 3, "paper"))
    # Per-dimension std: one image per class has std 0 in every dimension; the epsilon repairs it.
    single = np.random.default_rng(8).normal(size=(3, 4))
    with pytest.raises(ValueError, match="set rsa.std_epsilon > 0"):
        welch_rdm(class_stats(single, np.arange(3), 3, "per_dim"))
    assert np.isfinite(welch_rdm(class_stats(single, np.arange(3), 3, "per_dim"), std_epsilon=1e-6)).all()


def test_rdm_file_round_trip(tmp_path):
    rdm = random_rdm(np.random.default_rng(9), 4)
    path = tmp_path / "rdm.npz"
    save_rdm(path, rdm, ["a", "b", "c", "d"], rdm_method(SETTINGS, is_text=False), feature_key="k", split="test")
    loaded = load_rdm(path, "model")
    np.testing.assert_array_equal(loaded.matrix, rdm)
    assert loaded.classes == ("a", "b", "c", "d") and loaded.model == "model"
    with np.load(path) as data:
        assert str(data["preset"]) == "paper" and str(data["distance"]) == "welch"


# -- comparisons -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlations_equal_scipy(method):
    rng = np.random.default_rng(10)
    matrices = [random_rdm(rng, 7) for _ in range(3)]
    rows = correlation_rows([Rdm(f"m{i}", m, tuple("abcdefg")) for i, m in enumerate(matrices)], method, 0, 0)
    scipy_fn = stats.pearsonr if method == "pearson" else stats.spearmanr
    assert [(r["model_a"], r["model_b"]) for r in rows] == [("m0", "m1"), ("m0", "m2"), ("m1", "m2")]
    for row, (a, b) in zip(rows, combinations(range(3), 2)):
        expected = scipy_fn(triangle(matrices[a]), triangle(matrices[b]))
        assert row["r"] == pytest.approx(expected.statistic, abs=1e-12)
        assert row["p_parametric"] == pytest.approx(expected.pvalue, rel=1e-9)
        assert np.isnan(row["p_permutation"]) and row["method"] == method


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_null_distribution_equals_explicit_class_permutations(method):
    rng = np.random.default_rng(11)
    a, b = random_rdm(rng, 6), random_rdm(rng, 6)
    null = permuted_correlations([a, b], method, 20, seed=3)
    scipy_fn = stats.pearsonr if method == "pearson" else stats.spearmanr
    for k, perm in enumerate(class_permutations(6, 20, seed=3)):
        permuted = b[np.ix_(perm, perm)]  # rows and columns together
        assert null[k, 0, 1] == pytest.approx(scipy_fn(triangle(a), triangle(permuted)).statistic, abs=1e-12)


def test_permutation_p_is_small_for_the_same_structure():
    rng = np.random.default_rng(12)
    base = random_rdm(rng, 12)
    noisy = base + 0.05 * np.abs(rng.normal(size=base.shape))
    noisy = (noisy + noisy.T) / 2
    np.fill_diagonal(noisy, 0)
    row = correlation_rows([Rdm("a", base, tuple("abcdefghijkl")), Rdm("b", noisy, tuple("abcdefghijkl"))],
                           "pearson", 199, 0)[0]
    assert row["r"] > 0.9
    assert row["p_permutation"] == pytest.approx(1 / 200)


def test_permutation_p_is_uniform_for_unrelated_rdms():
    rng = np.random.default_rng(13)
    classes = tuple("abcdefgh")
    p_values = [correlation_rows([Rdm("a", random_rdm(rng, 8), classes), Rdm("b", random_rdm(rng, 8), classes)],
                                 "pearson", 99, seed)[0]["p_permutation"] for seed in range(300)]
    assert 0.4 < np.mean(p_values) < 0.6
    # p-values live on a grid of 1/100: compare with the uniform distribution at grid resolution
    assert stats.kstest(p_values, "uniform").statistic < 0.1


def test_p_values_of_a_pair_do_not_depend_on_other_models():
    rng = np.random.default_rng(14)
    classes = tuple("abcdef")
    rdms = [Rdm(f"m{i}", random_rdm(rng, 6), classes) for i in range(3)]
    pair = correlation_rows(rdms[:2], "spearman", 50, 1)[0]
    trio = correlation_rows(rdms, "spearman", 50, 1)[0]
    assert pair == trio


def test_incomparable_rdms_are_errors_naming_the_models():
    rng = np.random.default_rng(15)
    good = Rdm("RN50", random_rdm(rng, 4), ("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="RN50 and CLIP.*class orders.*row 1: 'b' vs 'c'"):
        check_comparable([good, Rdm("CLIP", random_rdm(rng, 4), ("a", "c", "b", "d"))])
    with pytest.raises(ValueError, match="RN50 and BERT.*4 vs 3 classes"):
        check_comparable([good, Rdm("BERT", random_rdm(rng, 3), ("a", "b", "c"))])
    broken = random_rdm(rng, 4)
    broken[0, 1] = broken[1, 0] = np.nan
    with pytest.raises(ValueError, match="RDM of GPT-2 holds NaN"):
        correlation_rows([good, Rdm("GPT-2", broken, good.classes)], "pearson", 10, 0)
    with pytest.raises(ValueError, match="RDM of flat is constant"):
        check_comparable([good, Rdm("flat", 1 - np.eye(4), good.classes)])


# -- model structure (Figure 3) --------------------------------------------------------------------
def two_group_rows(rng, per_group=3, n_classes=10, noise=0.3):
    """RDMs of two families of models: each a noisy copy of its family's structure."""
    bases = [random_rdm(rng, n_classes), random_rdm(rng, n_classes)]
    rdms = []
    for g, base in enumerate(bases):
        for i in range(per_group):
            noisy = base + noise * np.abs(rng.normal(size=base.shape))
            noisy = (noisy + noisy.T) / 2
            np.fill_diagonal(noisy, 0)
            rdms.append(Rdm(f"g{g}-{i}", noisy, tuple(map(str, range(n_classes)))))
    return correlation_rows(rdms, "pearson", 0, 0), [r.model for r in rdms]


def test_dendrogram_separates_two_groups_of_models():
    rows, models = two_group_rows(np.random.default_rng(16))
    rng = np.random.default_rng(17)
    shuffled = [models[i] for i in rng.permutation(len(models))]
    similarity = similarity_matrix(rows, shuffled)
    clusters = fcluster(model_linkage(similarity), 2, criterion="maxclust")
    groups = {model[:2] for model in shuffled}
    for group in groups:
        assert len({c for c, m in zip(clusters, shuffled) if m.startswith(group)}) == 1
    assert len(set(clusters)) == 2
    leaves = [shuffled[i][:2] for i in dendrogram_order(similarity)]
    assert leaves in (["g0"] * 3 + ["g1"] * 3, ["g1"] * 3 + ["g0"] * 3)


def test_tsne_puts_each_model_next_to_its_group():
    rows, models = two_group_rows(np.random.default_rng(18))
    coords = model_tsne(similarity_matrix(rows, models), perplexity=3, seed=0)
    assert coords.shape == (6, 2)
    np.testing.assert_array_equal(coords, model_tsne(similarity_matrix(rows, models), perplexity=3, seed=0))
    distances = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    for i, model in enumerate(models):
        assert models[int(distances[i].argmin())][:2] == model[:2]
    assert model_tsne(similarity_matrix(rows, models[:3]), perplexity=3, seed=0) is None


def test_tsne_learning_rate_is_the_configured_one():
    """The paper preset's t-SNE uses the authors' learning rate 200 (scikit-learn's default in 2021)."""
    from sklearn.manifold import TSNE

    rows, models = two_group_rows(np.random.default_rng(18))
    similarity = similarity_matrix(rows, models)
    assert load_config([], ROOT).section("rsa")["tsne_learning_rate"] == 200
    expected = TSNE(n_components=2, metric="precomputed", perplexity=3, init="random", learning_rate=200,
                    random_state=0).fit_transform(model_distances(similarity))
    np.testing.assert_allclose(model_tsne(similarity, perplexity=3, seed=0, learning_rate=200), expected)
    assert not np.allclose(model_tsne(similarity, perplexity=3, seed=0, learning_rate="auto"), expected)


def test_correlation_rows_say_how_each_pair_of_rdms_was_made(tmp_path):
    rng = np.random.default_rng(20)
    classes = ("a", "b", "c", "d", "e")
    image, text = rdm_method(SETTINGS, is_text=False), rdm_method(SETTINGS, is_text=True)
    for model, method in (("RN50", image), ("CLIP", image), ("BERT", text)):
        save_rdm(tmp_path / f"{model}.npz", random_rdm(rng, 5), classes, method)
    rdms = [load_rdm(tmp_path / f"{m}.npz", m) for m in ("RN50", "CLIP", "BERT")]
    rows = {(r["model_a"], r["model_b"]): (r["preset"], r["distance"]) for r in correlation_rows(rdms, "pearson", 0, 0)}
    assert rows == {("RN50", "CLIP"): ("paper", "welch"), ("RN50", "BERT"): ("paper/none", "welch/euclidean"),
                    ("CLIP", "BERT"): ("paper/none", "welch/euclidean")}


@pytest.mark.slow
def test_rsa_figure_panels_and_files(tmp_path):
    rows, models = two_group_rows(np.random.default_rng(19))
    table = pd.concat([pd.DataFrame(rows).assign(dataset=d) for d in ("digits", "imagenet-val")])
    families = {m: "vision" if m.startswith("g0") else "text" for m in models}
    paths = [tmp_path / "fig3_rsa.png", tmp_path / "fig3_rsa.pdf"]
    fig = plot_rsa(table, paths, models, families, perplexity=3, seed=0)
    # per dataset: dendrogram, t-SNE, heatmap and the heatmap's colour bar
    assert len(fig.axes) == 2 * 4
    dendrogram_labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(dendrogram_labels) == sorted(models)
    with Image.open(paths[0]) as image:
        assert image.format == "PNG"
    assert paths[1].read_bytes().startswith(b"%PDF")
    small = table[table["model_a"].isin(models[:3]) & table["model_b"].isin(models[:3])]
    assert len(rsa_figure(small, models, families, perplexity=3, seed=0).axes) == 2 * 3  # no t-SNE


# -- bootstrap over classes -------------------------------------------------------------------------
def family_rdms(rng, n_classes, per_group=2, noise=0.6, dim=4):
    """Two families of models, each member a noisy copy of its family's points: realistic r between 0 and 1."""
    rdms = []
    for g in range(2):
        points = rng.normal(size=(n_classes, dim))
        for i in range(per_group):
            noisy = points + noise * rng.normal(size=points.shape)
            rdms.append(Rdm(f"g{g}-{i}", np.linalg.norm(noisy[:, None] - noisy[None], axis=2),
                            tuple(map(str, range(n_classes)))))
    return rdms


def test_resampled_entries_drop_only_pairs_of_one_class():
    rng = np.random.default_rng(30)
    rdm = random_rdm(rng, 6)
    classes = np.array([2, 0, 2, 5, 0, 1])
    expected = [rdm[classes[i], classes[j]] for i in range(6) for j in range(i + 1, 6) if classes[i] != classes[j]]
    assert ResampledEntries([rdm, 2 * rdm])(classes).tolist() == [[e, 2 * e] for e in expected]
    assert len(expected) == 15 - 2  # the pairs (2, 2) and (0, 0)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_bootstrap_r_equals_scipy_on_each_resample(method):
    rdms = [r.matrix for r in family_rdms(np.random.default_rng(31), 12)]
    boot = bootstrap_correlations(rdms, method, resamples=3, seed=5)
    correlate = stats.pearsonr if method == "pearson" else stats.spearmanr
    for k, classes in enumerate(class_resamples(12, 3, 5)):
        entries = ResampledEntries(rdms)(classes)
        assert boot[k, 0, 2] == pytest.approx(correlate(entries[:, 0], entries[:, 2]).statistic, abs=1e-12)


def interval_widths(n_classes, seed):
    intervals, _ = uncertainty_rows(family_rdms(np.random.default_rng(seed), n_classes), "pearson", 200, seed)
    return np.array([row["ci_high"] - row["ci_low"] for row in intervals])


def test_bootstrap_intervals_contain_r_and_are_reproducible():
    rdms = family_rdms(np.random.default_rng(32), 30)
    table = pd.DataFrame(correlation_rows(rdms, "pearson", 0, 0))
    intervals, clades = uncertainty_rows(rdms, "pearson", 300, seed=1)
    merged = table.merge(pd.DataFrame(intervals), on=["model_a", "model_b"])
    assert len(merged) == 6
    assert ((merged["ci_low"] < merged["r"]) & (merged["r"] < merged["ci_high"])).all(), merged
    assert uncertainty_rows(rdms, "pearson", 300, seed=1) == (intervals, clades)
    assert uncertainty_rows(rdms, "pearson", 300, seed=2)[0] != intervals


def test_bootstrap_intervals_shrink_with_more_classes():
    few = np.mean([interval_widths(15, seed).mean() for seed in range(3)])
    many = np.mean([interval_widths(120, seed).mean() for seed in range(3)])
    assert many < 0.6 * few, (few, many)


def test_clade_support_is_high_for_separate_families_and_names_each_clade():
    rdms = family_rdms(np.random.default_rng(33), 40, per_group=3, noise=0.3)
    _, clades = uncertainty_rows(rdms, "pearson", 100, seed=0)
    support = {row["clade"]: row["support"] for row in clades}
    assert support["g0-0;g0-1;g0-2"] > 0.95 and support["g1-0;g1-1;g1-2"] > 0.95
    assert len(support) == len(rdms) - 2  # internal nodes of a binary tree over 6 leaves, root excluded
    assert all(0 <= value <= 1 for value in support.values())


def test_without_resamples_the_intervals_are_empty():
    intervals, clades = uncertainty_rows(family_rdms(np.random.default_rng(34), 8), "pearson", 0, seed=0)
    assert all(np.isnan(row["ci_low"]) and np.isnan(row["ci_high"]) for row in intervals)
    assert clades and all(np.isnan(row["support"]) for row in clades)


def test_stability_figure_writes_support_at_the_nodes_and_the_intervals(tmp_path):
    rdms = family_rdms(np.random.default_rng(35), 20, per_group=3, noise=0.3)
    intervals, clades = uncertainty_rows(rdms, "pearson", 50, seed=0)
    table = pd.DataFrame(correlation_rows(rdms, "pearson", 0, 0)).merge(pd.DataFrame(intervals)).assign(dataset="digits")
    clade_table = pd.DataFrame(clades).assign(dataset="digits")
    models = [r.model for r in rdms]
    families = {m: "vision" if m.startswith("g0") else "text" for m in models}
    paths = [tmp_path / "stability.png", tmp_path / "stability.pdf"]
    fig = plot_stability(table, clade_table, paths, models, families)
    labels = sorted(t.get_text() for t in fig.axes[0].texts)
    assert labels == sorted(f"{row['support']:.0%}" for row in clades)
    pairs = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert len(pairs) == 15
    assert pairs[-1] == "{model_a} / {model_b}".format(**table.sort_values("r").iloc[-1])
    with Image.open(paths[0]) as image:
        assert image.format == "PNG"


# -- rsatoolbox -------------------------------------------------------------------------------------
def saved_rdms(tmp_path, rdms, dataset="digits"):
    """The RDMs written where and how the workflow writes them: rsa/rdms/{model}/{dataset}.npz."""
    paths = []
    for rdm in rdms:
        (tmp_path / rdm.model).mkdir(exist_ok=True)
        paths.append(tmp_path / rdm.model / f"{dataset}.npz")
        method = RdmMethod("euclidean", "none", per_image=False) if rdm.model == "minilm" else \
            RdmMethod("welch", "paper", per_image=True)
        save_rdm(paths[-1], rdm.matrix, rdm.classes, method)
    return paths


def test_rsatoolbox_round_trip_keeps_dissimilarities_and_descriptors(tmp_path):
    from rsatoolbox.rdm import load_rdm as rsatoolbox_load

    rdms = family_rdms(np.random.default_rng(40), 7)
    rdms[-1] = Rdm("minilm", rdms[-1].matrix, rdms[-1].classes)
    paths = saved_rdms(tmp_path, rdms)
    out = export_hdf5(paths, tmp_path / "rdms_digits.hdf5")
    loaded = rsatoolbox_load(str(out))
    for index, rdm in enumerate(rdms):
        assert np.array_equal(loaded.dissimilarities[index], upper_triangle(rdm.matrix))
    assert np.array_equal(loaded.get_matrices(), np.stack([r.matrix for r in rdms]))
    descriptors = {k: [str(v) for v in values] for k, values in loaded.rdm_descriptors.items() if k != "index"}
    assert descriptors == {"model": ["g0-0", "g0-1", "g1-0", "minilm"], "dataset": ["digits"] * 4,
                           "preset": ["paper", "paper", "paper", "none"],
                           "distance": ["welch", "welch", "welch", "euclidean"]}
    assert [str(c) for c in loaded.pattern_descriptors["class"]] == list(rdms[0].classes)
    assert not (tmp_path / "rdms_digits.hdf5.partial").exists()


@pytest.mark.parametrize("ours", ["pearson", "spearman"])
def test_our_correlations_equal_rsatoolbox_ties_included(tmp_path, ours):
    rdms = [Rdm(r.model, np.round(r.matrix, 1), r.classes) for r in family_rdms(np.random.default_rng(41), 12)]
    assert len(np.unique(upper_triangle(rdms[0].matrix))) < len(upper_triangle(rdms[0].matrix))  # ties
    theirs = compare(to_rsatoolbox(saved_rdms(tmp_path, rdms)), SAME_AS_OURS[ours])
    models = [rdm.model for rdm in rdms]
    for row in correlation_rows(rdms, ours, 0, 0):
        a, b = models.index(row["model_a"]), models.index(row["model_b"])
        assert row["r"] == pytest.approx(theirs[a, b], abs=1e-12)


def test_every_offered_rsatoolbox_comparison_runs_and_cosine_is_the_triangles_cosine(tmp_path):
    rdms = family_rdms(np.random.default_rng(42), 9)
    toolbox = to_rsatoolbox(saved_rdms(tmp_path, rdms))
    for method in COMPARE_METHODS:
        similarity = compare(toolbox, method)
        assert similarity.shape == (4, 4) and np.isfinite(similarity).all(), method
    x, y = upper_triangle(rdms[0].matrix), upper_triangle(rdms[3].matrix)
    assert compare(toolbox, "cosine")[0, 3] == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
    with pytest.raises(ValueError, match="unknown rsatoolbox comparison 'kendall'"):
        compare(toolbox, "kendall")


def test_rdms_over_other_classes_are_not_one_rsatoolbox_object(tmp_path):
    rdms = family_rdms(np.random.default_rng(43), 5)
    rdms[1] = Rdm(rdms[1].model, rdms[1].matrix, tuple("abcde"))
    with pytest.raises(ValueError, match="RDMs of g0-0 and g0-1 are over different classes"):
        to_rsatoolbox(saved_rdms(tmp_path, rdms))


def test_rsatoolbox_is_imported_only_when_used():
    assert heavy_imports("vlgen.tasks.rsa_interop", then="assert 'rsatoolbox' not in sys.modules") == []


# -- configuration ---------------------------------------------------------------------------------
def run_with(tmp_path, override, base="demo.yaml"):
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(override))
    return load_config([ROOT / "config" / base, path], ROOT)


def demo_models_on(tmp_path, **rsa):
    """The demo's selection without the demo's `rsa.datasets` (a merged config cannot unset a key)."""
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    return run_with(tmp_path, {**{k: demo[k] for k in ("run", "models", "datasets")}, "rsa": rsa}, "config.yaml")


def test_demo_runs_rsa_on_digits_with_the_text_model_on_its_class_list(tmp_path):
    demo = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    assert rsa_datasets(demo) == ["digits"]
    assert rdm_split(demo, "resnet18-random", "digits") == "test"
    assert rdm_split(demo, "minilm", "digits") == "classes"
    assert rsa_datasets(demo_models_on(tmp_path)) == ["digits", "shapes"]  # default: every dataset with a test split


def test_rsa_datasets_must_be_in_the_run_with_an_rsa_split(tmp_path):
    with pytest.raises(ConfigError, match="rsa.datasets: 'mnist' is not one of the run's datasets"):
        rsa_datasets(run_with(tmp_path, {"rsa": {"datasets": ["mnist"]}}))
    with pytest.raises(ConfigError, match="'digits' .* split in rsa.splits \\(val\\)"):
        rsa_datasets(run_with(tmp_path, {"rsa": {"splits": ["val"]}}))
    assert rsa_datasets(demo_models_on(tmp_path, splits=["val"])) == []


def test_unknown_rsa_setting_is_named(tmp_path):
    with pytest.raises(ConfigError, match="rsa.*'presets'"):
        run_with(tmp_path, {"rsa": {"presets": "paper"}})


def test_rsa_modules_do_not_import_torch():
    assert heavy_imports("vlgen.tasks.rsa", "vlgen.tasks.rdm_bootstrap", "vlgen.report.plots_rsa",
                         "vlgen.report.plots_cka", "vlgen.report.summary", "vlgen.report.claims") == []
