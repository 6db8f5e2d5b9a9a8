"""CKA heatmaps of the image models, ordered like Figure 3 (no torch; matplotlib object API).

One row per dataset: linear CKA and debiased CKA. The model order is Figure 3's dendrogram leaf
order on the same dataset (RSA over all models), with the text models left out, so the two figures
read side by side; colours are Figure 3's (`plots.model_colours` over the same models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vlgen.report.plots import Colour, model_colours, save_figure
from vlgen.report.plots_rsa import ANNOTATE_MAX_MODELS, colour_tick_labels, family_handles
from vlgen.tasks.rdm_compare import similarity_matrix
from vlgen.tasks.rsa import dendrogram_order

MEASURES = {"linear_cka": "linear CKA", "debiased_cka": "debiased CKA"}
CELL_INCHES = 0.3
MIN_PANEL_INCHES = 3.4


def figure3_order(rsa_table: pd.DataFrame, dataset: str, models: Sequence[str]) -> list[str]:
    """Figure 3's heatmap order (dendrogram leaves, bottom to top) of the models on `dataset`."""
    present = set(rsa_table["model_a"]) | set(rsa_table["model_b"])
    listed = [m for m in models if m in present]
    rows = rsa_table[rsa_table["dataset"] == dataset].to_dict("records")
    return [listed[i] for i in dendrogram_order(similarity_matrix(rows, listed))]


def cka_matrix(rows: pd.DataFrame, models: Sequence[str], measure: str) -> np.ndarray:
    """The symmetric [M, M] matrix of one CKA measure (diagonal 1) in `models` order; a missing pair is an error."""
    index = {m: i for i, m in enumerate(models)}
    matrix = np.full((len(models), len(models)), np.nan)
    np.fill_diagonal(matrix, 1.0)
    for row in rows.itertuples():
        if row.model_a in index and row.model_b in index:
            matrix[index[row.model_a], index[row.model_b]] = matrix[index[row.model_b], index[row.model_a]] = \
                getattr(row, measure)
    if np.isnan(matrix).any():
        i, j = np.argwhere(np.isnan(matrix))[0]
        raise ValueError(f"the CKA table has no {measure} between {models[i]} and {models[j]}")
    return matrix


def cka_figure(cka_table: pd.DataFrame, rsa_table: pd.DataFrame, models: Sequence[str],
               families: Mapping[str, str]) -> Figure:
    """Linear and debiased CKA heatmaps, one row per dataset of the CKA table."""
    datasets = list(pd.unique(cka_table["dataset"]))
    if not datasets:
        raise ValueError("the CKA table is empty: no dataset to draw")
    image_models = set(cka_table["model_a"]) | set(cka_table["model_b"])
    present = set(rsa_table["model_a"]) | set(rsa_table["model_b"])
    colours = model_colours([m for m in models if m in present], {m: families[m] for m in models if m in present})
    side = max(MIN_PANEL_INCHES, CELL_INCHES * len(image_models) + 1.6)
    fig = Figure(figsize=(2 * side + 1.0, side * len(datasets) + 0.4), layout="constrained")
    grid = fig.subplots(len(datasets), len(MEASURES), squeeze=False)
    for row, dataset in zip(grid, datasets):
        order = [m for m in figure3_order(rsa_table, dataset, models) if m in image_models]
        rows = cka_table[cka_table["dataset"] == dataset]
        for ax, (measure, label) in zip(row, MEASURES.items()):
            _draw(fig, ax, cka_matrix(rows, order, measure), order, colours, label)
            ax.set_title(f"{dataset} ({rows['split'].iloc[0]}, n={rows['n'].iloc[0]}): {label}", fontsize="medium")
    drawn = [m for m in models if m in image_models]
    fig.legend(handles=family_handles(drawn, families, colours), loc="outside lower center",
               ncols=len({families[m] for m in drawn}), frameon=False, fontsize="small")
    return fig


def plot_cka(cka_table: pd.DataFrame, rsa_table: pd.DataFrame, out_paths: Sequence[str | Path],
             models: Sequence[str], families: Mapping[str, str]) -> Figure:
    """Draw `cka_figure` once, save it to every path (format from each suffix), return it."""
    fig = cka_figure(cka_table, rsa_table, models, families)
    save_figure(fig, out_paths)
    return fig


def _draw(fig: Figure, ax: Axes, matrix: np.ndarray, names: Sequence[str], colours: Mapping[str, Colour],
          label: str) -> None:
    # Debiased CKA can dip below 0 for unrelated representations: the scale shows it.
    image = ax.imshow(matrix, origin="lower", cmap="viridis", vmin=min(0.0, float(matrix.min())), vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    colour_tick_labels([*ax.get_xticklabels(), *ax.get_yticklabels()], colours)
    if len(names) <= ANNOTATE_MAX_MODELS:
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if matrix[i, j] < 0.5 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label=label)
