"""Figure 3: how models group by the similarity of their RDMs (no torch; matplotlib object API).

One row per RSA dataset (the paper: ImageNet only; the demo: digits): (a) the average-linkage
dendrogram on 1 - r, (b) a t-SNE map of the models on 1 - r (from 4 models on), (c) the r matrix
ordered like the dendrogram's leaves. Models are coloured by family with `plots.model_colours`, so
a model has the same colour as in the other figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster.hierarchy import dendrogram, leaves_list

from vlgen.report.plots import Colour, model_colours, save_figure
from vlgen.tasks.rdm_compare import similarity_matrix
from vlgen.tasks.rsa import TSNE_MIN_MODELS, dendrogram_order, model_linkage, model_tsne

ROW_HEIGHT_PER_MODEL = 0.22
MIN_ROW_HEIGHT = 3.2
PANEL_WIDTHS = {"dendrogram": 3.6, "tsne": 3.6, "heatmap": 4.4}
# Cell values are written into the heatmap up to this many models; beyond, the colour bar reads them.
ANNOTATE_MAX_MODELS = 12
LINK_COLOUR = "0.35"


def rsa_figure(table: pd.DataFrame, models: Sequence[str], families: Mapping[str, str], *,
               perplexity: float, seed: int, learning_rate: float | str = "auto") -> Figure:
    """Figure 3 from the `rdm_correlations` table (one row of panels per dataset in the table).

    `models` gives the order (the run's); every pair of them must be in the table for each dataset.
    """
    datasets, models, colours = _drawn(table, models, families)
    panels = ["dendrogram", "tsne", "heatmap"] if len(models) >= TSNE_MIN_MODELS else ["dendrogram", "heatmap"]
    row_height = max(MIN_ROW_HEIGHT, ROW_HEIGHT_PER_MODEL * len(models) + 1.2)
    fig = Figure(figsize=(sum(PANEL_WIDTHS[p] for p in panels), row_height * len(datasets)), layout="constrained")
    grid = fig.subplots(len(datasets), len(panels), squeeze=False,
                        width_ratios=[PANEL_WIDTHS[p] for p in panels])
    method = str(table["method"].iloc[0])
    for row, dataset in zip(grid, datasets):
        rows = table[table["dataset"] == dataset].to_dict("records")
        similarity = similarity_matrix(rows, models)
        axes = dict(zip(panels, row))
        _draw_dendrogram(axes["dendrogram"], similarity, models, colours)
        axes["dendrogram"].set_title(f"(a) {dataset}: average linkage on 1 - r", fontsize="medium")
        if "tsne" in axes:
            _draw_tsne(axes["tsne"], similarity, models, colours, perplexity, seed, learning_rate)
            axes["tsne"].set_title(f"(b) {dataset}: t-SNE on 1 - r", fontsize="medium")
        _draw_heatmap(fig, axes["heatmap"], similarity, models, colours, method)
        axes["heatmap"].set_title(f"({'c' if 'tsne' in axes else 'b'}) {dataset}: {method} r of RDMs",
                                  fontsize="medium")
    fig.legend(handles=family_handles(models, families, colours), loc="outside lower center",
               ncols=len(set(families[m] for m in models)), frameon=False, fontsize="small")
    return fig


def _drawn(table: pd.DataFrame, models: Sequence[str], families: Mapping[str, str]
           ) -> tuple[list[str], list[str], dict[str, Colour]]:
    """The datasets of a correlation table, the models it holds (in `models` order) and their colours."""
    datasets = list(pd.unique(table["dataset"]))
    if not datasets:
        raise ValueError("the RDM correlation table is empty: no dataset to draw")
    present = set(table["model_a"]) | set(table["model_b"])
    drawn = [m for m in models if m in present]
    return datasets, drawn, model_colours(drawn, {m: families[m] for m in drawn})


def plot_rsa(table: pd.DataFrame, out_paths: Sequence[str | Path], models: Sequence[str],
             families: Mapping[str, str], *, perplexity: float, seed: int, learning_rate: float | str = "auto") -> Figure:
    """Draw `rsa_figure` once, save it to every path (format from each suffix: png, pdf), return it."""
    fig = rsa_figure(table, models, families, perplexity=perplexity, seed=seed, learning_rate=learning_rate)
    save_figure(fig, out_paths)
    return fig


def _draw_dendrogram(ax: Axes, similarity: np.ndarray, models: Sequence[str], colours: Mapping[str, Colour]) -> None:
    dendrogram(model_linkage(similarity), ax=ax, labels=list(models), orientation="left",
               link_color_func=lambda _: LINK_COLOUR, leaf_font_size=8)
    colour_tick_labels(ax.get_yticklabels(), colours)
    ax.set_xlabel("1 - r")
    ax.spines[["top", "right", "left"]].set_visible(False)


def _draw_tsne(ax: Axes, similarity: np.ndarray, models: Sequence[str], colours: Mapping[str, Colour],
               perplexity: float, seed: int, learning_rate: float | str) -> None:
    coords = model_tsne(similarity, perplexity, seed, learning_rate)
    for (x, y), model in zip(coords, models):
        ax.scatter(x, y, color=colours[model], s=40, edgecolor="0.2", linewidth=0.5)
        ax.annotate(model, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.margins(0.2)


def _draw_heatmap(fig: Figure, ax: Axes, similarity: np.ndarray, models: Sequence[str],
                  colours: Mapping[str, Colour], method: str) -> None:
    # Leaf order, first leaf at the bottom as in the left-oriented dendrogram beside it.
    order = dendrogram_order(similarity)
    ordered = similarity[np.ix_(order, order)]
    names = [models[i] for i in order]
    image = ax.imshow(ordered, origin="lower", cmap="viridis", vmin=min(0.0, float(ordered.min())), vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    colour_tick_labels([*ax.get_xticklabels(), *ax.get_yticklabels()], colours)
    if len(names) <= ANNOTATE_MAX_MODELS:
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{ordered[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if ordered[i, j] < 0.5 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label=f"{method} r")


def stability_figure(table: pd.DataFrame, clades: pd.DataFrame, models: Sequence[str],
                     families: Mapping[str, str]) -> Figure:
    """Beside Figure 3: (a) its dendrogram with each clade's bootstrap support, (b) every pair's r with
    its bootstrap interval (`ci_low`, `ci_high`), sorted by r; one row per dataset of the table."""
    datasets, models, colours = _drawn(table, models, families)
    n_pairs = len(models) * (len(models) - 1) // 2
    row_height = max(MIN_ROW_HEIGHT, ROW_HEIGHT_PER_MODEL * len(models) + 1.2, 0.16 * n_pairs + 1.0)
    fig = Figure(figsize=(PANEL_WIDTHS["dendrogram"] + 5.0, row_height * len(datasets)), layout="constrained")
    grid = fig.subplots(len(datasets), 2, squeeze=False, width_ratios=[PANEL_WIDTHS["dendrogram"], 5.0])
    for (tree_ax, pairs_ax), dataset in zip(grid, datasets):
        rows = table[table["dataset"] == dataset]
        similarity = similarity_matrix(rows.to_dict("records"), models)
        support = clades[clades["dataset"] == dataset]
        _draw_dendrogram(tree_ax, similarity, models, colours)
        _annotate_support(tree_ax, similarity, models, dict(zip(support["clade"], support["support"])))
        tree_ax.set_title(f"(a) {dataset}: clade support", fontsize="medium")
        _draw_intervals(pairs_ax, rows)
        pairs_ax.set_title(f"(b) {dataset}: {rows['method'].iloc[0]} r, 95% bootstrap interval", fontsize="medium")
    return fig


def plot_stability(table: pd.DataFrame, clades: pd.DataFrame, out_paths: Sequence[str | Path],
                   models: Sequence[str], families: Mapping[str, str]) -> Figure:
    """Draw `stability_figure` once, save it to every path (format from each suffix), return it."""
    fig = stability_figure(table, clades, models, families)
    save_figure(fig, out_paths)
    return fig


def _annotate_support(ax: Axes, similarity: np.ndarray, models: Sequence[str], support: Mapping[str, float]) -> None:
    """Write each clade's support at its node: scipy places leaf k at 5 + 10 k (leaf order) and a node
    midway between its children, at its merge height."""
    tree = model_linkage(similarity)
    n = len(models)
    position = {int(leaf): 5.0 + 10.0 * k for k, leaf in enumerate(leaves_list(tree))}
    members = {i: [i] for i in range(n)}
    for i, (left, right, height, _) in enumerate(tree):
        node = n + i
        members[node] = members[int(left)] + members[int(right)]
        position[node] = (position[int(left)] + position[int(right)]) / 2
        clade = ";".join(models[j] for j in sorted(members[node]))
        if clade in support and np.isfinite(support[clade]):
            ax.annotate(f"{support[clade]:.0%}", (height, position[node]), xytext=(-2, 2),
                        textcoords="offset points", ha="right", fontsize=6, color="tab:red")


def _draw_intervals(ax: Axes, rows: pd.DataFrame) -> None:
    ordered = rows.sort_values("r").reset_index(drop=True)
    y = np.arange(len(ordered))
    # A percentile interval need not contain r (a skewed bootstrap): then its near side is drawn empty.
    below, above = (ordered["r"] - ordered["ci_low"]).clip(lower=0), (ordered["ci_high"] - ordered["r"]).clip(lower=0)
    ax.errorbar(ordered["r"], y, xerr=[below, above],
                fmt="o", markersize=3, color="0.2", ecolor="0.55", capsize=2, linewidth=1)
    ax.set_yticks(y, [f"{a} / {b}" for a, b in zip(ordered["model_a"], ordered["model_b"])], fontsize=6)
    ax.set_xlabel("r")
    ax.spines[["top", "right"]].set_visible(False)


def colour_tick_labels(labels: Sequence, colours: Mapping[str, Colour]) -> None:
    for label in labels:
        label.set_color(colours.get(label.get_text(), "black"))


def family_handles(models: Sequence[str], families: Mapping[str, str], colours: Mapping[str, Colour]) -> list[Patch]:
    """One patch per family, in colour of its first model (families in order of first appearance)."""
    first = {}
    for model in models:
        first.setdefault(families[model], model)
    return [Patch(color=colours[model], label=family) for family, model in first.items()]
