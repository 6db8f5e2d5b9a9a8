"""summary.md: one table per task and protocol variant (models x datasets), from the tables a run has.

Every task table is first brought to one long form, `task_scores` (task, variant, model, dataset,
score, sem), which the claims check reads too. A task whose table is absent (its stage is not in
the workflow yet, or not in this run) is listed as such, never invented.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from vlgen.report.controlled import controlled_section
from vlgen.report.document import Document
from vlgen.tasks.rdm_compare import similarity_matrix

SCORE_COLUMNS = ["task", "variant", "model", "dataset", "score", "sem"]
# What each task's table must hold (the tables the stages write; see their rules).
REQUIRED_COLUMNS = {
    "fewshot": ("model", "dataset", "preset", "shots", "mean", "sem"),
    "clustering": ("model", "dataset", "matching", "accuracy"),
    "transfer": ("model", "dataset", "preset", "accuracy"),
    "rdm_correlations": ("dataset", "model_a", "model_b", "preset", "distance", "method", "r", "p_parametric",
                         "p_permutation"),
    "cka": ("dataset", "split", "model_a", "model_b", "linear_cka", "debiased_cka", "n"),
}
TASK_TITLES = {
    "fewshot": "Few-shot classification (fewshot_summary.csv)",
    "clustering": "Unsupervised clustering (clustering.csv)",
    "transfer": "Transfer, linear probe (transfer.csv)",
    "rdm_correlations": "Representational similarity (rdm_correlations.csv)",
}
# Part of the RSA stage (the same images, image models only): not listed as a task of its own when absent.
CKA_TITLE = "Centered kernel alignment of the image models (cka.csv)"
SCORE_NOTES = {
    "fewshot": "Test accuracy of nearest-prototype classification, mean ± standard error over trials.",
    "clustering": "Test accuracy of spectral clusters after matching clusters to classes.",
    "transfer": "Test accuracy of a linear probe trained on the train split.",
}


def _fewshot(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"task": table["shots"].map(lambda n: f"{n}-shot"), "variant": table["preset"],
                         "model": table["model"], "dataset": table["dataset"], "score": table["mean"],
                         "sem": table["sem"]})


def _clustering(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"task": "clustering", "variant": table["matching"], "model": table["model"],
                         "dataset": table["dataset"], "score": table["accuracy"], "sem": np.nan})


def _transfer(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"task": "transfer", "variant": table["preset"], "model": table["model"],
                         "dataset": table["dataset"], "score": table["accuracy"], "sem": np.nan})


SCORE_READERS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "fewshot": _fewshot, "clustering": _clustering, "transfer": _transfer}


def check_columns(name: str, table: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in table.columns]
    if missing:
        raise ValueError(f"table {name!r} lacks columns {missing} (has {list(table.columns)})")


def task_scores(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (task, variant, model, dataset): the score of the tables that are present."""
    frames = []
    for name, reader in SCORE_READERS.items():
        if name in tables:
            check_columns(name, tables[name])
            frames.append(reader(tables[name]))
    if not frames:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]


def score_matrix(scores: pd.DataFrame, models: Sequence[str], datasets: Sequence[str]) -> pd.DataFrame:
    """Models x datasets of `score` (one task and variant), plus the mean over the datasets present."""
    matrix = scores.pivot_table(index="model", columns="dataset", values="score", aggfunc="first")
    matrix = matrix.reindex(index=[m for m in models if m in matrix.index],
                            columns=[d for d in datasets if d in matrix.columns])
    matrix["mean"] = matrix.mean(axis=1)
    return matrix


def build_summary(tables: Mapping[str, pd.DataFrame], *, run: str, families: Mapping[str, str],
                  datasets: Sequence[str], settings: Mapping[str, Mapping] | None = None,
                  untrained: Sequence[str] = (), notes: Mapping[str, str] | None = None) -> Document:
    """The summary document: run header, then each present task's tables, then RSA.

    `families` (model -> family) gives the model order and the family column, where models in
    `untrained` (random initialisations) are marked so; `settings` (task -> config section) is
    printed so a reader knows the protocol behind the numbers, and `notes` (task -> sentence) say
    what the settings alone do not (e.g. whether the `paper` transfer preset ran).
    """
    families = {m: f"{f}, untrained" if m in untrained else f for m, f in families.items()}
    models = list(families)
    doc = Document(f"Summary of run `{run}`")
    doc.text("Models: " + ", ".join(f"{m} ({families[m]})" for m in models) + ". Datasets: " + ", ".join(datasets)
             + ".")
    if untrained:
        doc.text("Untrained models (random initialisation, no trained weights) test the pipeline, not the paper: "
                 + ", ".join(untrained) + ".")
    absent = [TASK_TITLES[name] for name in TASK_TITLES if name not in tables]
    if absent:
        doc.text("Not in this run (no table): " + "; ".join(absent) + ".")
    scores = task_scores(tables)
    for name in SCORE_READERS:
        if name not in tables:
            continue
        doc.heading(TASK_TITLES[name])
        doc.text(SCORE_NOTES[name] + " `mean` is the unweighted mean over the datasets shown.")
        if settings and name in settings:
            doc.text("Settings: " + _settings_text(settings[name]))
        if notes and name in notes:
            doc.text(notes[name])
        if name == "fewshot" and "ddof" in tables[name]:
            doc.text("± is the standard error over trials, std / sqrt(trials), with the std's ddof per preset: "
                     + ", ".join(f"`{p}` ddof={int(d)}" for p, d in _ddof_of_presets(tables[name]).items()) + ".")
        task_rows = scores[scores["task"].isin(_tasks_of(name, scores))]
        for (task, variant), group in task_rows.groupby(["task", "variant"], sort=False):
            doc.heading(f"{task}, {_variant_label(name)} `{variant}`", level=3)
            doc.table(_formatted(score_matrix(group, models, datasets), group, families))
    if "rdm_correlations" in tables:
        _rsa_section(doc, tables["rdm_correlations"], models, families, settings)
    if "cka" in tables:
        _cka_section(doc, tables["cka"], models, families)
    if "controlled" in tables:
        controlled_section(doc, tables["controlled"])
    return doc


def _rsa_section(doc: Document, table: pd.DataFrame, models: Sequence[str], families: Mapping[str, str],
                 settings: Mapping[str, Mapping] | None) -> None:
    check_columns("rdm_correlations", table)
    doc.heading(TASK_TITLES["rdm_correlations"])
    doc.text("Correlation r between the upper triangles of two models' RDMs over the dataset's classes "
             "(model distance = 1 - r); p-values and 95% bootstrap intervals over classes (ci_low, ci_high) in the "
             "table. RDMs made with (preset, distance): "
             + ", ".join(f"{p} {d}" for p, d in table[["preset", "distance"]].drop_duplicates().itertuples(index=False))
             + ".")
    if settings and "rsa" in settings:
        doc.text("Settings: " + _settings_text(settings["rsa"]))
    for dataset, rows in table.groupby("dataset", sort=False):
        present = set(rows["model_a"]) | set(rows["model_b"])
        names = [m for m in models if m in present]
        matrix = pd.DataFrame(similarity_matrix(rows.to_dict("records"), names), index=names, columns=names)
        doc.heading(f"{dataset}: {rows['method'].iloc[0]} r", level=3)
        frame = matrix.map(lambda v: f"{v:.3f}")
        frame.insert(0, "family", [families[m] for m in names])
        doc.table(frame.reset_index(names="model"))


def _cka_section(doc: Document, table: pd.DataFrame, models: Sequence[str], families: Mapping[str, str]) -> None:
    check_columns("cka", table)
    doc.heading(CKA_TITLE)
    doc.text("Linear CKA between image models on the same images (above the diagonal) and debiased CKA (below); "
             "text models are compared by RSA only.")
    for dataset, rows in table.groupby("dataset", sort=False):
        present = set(rows["model_a"]) | set(rows["model_b"])
        names = [m for m in models if m in present]
        frame = pd.DataFrame("1", index=names, columns=names)
        for row in rows.itertuples():
            a, b = sorted((row.model_a, row.model_b), key=names.index)
            frame.loc[a, b], frame.loc[b, a] = f"{row.linear_cka:.3f}", f"{row.debiased_cka:.3f}"
        doc.heading(f"{dataset} ({rows['split'].iloc[0]}, n={rows['n'].iloc[0]})", level=3)
        frame.insert(0, "family", [families[m] for m in names])
        doc.table(frame.reset_index(names="model"))


def _ddof_of_presets(fewshot: pd.DataFrame) -> dict[str, int]:
    return dict(fewshot[["preset", "ddof"]].drop_duplicates().itertuples(index=False))


def _tasks_of(name: str, scores: pd.DataFrame) -> list[str]:
    if name == "fewshot":
        return [t for t in pd.unique(scores["task"]) if str(t).endswith("-shot")]
    return [name]


def _variant_label(name: str) -> str:
    return "matching" if name == "clustering" else "preset"


def _formatted(matrix: pd.DataFrame, scores: pd.DataFrame, families: Mapping[str, str]) -> pd.DataFrame:
    """Scores as text with 3 decimals, ± the standard error where the task has one."""
    sem = scores.pivot_table(index="model", columns="dataset", values="sem", aggfunc="first")
    out = pd.DataFrame(index=matrix.index)
    out.insert(0, "family", [families[m] for m in matrix.index])
    for column in matrix.columns:
        values = matrix[column]
        errors = sem[column] if column in sem.columns else pd.Series(np.nan, index=matrix.index)
        out[column] = [_cell(v, errors.get(m, np.nan)) for m, v in values.items()]
    return out.reset_index(names="model")


def _cell(value: float, error: float) -> str:
    if pd.isna(value):
        return "—"
    return f"{value:.3f} ± {error:.3f}" if pd.notna(error) else f"{value:.3f}"


def _settings_text(section: Mapping) -> str:
    return ", ".join(f"{key}={value}" for key, value in section.items() if key != "task_version")
