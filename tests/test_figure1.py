"""Figure 1: its numbers (means over datasets, standard errors) and its drawing, 3 to 30 models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import sem

from vlgen.report.generalization import dataset_scores, model_scores, panel_names
from vlgen.report.plots import generalization_figure, plot_generalization

DATASETS = ["mnist", "cifar10", "svhn"]


def task_tables(models, shots=(1, 5, 10), seed=0):
    """Few-shot summary, clustering and transfer tables with both presets of each task."""
    rng = np.random.default_rng(seed)
    few = pd.DataFrame([{"model": m, "dataset": d, "preset": p, "shots": n, "mean": rng.uniform(),
                         "std": 0.1, "sem": rng.uniform(0.001, 0.05), "n_trials": 10}
                        for m in models for d in DATASETS for p in ("default", "paper") for n in shots])
    clustering = pd.DataFrame([{"model": m, "dataset": d, "matching": k, "accuracy": rng.uniform(), "nmi": 0.5,
                                "ari": 0.4, "n": 100, "feature_key": "k"}
                               for m in models for d in DATASETS for k in ("hungarian", "greedy")])
    transfer = pd.DataFrame([{"model": m, "dataset": d, "preset": p, "accuracy": rng.uniform(), "C": 1.0,
                              "n_train": 10, "n_val": 2, "n_test": 10, "feature_key": "k"}
                             for m in models for d in DATASETS for p in ("default", "paper_cached")])
    return few, clustering, transfer


DEFAULTS = dict(shots=[1, 5, 10], fewshot_preset="default", matching="hungarian", transfer_preset="default")


def test_scores_take_one_preset_per_task_and_average_over_datasets():
    few, clustering, transfer = task_tables(["A", "B", "C"])
    scores = dataset_scores(few, clustering, transfer, **DEFAULTS)
    assert len(scores) == 3 * 3 * 5
    means = model_scores(scores).set_index(["model", "panel"])
    for model in ("A", "B", "C"):
        five = few.query("model == @model and preset == 'default' and shots == 5")["mean"]
        assert means.loc[(model, "5-shot"), "mean"] == pytest.approx(five.mean())
        assert means.loc[(model, "5-shot"), "sem"] == pytest.approx(sem(five))
        hungarian = clustering.query("model == @model and matching == 'hungarian'")["accuracy"]
        assert means.loc[(model, "clustering"), "mean"] == pytest.approx(hungarian.mean())
        assert means.loc[(model, "clustering"), "sem"] == pytest.approx(sem(hungarian))
        probe = transfer.query("model == @model and preset == 'default'")["accuracy"]
        assert means.loc[(model, "transfer"), "mean"] == pytest.approx(probe.mean())
        assert means.loc[(model, "transfer"), "n_datasets"] == 3
    per_dataset = scores.set_index(["model", "dataset", "panel"])
    one = few.query("model == 'B' and dataset == 'svhn' and preset == 'default' and shots == 1").iloc[0]
    assert per_dataset.loc[("B", "svhn", "1-shot"), "value"] == one["mean"]
    assert per_dataset.loc[("B", "svhn", "1-shot"), "sem"] == one["sem"]


def test_paper_presets_and_missing_shot_counts():
    few, clustering, transfer = task_tables(["A"], shots=(1, 5))
    options = dict(DEFAULTS, fewshot_preset="paper", matching="greedy", transfer_preset="paper")
    scores = dataset_scores(few, clustering, transfer, **options)
    assert set(scores["panel"]) == {"1-shot", "5-shot", "clustering"}  # no 10-shot, no paper probe
    greedy = clustering.query("matching == 'greedy'")["accuracy"]
    assert model_scores(scores).set_index("panel").loc["clustering", "mean"] == pytest.approx(greedy.mean())
    assert panel_names([1, 5, 10]) == ["1-shot", "5-shot", "10-shot", "clustering", "transfer"]


def bars_by_model(ax, labels):
    """{model: bar width} read back from a panel (a bar is centred on its model's row)."""
    return {labels[round(patch.get_y() + patch.get_height() / 2)]: patch.get_width() for patch in ax.patches}


@pytest.mark.parametrize("n_models", [3, 30])
def test_figure_draws_every_model_in_every_panel(n_models):
    models = [f"model-{i:02d}" for i in range(n_models)]
    few, clustering, transfer = task_tables(models, shots=(1, 5))  # 10-shot was not run
    scores = dataset_scores(few, clustering, transfer, **DEFAULTS)
    families = {m: ("vision", "vision-language", "text")[i % 3] for i, m in enumerate(models)}
    means = model_scores(scores).assign(family=lambda t: t["model"].map(families))
    fig = generalization_figure(means, panel_names([1, 5, 10]))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["1-shot", "5-shot", "10-shot", "clustering", "transfer"]
    rows = [t.get_text() for t in axes[0].get_yticklabels()]
    order = ["vision", "vision-language", "text"]  # families in order of first appearance
    assert rows == sorted(models, key=lambda m: order.index(families[m]))  # grouped, stable within
    expected = means.set_index(["panel", "model"])["mean"]
    for ax in axes:
        drawn = bars_by_model(ax, rows)
        if ax.get_title() == "10-shot":
            assert drawn == {} and "not run" in [t.get_text() for t in ax.texts]
            continue
        assert len(drawn) == n_models
        for model, width in drawn.items():
            assert width == pytest.approx(expected[(ax.get_title(), model)])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["vision", "vision-language", "text"]
    assert fig.get_figheight() >= 0.2 * n_models  # rows grow with the model count


def test_plot_writes_png_and_pdf(tmp_path):
    few, clustering, transfer = task_tables(["A", "B", "C"])
    scores = dataset_scores(few, clustering, transfer, **DEFAULTS)
    paths = [tmp_path / "fig" / "fig1.png", tmp_path / "fig" / "fig1.pdf"]
    plot_generalization(model_scores(scores), panel_names([1, 5, 10]), paths)
    with Image.open(paths[0]) as image:
        assert image.format == "PNG" and image.size[0] > 500
    assert paths[1].read_bytes()[:5] == b"%PDF-"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="sem"):
        generalization_figure(pd.DataFrame({"model": ["A"], "panel": ["transfer"], "mean": [0.5]}), ["transfer"])


def test_figure1_error_bars_use_the_configured_ddof():
    """sem across datasets = std(ddof) / sqrt(n): the authors' figure used numpy's std (ddof=0)."""
    few, clustering, transfer = task_tables(["A", "B"])
    scores = dataset_scores(few, clustering, transfer, **DEFAULTS)
    for ddof in (0, 1):
        means = model_scores(scores, ddof=ddof).set_index(["model", "panel"])
        values = scores.query("model == 'A' and panel == 'transfer'")["value"].to_numpy()
        assert means.loc[("A", "transfer"), "sem"] == pytest.approx(np.std(values, ddof=ddof) / np.sqrt(3))
    with_ddof = dataset_scores(few.assign(ddof=few["preset"].map({"paper": 0, "default": 1})), clustering, transfer,
                               **DEFAULTS)
    assert set(with_ddof.loc[with_ddof["panel"] == "1-shot", "ddof"]) == {1}  # the default preset's
    assert with_ddof.loc[with_ddof["panel"] == "transfer", "ddof"].isna().all()
