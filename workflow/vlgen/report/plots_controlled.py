"""figures/controlled.png: each recipe's mean ± standard error over training seeds (no torch).

One panel per (task, metric); in each, a group of bars per (dataset, view), a bar per recipe, and
every seed's value as a dot on its bar, so three seeds are seen as three seeds and not as a bar
alone. Recipes keep one colour in every panel (`random` grey: it is the floor the others start from).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from vlgen.report.plots import Colour, outer_legend, save_figure
from vlgen.tasks.paired import recipe_summary

PANEL_COLUMNS = 2
PANEL_HEIGHT = 2.8
INCHES_PER_GROUP = 1.2
# The recipes of issue 17 in reading order; others (a new recipe in the config) follow in table order.
RECIPE_ORDER = ("random", "labels", "label-names", "captions")
RANDOM_GREY = (0.6, 0.6, 0.6, 1.0)


def recipe_colours(recipes: Sequence[str]) -> dict[str, Colour]:
    """`random` grey, the other recipes tab10's colours in order."""
    palette = [c for c in colormaps["tab10"].colors if c[0] != c[1]]  # tab10 without its grey
    others = [r for r in recipes if r != "random"]
    colours = {r: (*palette[i % len(palette)][:3], 1.0) for i, r in enumerate(others)}
    return {r: RANDOM_GREY if r == "random" else colours[r] for r in recipes}


def ordered_recipes(table: pd.DataFrame) -> list[str]:
    present = list(pd.unique(table["recipe"]))
    return [r for r in RECIPE_ORDER if r in present] + [r for r in present if r not in RECIPE_ORDER]


def controlled_figure(table: pd.DataFrame) -> Figure:
    """Bars of mean ± s.e. over seeds per recipe and (dataset, view), a panel per (task, metric)."""
    if table.empty:
        raise ValueError("the controlled table is empty: nothing to draw")
    summary = recipe_summary(table)
    recipes = ordered_recipes(table)
    colours = recipe_colours(recipes)
    panels = list(table[["task", "metric"]].drop_duplicates().itertuples(index=False, name=None))
    widest = max(len(table[(table["task"] == t) & (table["metric"] == m)][["dataset", "view"]].drop_duplicates())
                 for t, m in panels)
    columns = min(PANEL_COLUMNS, len(panels))
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(columns * max(3.5, INCHES_PER_GROUP * widest), rows * PANEL_HEIGHT + 0.6),
                 layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (task, metric) in zip(axes, panels):
        in_panel = (table["task"] == task) & (table["metric"] == metric)
        _draw_panel(ax, table[in_panel], summary[(summary["task"] == task) & (summary["metric"] == metric)],
                    recipes, colours)
        ax.set_title(f"{task}: {metric}", fontsize="medium")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    n_seeds = table.groupby("recipe")["seed"].nunique()
    fig.suptitle(f"Mean ± s.e. over training seeds (n = {n_seeds.min()}"
                 + (f" to {n_seeds.max()}" if n_seeds.max() != n_seeds.min() else "") + "); dots: seeds",
                 fontsize="medium")
    outer_legend(fig, [Patch(color=colours[r], label=r) for r in recipes])
    return fig


def _draw_panel(ax: Axes, values: pd.DataFrame, summary: pd.DataFrame, recipes: Sequence[str],
                colours: dict[str, Colour]) -> None:
    groups = list(values[["dataset", "view"]].drop_duplicates().itertuples(index=False, name=None))
    width = 0.8 / len(recipes)
    for i, recipe in enumerate(recipes):
        offset = (i - (len(recipes) - 1) / 2) * width
        stats = summary[summary["recipe"] == recipe].set_index(["dataset", "view"])
        for g, group in enumerate(groups):
            if group not in stats.index:
                continue
            row = stats.loc[group]
            ax.bar(g + offset, row["mean"], width, yerr=np.nan_to_num(row["se"]), color=colours[recipe],
                   capsize=2, error_kw={"linewidth": 0.8})
            seeds = values[(values["recipe"] == recipe) & (values["dataset"] == group[0])
                           & (values["view"] == group[1])]["value"]
            ax.plot(np.full(len(seeds), g + offset), seeds, linestyle="none", marker="o", markersize=2.5,
                    color="black", alpha=0.6)
    ax.set_xticks(range(len(groups)), [f"{d}\n{v}" for d, v in groups], fontsize="small")
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)


def plot_controlled(table: pd.DataFrame, out_paths: Sequence[str | Path]) -> None:
    """Draw `controlled_figure(table)` once, save it to every path."""
    save_figure(controlled_figure(table), out_paths)

