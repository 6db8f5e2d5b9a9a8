"""summary.md: task tables as models x datasets, numbers checked against pandas/numpy directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlgen.report.summary import build_summary, score_matrix, task_scores

FAMILIES = {"RN50": "vision", "CLIP": "vision-language", "BERT": "text"}
DATASETS = ["mnist", "cifar10", "cub"]


@pytest.fixture
def tables():
    rng = np.random.default_rng(0)
    fewshot = pd.DataFrame([{"model": m, "dataset": d, "preset": p, "shots": n, "mean": rng.uniform(),
                             "std": 0.1, "sem": rng.uniform(0.001, 0.02), "n_trials": 10}
                            for m in ("RN50", "CLIP") for d in DATASETS for p in ("paper", "default") for n in (1, 5)])
    clustering = pd.DataFrame([{"model": m, "dataset": d, "matching": k, "accuracy": rng.uniform(), "nmi": 0.1,
                                "ari": 0.1, "n": 10, "feature_key": "k"}
                               for m in ("RN50", "CLIP") for d in DATASETS[:2] for k in ("greedy", "hungarian")])
    return {"fewshot": fewshot, "clustering": clustering}


def markdown_rows(markdown: str, heading: str) -> list[list[str]]:
    """Cells of the first table after `heading` (header row included)."""
    block = markdown.split(heading, 1)[1].split("\n\n")[1]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines() if ":--" not in line]


def test_fewshot_table_cells_and_dataset_mean(tables):
    markdown = build_summary(tables, run="r", families=FAMILIES, datasets=DATASETS).to_markdown()
    rows = markdown_rows(markdown, "### 5-shot, preset `default`")
    assert rows[0] == ["model", "family", "mnist", "cifar10", "cub", "mean"]
    source = tables["fewshot"].query("shots == 5 and preset == 'default'")
    for row in rows[1:]:
        model = row[0]
        mine = source[source["model"] == model].set_index("dataset")
        assert row[1] == FAMILIES[model]
        for dataset, cell in zip(DATASETS, row[2:5]):
            assert cell == f"{mine.loc[dataset, 'mean']:.3f} ± {mine.loc[dataset, 'sem']:.3f}"
        assert row[5] == f"{mine['mean'].mean():.3f}"
    assert [r[0] for r in rows[1:]] == ["RN50", "CLIP"]  # run order; the text model has no scores


def test_clustering_has_one_table_per_matching_and_missing_datasets_are_dashes(tables):
    tables["clustering"] = tables["clustering"].query("not (model == 'CLIP' and dataset == 'cifar10')")
    markdown = build_summary(tables, run="r", families=FAMILIES, datasets=DATASETS).to_markdown()
    assert "### clustering, matching `greedy`" in markdown and "### clustering, matching `hungarian`" in markdown
    rows = markdown_rows(markdown, "### clustering, matching `hungarian`")
    assert rows[0] == ["model", "family", "mnist", "cifar10", "mean"]  # cub has no clustering row at all
    clip = rows[2]
    expected = tables["clustering"].query("model == 'CLIP' and matching == 'hungarian'")["accuracy"].iloc[0]
    assert clip[0] == "CLIP" and clip[3] == "—" and clip[2] == clip[4] == f"{expected:.3f}"


def test_absent_tables_are_named_and_settings_printed(tables):
    doc = build_summary({"fewshot": tables["fewshot"]}, run="demo", families=FAMILIES, datasets=DATASETS,
                        settings={"fewshot": {"shots": [1, 5], "trials": 10, "task_version": 1}})
    markdown = doc.to_markdown()
    assert markdown.startswith("# Summary of run `demo`")
    assert "Not in this run (no table): Unsupervised clustering (clustering.csv); Transfer, linear probe " \
           "(transfer.csv); Representational similarity (rdm_correlations.csv)." in markdown
    assert "Settings: shots=[1, 5], trials=10" in markdown and "task_version" not in markdown


def test_rsa_matrix_is_symmetric_with_unit_diagonal():
    rdm = pd.DataFrame([{"dataset": "digits", "model_a": a, "model_b": b, "preset": preset, "distance": distance,
                         "method": "spearman", "r": r, "p_parametric": 0.01, "p_permutation": 0.02}
                        for a, b, r, preset, distance in (("RN50", "CLIP", 0.8, "paper", "welch"),
                                                          ("RN50", "BERT", 0.3, "paper/none", "welch/euclidean"),
                                                          ("CLIP", "BERT", 0.4, "paper/none", "welch/euclidean"))])
    markdown = build_summary({"rdm_correlations": rdm}, run="r", families=FAMILIES, datasets=["digits"]).to_markdown()
    assert "RDMs made with (preset, distance): paper welch, paper/none welch/euclidean." in markdown
    rows = markdown_rows(markdown, "### digits: spearman r")
    assert rows == [["model", "family", "RN50", "CLIP", "BERT"],
                    ["RN50", "vision", "1.000", "0.800", "0.300"],
                    ["CLIP", "vision-language", "0.800", "1.000", "0.400"],
                    ["BERT", "text", "0.300", "0.400", "1.000"]]


def test_task_scores_and_score_matrix(tables):
    scores = task_scores(tables)
    assert set(scores["task"]) == {"1-shot", "5-shot", "clustering"}
    assert len(scores) == len(tables["fewshot"]) + len(tables["clustering"])
    greedy = scores.query("task == 'clustering' and variant == 'greedy'")
    matrix = score_matrix(greedy, list(FAMILIES), DATASETS)
    expected = tables["clustering"].query("matching == 'greedy'").pivot(index="model", columns="dataset",
                                                                          values="accuracy")
    np.testing.assert_allclose(matrix["mean"], expected.loc[["RN50", "CLIP"]].mean(axis=1))


def test_a_table_missing_a_column_is_named():
    with pytest.raises(ValueError, match=r"table 'clustering' lacks columns \['matching'\]"):
        task_scores({"clustering": pd.DataFrame({"model": [], "dataset": [], "accuracy": []})})


def test_summary_marks_untrained_models_and_says_how_the_numbers_were_made(tables):
    fewshot = tables["fewshot"].assign(ddof=tables["fewshot"]["preset"].map({"paper": 0, "default": 1}))
    doc = build_summary({"fewshot": fewshot}, run="demo", families=FAMILIES, datasets=DATASETS, untrained=["CLIP"],
                        notes={"fewshot": "A note on few-shot."})
    markdown = doc.to_markdown()
    assert "Models: RN50 (vision), CLIP (vision-language, untrained), BERT (text)." in markdown
    assert "Untrained models (random initialisation, no trained weights) test the pipeline, not the paper: CLIP." \
        in markdown
    assert "A note on few-shot." in markdown
    assert "with the std's ddof per preset: `paper` ddof=0, `default` ddof=1." in markdown
    rows = markdown_rows(markdown, "### 1-shot, preset `paper`")
    assert [row[1] for row in rows[1:]] == ["vision", "vision-language, untrained"]
