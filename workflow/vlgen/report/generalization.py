"""Figure 1's numbers: the generalization battery per model, per dataset and averaged.

Tables in, tidy tables out (pandas only). Five panels as in the paper: N-shot for each N asked
for (1, 5, 10), clustering accuracy, transfer accuracy; each from ONE preset of its task (the
defaults: re-normalised prototypes, Hungarian matching, the selected-C logistic probe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

CLUSTERING_PANEL = "clustering"
TRANSFER_PANEL = "transfer"
# `ddof`: of the std behind `sem` (few-shot: over trials, from fewshot_summary.csv; NaN where no sem).
SCORE_COLUMNS = ["model", "dataset", "panel", "preset", "value", "sem", "ddof"]


def shot_panel(shots: int) -> str:
    return f"{shots}-shot"


def panel_names(shots: Sequence[int]) -> list[str]:
    """Panel order of the figure: the shot counts asked for, clustering, transfer."""
    return [shot_panel(n) for n in shots] + [CLUSTERING_PANEL, TRANSFER_PANEL]


def dataset_scores(fewshot_summary: pd.DataFrame, clustering: pd.DataFrame, transfer: pd.DataFrame, *,
                   shots: Sequence[int], fewshot_preset: str, matching: str, transfer_preset: str) -> pd.DataFrame:
    """One row per (model, dataset, panel): `value` and its `sem` (few-shot: over trials; else NaN).

    Rows of other presets, and shot counts not asked for, are left out; a panel whose preset or
    shot count was not run simply has no rows.
    """
    few = fewshot_summary[(fewshot_summary["preset"] == fewshot_preset) & fewshot_summary["shots"].isin(shots)]
    clusters = clustering[clustering["matching"] == matching]
    probes = transfer[transfer["preset"] == transfer_preset]
    # Columns from the filtered frame itself (callables): a Series of the unfiltered table would
    # re-index an empty selection into rows of NaN.
    nan = float("nan")
    parts = [
        few.assign(panel=lambda t: t["shots"].map(shot_panel), value=lambda t: t["mean"],
                   ddof=lambda t: t["ddof"] if "ddof" in t else nan),
        clusters.assign(panel=CLUSTERING_PANEL, preset=matching, value=lambda t: t["accuracy"], sem=nan, ddof=nan),
        probes.assign(panel=TRANSFER_PANEL, value=lambda t: t["accuracy"], sem=nan, ddof=nan),
    ]
    return pd.concat([part[SCORE_COLUMNS] for part in parts], ignore_index=True)


def model_scores(scores: pd.DataFrame, ddof: int = 1) -> pd.DataFrame:
    """Per (model, panel): mean over datasets, its standard error and the dataset count.

    The standard error is across datasets (the paper's Figure 1): std(ddof) / sqrt(n). The
    authors' figure used numpy's std (ddof=0); ddof=1 is the sample std. With n <= ddof it is NaN.
    """
    grouped = scores.groupby(["model", "panel"], sort=False)["value"]
    return grouped.agg(mean="mean", sem=lambda v: v.sem(ddof=ddof), n_datasets="count").reset_index()


UNSPECIFIED = "unspecified"


def grouped_by_factor(means: pd.DataFrame, factors: Mapping[str, Mapping[str, str]], factor: str) -> pd.DataFrame:
    """`means` with `family` replaced by `factor: value` of each model's catalog `factors` (models without it:
    unspecified): Figure 1 groups and colours by `family`, so models that share the value (e.g. all
    `supervision: labels` models) sit together and the comparison the factor isolates reads across groups."""
    labels = {model: f"{factor}: {factors.get(model, {}).get(factor, UNSPECIFIED)}" for model in means["model"]}
    return means.assign(family=means["model"].map(labels))
