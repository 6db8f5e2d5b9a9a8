"""CKA in feature space against the n x n Gram formulas it avoids, and its invariances."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from helpers.imports import heavy_imports
from PIL import Image

from vlgen.report.plots_cka import plot_cka
from vlgen.report.plots_rsa import rsa_figure
from vlgen.tasks.cka import Representation, align_rows, aligned, cka_rows, debiased_cka, linear_cka, pair_cka


def gram_linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s HSIC form: tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)), with n x n Grams."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h)

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def gram_unbiased_hsic(k: np.ndarray, l_: np.ndarray) -> float:
    """Song et al. (2012), eq. 5, on zero-diagonal Grams, written out term by term."""
    n = len(k)
    k, l_ = k - np.diag(np.diag(k)), l_ - np.diag(np.diag(l_))
    one = np.ones(n)
    return (np.trace(k @ l_) + (one @ k @ one) * (one @ l_ @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ k @ l_ @ one) / (n * (n - 3))


def gram_debiased_cka(x: np.ndarray, y: np.ndarray) -> float:
    k, l_ = x @ x.T, y @ y.T  # uncentred on purpose: the unbiased estimator ignores a shift of the features
    return gram_unbiased_hsic(k, l_) / np.sqrt(gram_unbiased_hsic(k, k) * gram_unbiased_hsic(l_, l_))


def random_pair(rng, n=60, dx=7, dy=5):
    x = rng.normal(size=(n, dx)) + 3.0
    y = x[:, :dy] @ rng.normal(size=(dy, dy)) + rng.normal(size=(n, dy))
    return x, y


def test_linear_and_debiased_cka_equal_the_gram_formulas():
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, y = random_pair(rng)
        assert linear_cka(x, y) == pytest.approx(gram_linear_cka(x, y), rel=1e-10)
        assert debiased_cka(x, y) == pytest.approx(gram_debiased_cka(x, y), rel=1e-9)
        assert not np.isclose(linear_cka(x, y), debiased_cka(x, y))  # two different estimators


def test_row_blocks_do_not_change_the_result():
    x, y = random_pair(np.random.default_rng(1), n=103)
    whole = pair_cka(Representation.of("x", x), Representation.of("y", y))
    blocked = pair_cka(Representation.of("x", x, block=10), Representation.of("y", y, block=10), block=10)
    assert blocked == pytest.approx(whole, rel=1e-12)


def test_cka_is_one_for_a_rotation_and_an_isotropic_scaling():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 6))
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    y = 4.5 * x @ rotation + 2.0
    assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-12)
    assert debiased_cka(x, y) == pytest.approx(1.0, abs=1e-12)
    # an anisotropic scaling is not an invariance of CKA
    assert linear_cka(x, x * np.array([10, 1, 1, 1, 1, 0.1])) < 0.9


def test_alignment_by_sample_id_undoes_a_row_shuffle():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 4))
    ids = [f"img{i:03d}" for i in range(50)]
    perm = rng.permutation(50)
    shuffled, shuffled_ids = x[perm], [ids[i] for i in perm]
    assert linear_cka(x, shuffled) < 0.5  # without alignment the rows are other images
    stored_ids = np.asarray(shuffled_ids, dtype=np.dtypes.StringDType())  # how the store loads them
    rows = cka_rows([aligned("a", x, ids, ids), aligned("b", shuffled, stored_ids, ids)])
    assert rows[0]["linear_cka"] == pytest.approx(1.0, abs=1e-12)
    assert rows[0]["debiased_cka"] == pytest.approx(1.0, abs=1e-12)
    assert rows[0]["n"] == 50


def test_debiased_cka_of_independent_noise_is_near_zero():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(400, 50)), rng.normal(size=(400, 50))
    assert abs(debiased_cka(x, y)) < 0.02
    assert linear_cka(x, y) > 0.1  # the biased estimator is far from 0 with D/n this large


def test_features_over_other_images_are_refused_by_name():
    with pytest.raises(ValueError, match="features of CLIP are not over the same images"):
        align_rows(["a", "b", "c", "d"], ["a", "b", "c", "e"], "CLIP")
    with pytest.raises(ValueError, match="sample ids of CLIP are not unique"):
        align_rows(["a", "b", "c", "d"], ["a", "b", "c", "c"], "CLIP")
    with pytest.raises(ValueError, match="features of RN50 hold NaN"):
        Representation.of("RN50", np.full((5, 2), np.nan))


def test_float32_features_are_compared_in_float64():
    """Features are stored in float32; the sums run in float64 so a float32 copy gives the same CKA."""
    x, y = random_pair(np.random.default_rng(5), n=2000, dx=30, dy=20)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    assert linear_cka(x32, y32) == pytest.approx(gram_linear_cka(x32.astype(np.float64), y32.astype(np.float64)),
                                                rel=1e-10)


def test_cka_module_imports_no_torch():
    assert heavy_imports("vlgen.tasks.cka") == []


def test_cka_heatmap_is_ordered_like_figure3_without_text_models(tmp_path):
    """Figure 3's heatmap rows (dendrogram leaves), text model dropped; each cell holds its pair's CKA."""
    rng = np.random.default_rng(6)
    models = ["RN50", "minilm", "CLIP", "BiT", "SIN"]
    families = {"RN50": "vision", "BiT": "vision", "SIN": "vision", "CLIP": "vision-language", "minilm": "text"}
    points = rng.normal(size=(len(models), 3))
    rsa = pd.DataFrame([{"dataset": "digits", "model_a": models[a], "model_b": models[b], "method": "pearson",
                         "r": float(1 - np.linalg.norm(points[a] - points[b]) / 10)}
                        for a, b in combinations(range(len(models)), 2)])
    image_models = [m for m in models if m != "minilm"]
    values = {frozenset(p): rng.uniform(-0.05, 1) for p in combinations(image_models, 2)}
    cka = pd.DataFrame([{"dataset": "digits", "split": "test", "model_a": a, "model_b": b,
                         "linear_cka": values[frozenset((a, b))], "debiased_cka": values[frozenset((a, b))] / 2,
                         "n": 100} for a, b in combinations(image_models, 2)])
    paths = [tmp_path / "cka.png", tmp_path / "cka.pdf"]
    fig = plot_cka(cka, rsa, paths, models, families)
    figure3 = rsa_figure(rsa, models, families, perplexity=3, seed=0)
    figure3_rows = [t.get_text() for t in figure3.axes[2].get_yticklabels()]
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == [m for m in figure3_rows if m != "minilm"]
    matrix = fig.axes[0].images[0].get_array()
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            assert matrix[i, j] == pytest.approx(1.0 if a == b else values[frozenset((a, b))])
    assert fig.axes[1].images[0].get_array()[0, 1] == pytest.approx(values[frozenset(rows[:2])] / 2)
    with Image.open(paths[0]) as image:
        assert image.format == "PNG"
    assert paths[1].read_bytes().startswith(b"%PDF")
    with pytest.raises(ValueError, match="no linear_cka between"):
        plot_cka(cka.iloc[1:], rsa, paths, models, families)
