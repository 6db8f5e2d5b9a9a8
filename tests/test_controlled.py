"""The controlled experiment's analysis: paired statistics over seeds, evaluation on label views."""

import itertools
import math
import re

import numpy as np
import pandas as pd
import pytest

from vlgen.tasks.paired import (TABLE_COLUMNS, effect_size, paired, paired_table, recipe_summary, sign_flip_floor,
                                sign_flip_p)
from vlgen.tasks.views import view_labels, view_rows


def enumerated_p(diffs):
    """The sign-flip p written out the slow way: every assignment of signs, one by one."""
    observed = abs(sum(diffs))
    extreme = sum(abs(sum(s * d for s, d in zip(signs, diffs))) >= observed - 1e-12
                  for signs in itertools.product((1, -1), repeat=len(diffs)))
    return extreme / 2 ** len(diffs)


@pytest.mark.parametrize("diffs, expected", [
    ([0.1, 0.2, 0.3], 2 / 8),  # all positive, n=3: only the identity and its mirror reach |0.6|
    ([0.05, 0.02, 0.04, 0.01, 0.03, 0.06], 2 / 64),  # the floor for 6 seeds
    ([5.0, -1.0], 1.0),  # |5-1| = 4 is the smallest of |±5±1|
    ([0.0, 0.0, 0.0], 1.0),  # no difference at all
    ([1.0, 0.0, 1.0], 4 / 8),  # a zero difference doubles every count: floor 2 * 2/2^n
])
def test_sign_flip_p_known_answers(diffs, expected):
    assert sign_flip_p(diffs) == pytest.approx(expected)
    assert sign_flip_p(diffs) == pytest.approx(enumerated_p(diffs))


def test_sign_flip_p_matches_enumeration_on_random_differences():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 8):
        diffs = list(rng.normal(0.02, 0.05, size=n))
        assert sign_flip_p(diffs) == pytest.approx(enumerated_p(diffs))
        assert sign_flip_p(diffs) >= sign_flip_floor(n)
    assert sign_flip_floor(3) == 0.25 and sign_flip_floor(6) == 1 / 32


def test_sign_flip_p_refuses_what_it_cannot_enumerate():
    with pytest.raises(ValueError, match="non-empty"):
        sign_flip_p([])
    with pytest.raises(ValueError, match="finite"):
        sign_flip_p([0.1, math.nan])
    with pytest.raises(ValueError, match="limited to 20"):
        sign_flip_p(np.ones(21))


def test_effect_size_is_mean_over_sample_sd():
    assert effect_size([1.0, 2.0, 3.0]) == pytest.approx(2.0)  # mean 2, sd (ddof=1) 1
    assert effect_size([-0.1, -0.3]) == pytest.approx(-0.2 / math.sqrt(0.02))
    assert math.isnan(effect_size([0.4])) and math.isnan(effect_size([0.0, 0.0]))
    assert effect_size([0.2, 0.2, 0.2]) == math.inf


def test_paired_compares_the_same_seeds():
    result = paired([0.9, 0.8, 0.7], [0.5, 0.6, 0.4])  # differences 0.4, 0.2, 0.3
    assert result.n_seeds == 3 and result.mean_diff == pytest.approx(0.3)
    assert result.sd_diff == pytest.approx(0.1) and result.effect_size == pytest.approx(3.0)
    assert result.p_sign_flip == pytest.approx(0.25) and result.p_floor == 0.25
    with pytest.raises(ValueError, match="one value per seed"):
        paired([0.1, 0.2], [0.1])


def controlled_table(values: dict[str, list[float]], views=("shape", "colour")) -> pd.DataFrame:
    rows = [{"recipe": recipe, "seed": seed, "task": "fewshot", "dataset": "scenes", "view": view,
             "metric": "default-5shot", "value": v + 0.01 * i}
            for recipe, per_seed in values.items() for seed, v in enumerate(per_seed) for i, view in enumerate(views)]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def test_recipe_summary_is_mean_and_standard_error_over_seeds():
    summary = recipe_summary(controlled_table({"labels": [0.8, 0.9, 0.7], "random": [0.3, 0.3, 0.3]}))
    labels = summary.query("recipe == 'labels' and view == 'shape'").iloc[0]
    assert labels["mean"] == pytest.approx(0.8) and labels["n_seeds"] == 3
    assert labels["se"] == pytest.approx(np.std([0.8, 0.9, 0.7], ddof=1) / math.sqrt(3))
    assert summary.query("recipe == 'random'")["se"].eq(0).all()
    assert summary.query("recipe == 'labels' and view == 'colour'")["mean"].iloc[0] == pytest.approx(0.81)


def test_paired_table_has_each_comparison_whose_recipes_ran():
    table = controlled_table({"labels": [0.8, 0.9, 0.7], "random": [0.3, 0.35, 0.2], "captions": [0.85, 0.8, 0.8]})
    pairs = paired_table(table)
    assert set(zip(pairs["recipe_a"], pairs["recipe_b"])) == {("captions", "labels"), ("labels", "random"),
                                                               ("captions", "random")}  # no label-names in the run
    assert len(pairs) == 3 * 2  # comparisons x views
    row = pairs.query("recipe_a == 'captions' and recipe_b == 'labels' and view == 'shape'").iloc[0]
    diffs = np.array([0.85, 0.8, 0.8]) - np.array([0.8, 0.9, 0.7])
    assert row["mean_diff"] == pytest.approx(diffs.mean())
    assert row["effect_size"] == pytest.approx(diffs.mean() / diffs.std(ddof=1))
    assert row["p_sign_flip"] == pytest.approx(enumerated_p(list(diffs))) and row["n_seeds"] == 3
    assert pairs.query("recipe_b == 'random'")["p_sign_flip"].eq(0.25).all()


def test_paired_table_uses_only_the_seeds_both_recipes_have():
    table = controlled_table({"labels": [0.8, 0.9, 0.7], "random": [0.3, 0.35]}, views=("shape",))
    [row] = paired_table(table).to_dict("records")
    assert row["n_seeds"] == 2 and row["mean_diff"] == pytest.approx(((0.8 - 0.3) + (0.9 - 0.35)) / 2)
    assert row["p_floor"] == 0.5


def test_the_table_must_be_tidy():
    table = controlled_table({"labels": [0.8, 0.9]})
    with pytest.raises(ValueError, match="duplicated"):
        paired_table(pd.concat([table, table]))
    with pytest.raises(ValueError, match=r"lacks columns \['seed'\]"):
        recipe_summary(table.drop(columns="seed"))


# -- label views -----------------------------------------------------------------------------------
def test_view_labels_follow_the_store_rows_by_sample_id():
    view_ids = ["a", "b", "c", "d"]
    labels = np.array([2, -1, 0, 1])
    # a store entry holding a subsample in another order
    assert view_labels(["d", "a", "b"], view_ids, labels, "colour").tolist() == [1, 2, -1]
    with pytest.raises(ValueError, match=r"view 'colour': 1 store rows .* sample id 'z'"):
        view_labels(["a", "z"], view_ids, labels, "colour")
    with pytest.raises(ValueError, match="3 labels for 4 sample ids"):
        view_labels(["a"], view_ids, labels[:3], "colour")


FEWSHOT = {"shots": [1, 5], "trials": 3, "seed": 0, "presets": ["default"]}
LOGISTIC = {"C_grid": [0.1, 1.0], "val_fraction": 0.25}


def separable(labels: np.ndarray, rng: np.random.Generator, dim: int = 8) -> np.ndarray:
    """Features that name the label (one-hot of it, small noise), random for rows outside the view."""
    features = rng.normal(0, 1, size=(labels.size, dim)).astype(np.float32)
    inside = labels >= 0
    features[inside] = 0.05 * features[inside]
    features[inside, labels[inside]] += 1.0
    return features


def test_view_rows_drop_images_outside_the_view_and_score_the_rest():
    rng = np.random.default_rng(1)
    # classes 1, 4, 6 only (ids skip values), a third of the images outside the view (-1)
    train = rng.choice([1, 4, 6, -1], size=120)
    test = rng.choice([1, 4, 6, -1], size=90)
    rows = view_rows(separable(train, rng), train, separable(test, rng), test, fewshot=FEWSHOT,
                     transfer=LOGISTIC, seed=0, dataset="scenes")
    assert [(r["task"], r["metric"]) for r in rows] == [("fewshot", "default-1shot"), ("fewshot", "default-5shot"),
                                                         ("transfer", "accuracy")]
    assert all(r["n_train"] == (train >= 0).sum() and r["n_test"] == (test >= 0).sum() for r in rows)
    assert all(r["value"] == 1.0 for r in rows)  # the view's labels are what the features encode


def test_view_rows_count_a_test_class_absent_from_train_as_errors():
    rng = np.random.default_rng(2)
    train = np.repeat([0, 1], 30)
    test = np.repeat([0, 1, 2], 10)  # class 2: no train image (a held-out combination, say)
    rows = view_rows(separable(train, rng), train, separable(test, rng), test, fewshot=FEWSHOT,
                     transfer=LOGISTIC, seed=0, dataset="scenes")
    assert [r["value"] for r in rows] == pytest.approx([2 / 3] * 3)
    with pytest.raises(ValueError, match="no image in the train or the test split"):
        view_rows(separable(train, rng), train, separable(test, rng), np.full(30, -1), fewshot=FEWSHOT,
                  transfer=LOGISTIC, seed=0, dataset="scenes")
    with pytest.raises(ValueError, match="no test image of the view has a class that its train images have"):
        view_rows(separable(train, rng), train, separable(test, rng), np.full(30, 2), fewshot=FEWSHOT,
                  transfer=LOGISTIC, seed=0, dataset="scenes")


def battery_outputs(model: str, dataset: str, x_train, y_train, x_test, y_test) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What fewshot_evaluate and transfer_probe (default) write for one (model, dataset): trials, probe row."""
    from vlgen.tasks.fewshot import fewshot_trials
    from vlgen.tasks.probe import fit_cached_probe, n_classes_of, transfer_row

    trials = pd.DataFrame(fewshot_trials(x_train, y_train, x_test, y_test, dataset=dataset, **FEWSHOT))
    probe = fit_cached_probe("default", x_train, y_train, n_classes_of(y_train, y_test), LOGISTIC, 0)
    row = transfer_row(probe, x_test, y_test, n_train=len(y_train))
    key = f"key-{model}-{dataset}"
    return (trials.assign(model=model, dataset=dataset, feature_key=key),
            pd.DataFrame([{"model": model, "dataset": dataset, "preset": "default", **row, "feature_key": key}]))


def test_the_class_view_read_from_the_battery_equals_view_rows_on_the_class_labels():
    """The trained models' class view is the battery's own numbers, not recomputed: they must be view_rows'."""
    from vlgen.report.controlled import battery_class_scores

    rng = np.random.default_rng(3)
    parts, expected = [], []
    for model, dataset in (("labels-s0", "digits"), ("random-s1", "digits"), ("labels-s0", "cifar")):
        y_train, y_test = rng.integers(0, 4, size=80), rng.integers(0, 4, size=40)
        # noisy features, so that accuracies differ between models and shot counts
        x_train = separable(y_train, rng) + rng.normal(0, 0.6, size=(80, 8)).astype(np.float32)
        x_test = separable(y_test, rng) + rng.normal(0, 0.6, size=(40, 8)).astype(np.float32)
        parts.append(battery_outputs(model, dataset, x_train, y_train, x_test, y_test))
        expected += [{**r, "model": model, "dataset": dataset, "view": "class", "feature_key": f"key-{model}-{dataset}"}
                     for r in view_rows(x_train, y_train, x_test, y_test, fewshot=FEWSHOT, transfer=LOGISTIC, seed=0,
                                        dataset=dataset)]
    got = battery_class_scores(pd.concat([p[0] for p in parts]), pd.concat([p[1] for p in parts]))
    index = ["model", "dataset", "task", "metric"]
    want = pd.DataFrame(expected)[got.columns].sort_values(index).reset_index(drop=True)
    got = got.sort_values(index).reset_index(drop=True)
    assert len(got) == 3 * 3 and got["view"].eq("class").all()
    assert got["value"].nunique() > 3  # not all equal: the comparison below can fail
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_class_scores_need_both_tasks_of_every_model_and_dataset():
    from vlgen.report.controlled import battery_class_scores

    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, size=60)
    trials, probe = battery_outputs("labels-s0", "digits", separable(y, rng), y, separable(y, rng), y)
    other = probe.assign(dataset="cifar")
    with pytest.raises(ValueError, match=r"not of the same \(model, dataset\) pairs: \[\('labels-s0', 'cifar'\)\]"):
        battery_class_scores(trials, pd.concat([probe, other]))


# -- figure and summary ----------------------------------------------------------------------------
def seed_table() -> pd.DataFrame:
    """Three seeds; labels beat random at every seed; captions ties labels at one seed."""
    values = {"random": [0.30, 0.25, 0.35], "labels": [0.80, 0.90, 0.70], "captions": [0.80, 0.95, 0.60],
              "label-names": [0.75, 0.85, 0.72]}
    rows = [{"recipe": r, "seed": s, "task": task, "dataset": dataset, "view": view, "metric": metric,
             "value": v + shift}
            for r, per_seed in values.items() for s, v in enumerate(per_seed)
            for task, dataset, view, metric, shift in (("transfer", "scenes", "shape", "accuracy", 0.0),
                                                       ("transfer", "scenes", "colour", "accuracy", -0.1),
                                                       ("fewshot", "digits", "class", "default-5shot", -0.2),
                                                       ("rsa", "digits", "class", "r_text", -0.25))]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def test_the_figure_draws_each_recipes_mean_over_seeds():
    from vlgen.report.plots_controlled import controlled_figure

    table = seed_table()
    fig = controlled_figure(table)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["transfer: accuracy", "fewshot: default-5shot", "rsa: r_text"]
    # bars in recipe order random, labels, label-names, captions; groups (scenes, shape), (scenes, colour)
    heights = [bar.get_height() for bar in panels[0].patches]
    expected = [np.mean(v) + shift for v in ([0.30, 0.25, 0.35], [0.80, 0.90, 0.70], [0.75, 0.85, 0.72],
                                              [0.80, 0.95, 0.60]) for shift in (0.0, -0.1)]
    assert heights == pytest.approx(expected)
    dots = [line for line in panels[0].lines if line.get_marker() == "o"]
    assert sum(len(line.get_ydata()) for line in dots) == len(table.query("task == 'transfer'"))


def test_the_figure_file_is_written(tmp_path):
    from vlgen.report.plots_controlled import plot_controlled

    plot_controlled(seed_table(), [tmp_path / "controlled.png"])
    assert (tmp_path / "controlled.png").stat().st_size > 10_000


def test_the_summary_states_each_comparison_with_its_p_value_and_the_floor():
    from vlgen.report.summary import build_summary

    doc = build_summary({"controlled": seed_table()}, run="controlled-demo", families={}, datasets=[])
    text = doc.to_markdown()
    assert "smallest possible p is 2/2^3 = 0.25" in text
    # labels - random at the three seeds: 0.50, 0.65, 0.35 -> mean 0.5, sd 0.15, every seed agrees
    assert ("**labels vs random.** Linear-probe accuracy on scenes (shape): 0.800 vs 0.300, difference +0.500 "
            "(d = 3.33, p = 0.25, n = 3 seeds).") in text
    # captions - labels: 0, +0.05, -0.10: one zero difference, p = 1
    assert "**captions vs labels.** Linear-probe accuracy on scenes (shape): 0.783 vs 0.800, difference -0.017" in text
    assert "p = 1, n = 3 seeds" in text
    # random's s.e.: sd(0.30, 0.25, 0.35; ddof=1) / sqrt(3) = 0.05 / 1.732
    assert re.search(r"\| transfer +\| scenes +\| shape +\| accuracy +\| 0.300 ± 0.029 \| 0.800 ± 0.058 \|", text)
    # the paired table keeps the controlled table's row order
    paired_rows = text.split("### Paired differences")[1]
    assert paired_rows.index("| shape ") < paired_rows.index("| colour ") < paired_rows.index("| r_text ")


def test_the_controlled_table_names_recipe_and_seed_and_reads_r_text_from_the_rsa_table():
    from vlgen.report.controlled import controlled_table

    scores = pd.DataFrame({"model": ["labels-s0", "random-s1"], "dataset": "scenes", "view": ["colour", "shape"],
                           "task": "transfer", "metric": "accuracy", "value": [0.9, 0.3], "n_train": 10,
                           "n_test": 5, "feature_key": "k"})
    rsa = pd.DataFrame({"dataset": ["digits", "digits", "digits", "scenes"],
                        "model_a": ["labels-s0", "minilm", "labels-s0", "pixels"],
                        "model_b": ["minilm", "random-s1", "random-s1", "minilm"], "r": [0.4, 0.1, 0.2, 0.5]})
    identities = {"labels-s0": ("labels", 0), "random-s1": ("random", 1)}
    table = controlled_table(scores, identities, rsa, "minilm")
    assert list(table.columns) == TABLE_COLUMNS
    assert table.values.tolist() == [
        ["labels", 0, "transfer", "scenes", "colour", "accuracy", 0.9],
        ["random", 1, "transfer", "scenes", "shape", "accuracy", 0.3],
        ["labels", 0, "rsa", "digits", "class", "r_text", 0.4],  # trained model vs the text model only
        ["random", 1, "rsa", "digits", "class", "r_text", 0.1]]
    assert len(controlled_table(scores, identities)) == 2  # no RSA stage in the run
    with pytest.raises(ValueError, match=r"not trained models of the run: \['labels-s0'\]"):
        controlled_table(scores, {"random-s1": ("random", 1)})


def test_the_analysis_imports_no_torch():
    from helpers.imports import heavy_imports

    assert heavy_imports("vlgen.tasks.paired", "vlgen.tasks.views", "vlgen.report.controlled",
                         "vlgen.report.plots_controlled") == []


# -- which datasets and views a run evaluates ------------------------------------------------------
def test_the_demo_evaluates_every_scenes_view_and_digits_on_its_classes():
    from pathlib import Path

    from vlgen.config import load_config
    from vlgen.tasks.views import controlled_views

    root = Path(__file__).resolve().parents[1]
    run = load_config([root / "config" / "controlled-demo.yaml"], root)
    assert controlled_views(run) == {"scenes-demo": ["shape", "colour", "position", "count", "heldout", "seen"],
                                     "digits": ["class"]}
    assert len(run.controlled_models) == 12 and {run.recipe_of(m) for m in run.controlled_models} == {
        "random", "labels", "captions", "label-names"}


@pytest.mark.parametrize("views, message", [
    ({"digits": ["colour"]}, r"controlled.evaluation.views.digits: \['colour'\] are not label views of its reader "
                             r"\(it has: class\)"),
    ({"mnist": ["class"]}, r"controlled.evaluation.views: 'mnist' is not a dataset of the run"),
])
def test_a_view_the_reader_does_not_make_is_a_config_error(views, message):
    from pathlib import Path

    from vlgen.config import ConfigError, load_config
    from vlgen.tasks.views import controlled_views

    root = Path(__file__).resolve().parents[1]
    run = load_config([root / "config" / "controlled-demo.yaml"], root)
    run.raw["controlled"]["evaluation"]["views"] = views
    with pytest.raises(ConfigError, match=message):
        controlled_views(run)
