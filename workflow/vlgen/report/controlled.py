"""The controlled experiment's section of summary.md: what the run shows, with numbers and p-values.

Reads `tables/controlled.csv` (recipe, seed, task, dataset, view, metric, value); the statistics come
from `vlgen.tasks.paired` (seeds as the unit, exact sign-flip p, floor 2/2^n).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from vlgen.report.document import Document
from vlgen.report.plots_controlled import ordered_recipes
from vlgen.tasks.fewshot import summarise
from vlgen.tasks.paired import (COMPARISONS, GROUP_COLUMNS, TABLE_COLUMNS, paired_table, recipe_summary,
                                sign_flip_floor)
from vlgen.tasks.views import CLASS_VIEW, SCORE_COLUMNS

TITLE = "Controlled experiment: one network, one data set, four kinds of supervision (controlled.csv)"
# The score the headline sentences quote: the linear probe on the training data's own task.
HEADLINE = {"task": "transfer", "metric": "accuracy"}


def battery_class_scores(fewshot: pd.DataFrame, transfer: pd.DataFrame) -> pd.DataFrame:
    """The `class` view's scores (as `vlgen.tasks.views.view_rows` gives them) from the battery's own outputs.

    `fewshot` holds the few-shot trials of fewshot_evaluate, `transfer` the default probe's rows of
    transfer_probe, for the same (model, dataset) pairs: a few-shot metric is `{preset}-{shots}shot`, the
    mean over trials; transfer's is `accuracy`. The battery runs the same functions with the same settings
    and seeds on the same store entries, so the trained models' class view is read rather than computed
    twice.
    """
    probes = transfer.set_index(["model", "dataset"])
    missing = sorted(set(zip(fewshot["model"], fewshot["dataset"])) ^ set(probes.index))
    if missing:
        raise ValueError(f"few-shot and transfer scores are not of the same (model, dataset) pairs: {missing}")
    rows = []
    for group in summarise(fewshot.to_dict("records")):
        probe = probes.loc[(group["model"], group["dataset"])]
        rows.append({"model": group["model"], "dataset": group["dataset"], "task": "fewshot",
                     "metric": f"{group['preset']}-{group['shots']}shot", "value": group["mean"],
                     "n_train": probe["n_train"], "n_test": probe["n_test"], "feature_key": probe["feature_key"]})
    for (model, dataset), probe in probes.iterrows():
        rows.append({"model": model, "dataset": dataset, "task": "transfer", "metric": "accuracy",
                     "value": probe["accuracy"], "n_train": probe["n_train"], "n_test": probe["n_test"],
                     "feature_key": probe["feature_key"]})
    return pd.DataFrame(rows).assign(view=CLASS_VIEW)[SCORE_COLUMNS]


def controlled_table(view_scores: pd.DataFrame, identities: Mapping[str, tuple[str, int]],
                     rdm_correlations: pd.DataFrame | None = None, text_model: str | None = None) -> pd.DataFrame:
    """tables/controlled.csv from the per-(model, dataset) view scores and the run's RSA table.

    `identities` maps each trained model to its (recipe, seed). RSA rows (task `rsa`, metric
    `r_text`, view `class`) are each trained model's RDM correlation with `text_model` on every RSA
    dataset, read from rdm_correlations.csv: the RDMs are the ordinary rsa rules' own.
    """
    unknown = sorted(set(view_scores["model"]) - set(identities))
    if unknown:
        raise ValueError(f"view scores of models that are not trained models of the run: {unknown}")
    frames = [view_scores.assign(recipe=view_scores["model"].map(lambda m: identities[m][0]),
                                 seed=view_scores["model"].map(lambda m: identities[m][1]))]
    if rdm_correlations is not None and text_model is not None:
        rows = []
        for pair in rdm_correlations.itertuples():
            other = {pair.model_a: pair.model_b, pair.model_b: pair.model_a}
            for model in (pair.model_a, pair.model_b):
                if model in identities and other[model] == text_model:
                    rows.append({"recipe": identities[model][0], "seed": identities[model][1], "task": "rsa",
                                 "dataset": pair.dataset, "view": CLASS_VIEW, "metric": "r_text", "value": pair.r})
        frames.append(pd.DataFrame(rows, columns=TABLE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[TABLE_COLUMNS]


def controlled_section(doc: Document, table: pd.DataFrame) -> None:
    """Recipe means ± s.e. over seeds, every paired comparison, and one sentence per comparison."""
    recipes = ordered_recipes(table)
    pairs = paired_table(table, COMPARISONS)
    n_seeds = int(table.groupby("recipe")["seed"].nunique().min())
    floor = sign_flip_floor(n_seeds)
    doc.heading(TITLE)
    doc.text(f"Recipes: {', '.join(recipes)}; {n_seeds} training seeds each (same architecture, images, steps, "
             "batch and augmentation). Paired comparisons use the seed as the unit: mean difference, effect "
             "size d = mean difference / sd of the differences (ddof=1), and an exact two-sided sign-flip p over "
             f"all 2^{n_seeds} sign assignments. With {n_seeds} seeds the smallest possible p is 2/2^{n_seeds} = "
             f"{floor:.3g}: no difference in this run can be significant below that.")
    for sentence in _findings(pairs, table):
        doc.text(sentence)
    doc.heading("Mean ± standard error over seeds", level=3)
    doc.table(_means_table(table, recipes))
    if not pairs.empty:
        doc.heading("Paired differences: mean difference (d, sign-flip p)", level=3)
        doc.table(_pairs_table(pairs))


def _findings(pairs: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """Per comparison: the headline score's difference, then how many scores move which way."""
    if pairs.empty:
        return ["No comparison of the issue's recipes is possible: the run trained "
                + ", ".join(pd.unique(table["recipe"])) + "."]
    headline = table[(table["task"] == HEADLINE["task"]) & (table["metric"] == HEADLINE["metric"])]
    first = headline[["dataset", "view"]].drop_duplicates().iloc[0] if not headline.empty else None
    sentences = []
    for (a, b), rows in pairs.groupby(["recipe_a", "recipe_b"], sort=False):
        text = f"**{a} vs {b}.** "
        if first is not None:
            row = rows[(rows["task"] == HEADLINE["task"]) & (rows["metric"] == HEADLINE["metric"])
                       & (rows["dataset"] == first["dataset"]) & (rows["view"] == first["view"])]
            if not row.empty:
                r = row.iloc[0]
                text += (f"Linear-probe accuracy on {r['dataset']} ({r['view']}): {r['mean_a']:.3f} vs "
                         f"{r['mean_b']:.3f}, difference {r['mean_diff']:+.3f} (d = {r['effect_size']:.2f}, "
                         f"p = {r['p_sign_flip']:.3g}, n = {r['n_seeds']} seeds). ")
        higher, lower = int((rows["mean_diff"] > 0).sum()), int((rows["mean_diff"] < 0).sum())
        at_floor = int((rows["p_sign_flip"] <= rows["p_floor"]).sum())
        text += (f"Over all {len(rows)} scores (tasks x datasets x views x metrics) {a} is higher in {higher} and "
                 f"lower in {lower}; {at_floor} reach the floor p = {rows['p_floor'].min():.3g} (every seed agrees).")
        sentences.append(text)
    return sentences


def _means_table(table: pd.DataFrame, recipes: list[str]) -> pd.DataFrame:
    summary = recipe_summary(table)
    summary["cell"] = [f"{m:.3f} ± {s:.3f}" if pd.notna(s) else f"{m:.3f}" for m, s in zip(summary["mean"], summary["se"])]
    wide = summary.pivot_table(index=GROUP_COLUMNS, columns="recipe", values="cell", aggfunc="first", sort=False)
    return wide.reindex(columns=[r for r in recipes if r in wide.columns]).fillna("—").reset_index()


def _pairs_table(pairs: pd.DataFrame) -> pd.DataFrame:
    cells = pairs.assign(
        comparison=pairs["recipe_a"] + " − " + pairs["recipe_b"],
        cell=[f"{m:+.3f} (d={d:.2f}, p={p:.3g})"
              for m, d, p in zip(pairs["mean_diff"], pairs["effect_size"], pairs["p_sign_flip"])])
    wide = cells.pivot_table(index=GROUP_COLUMNS, columns="comparison", values="cell", aggfunc="first", sort=False)
    order = list(pd.unique(cells["comparison"]))
    return wide.reindex(columns=order).fillna("—").reset_index()
