"""Figures from result tables: pandas in, image files out (no torch).

Figures are built with matplotlib's object API (`Figure`, never pyplot): nothing global is
changed, no window is opened, and `savefig` renders PNGs with the Agg canvas on headless nodes.
Colours come from matplotlib's own colormaps rather than seaborn, whose import alone costs more
than a second per Snakemake job and which changes global styles.

Shared helpers (`model_colours`, `model_markers`, `outer_legend`) are meant for every figure of
the paper, so one model keeps its colour and marker across figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from vlgen.tasks.fewshot import DDOF_OF_PRESET, summarise

PANEL_SIZE = (3.2, 2.6)
MAX_PANEL_COLUMNS = 3
LEGEND_ROWS = 20
DPI = 150
# Past tab10's 10 colours: tab20, then these three concatenated (60 colours).
QUALITATIVE = ("tab20", "tab20b", "tab20c")
# One sequential colormap per model family; members of a family are shades of it.
FAMILY_COLORMAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys", "YlOrBr", "PuRd")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FEWSHOT_COLUMNS = ("model", "dataset", "preset", "shots", "trial", "accuracy")

Colour = tuple[float, float, float, float]


def model_colours(
    models: Sequence[str], families: Mapping[str, str] | None = None
) -> dict[str, Colour]:
    """A colour per model that stays distinguishable from 3 to 60 models.

    Without families: tab10 up to 10 models, tab20 up to 20, then tab20 + tab20b + tab20c
    (cycling beyond 60, where markers still tell lines apart). With families (model -> family):
    each family gets a sequential colormap and its members shades of it, so families read as
    blocks (vision / vision-language / text); more than 8 families reuse colormaps.
    """
    if families:
        return _family_colours(models, families)
    if len(models) <= 10:
        palette = list(colormaps["tab10"].colors)
    else:
        palette = [colour for name in QUALITATIVE for colour in colormaps[name].colors]
        if len(models) <= 20:
            palette = palette[:20]
    return {model: (*palette[i % len(palette)][:3], 1.0) for i, model in enumerate(models)}


def _family_colours(models: Sequence[str], families: Mapping[str, str]) -> dict[str, Colour]:
    members: dict[str, list[str]] = {}
    for model in models:
        members.setdefault(families[model], []).append(model)
    colours = {}
    for index, group in enumerate(members.values()):
        cmap = colormaps[FAMILY_COLORMAPS[index % len(FAMILY_COLORMAPS)]]
        # Skip the palest shades, which vanish on white; one member gets a mid-dark shade.
        shades = np.linspace(0.45, 0.9, len(group)) if len(group) > 1 else [0.75]
        colours.update({model: tuple(cmap(shade)) for model, shade in zip(group, shades)})
    return colours


def model_markers(models: Sequence[str]) -> dict[str, str]:
    """A marker per model, cycling, so lines of similar colour still differ (and in greyscale)."""
    return {model: MARKERS[i % len(MARKERS)] for i, model in enumerate(models)}


def outer_legend(fig: Figure, handles: Sequence[Line2D]) -> None:
    """One legend for the whole figure, right of the panels, a column per LEGEND_ROWS entries."""
    fig.legend(
        handles=handles,
        loc="outside right upper",
        ncols=math.ceil(len(handles) / LEGEND_ROWS),
        frameon=False,
        fontsize="small",
    )


def fewshot_figure(table: pd.DataFrame, ddof: Mapping[str, int] = DDOF_OF_PRESET) -> Figure:
    """Accuracy vs shots, mean over trials with a +-1 standard-error band, a line per model.

    The band's std uses `ddof[preset]` (named in each panel's title).
    One panel per dataset (wrapped MAX_PANEL_COLUMNS to a row); with several presets, one row
    per dataset and one column per preset. Chance level (1 / n_classes) is drawn dashed when the
    table has an `n_classes` column; models are coloured by `family` when that column exists.
    """
    missing = [column for column in FEWSHOT_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"few-shot table lacks columns {missing}")
    summary = pd.DataFrame(summarise(table.to_dict("records"), ddof=ddof))
    models = _model_order(table)
    families = _families(table)
    colours, markers = model_colours(models, families), model_markers(models)
    chance = _chance_levels(table)

    panels = [(d, p) for d in pd.unique(table["dataset"]) for p in pd.unique(table["preset"])]
    several_presets = table["preset"].nunique() > 1
    fig, axes = _panel_grid(len(panels), table["preset"].nunique() if several_presets else None)
    for (dataset, preset), ax in zip(panels, axes):
        in_panel = summary[(summary["dataset"] == dataset) & (summary["preset"] == preset)]
        _draw_accuracy_vs_shots(ax, in_panel, models, colours, markers)
        if dataset in chance:
            ax.axhline(chance[dataset], linestyle="--", color="0.4", linewidth=1)
        spread = f"±1 s.e., ddof={ddof.get(preset, 1)}"
        ax.set_title(f"{dataset} ({preset})\n{spread}" if several_presets else f"{dataset}\n{spread}",
                     fontsize="medium")
    fig.supxlabel("shots per class (N)")
    fig.supylabel("test accuracy")

    handles = [_legend_line(m, colours[m], markers[m]) for m in models]
    if chance:
        handles.append(Line2D([], [], linestyle="--", color="0.4", linewidth=1, label="chance"))
    outer_legend(fig, handles)
    return fig


def plot_fewshot(table: pd.DataFrame, out_path: str | Path, ddof: Mapping[str, int] = DDOF_OF_PRESET) -> None:
    """Draw `fewshot_figure(table, ddof)` and save it to `out_path` (format from the suffix)."""
    save_figure(fewshot_figure(table, ddof), [out_path])


def _draw_accuracy_vs_shots(
    ax: Axes,
    summary: pd.DataFrame,
    models: Sequence[str],
    colours: Mapping[str, Colour],
    markers: Mapping[str, str],
) -> None:
    # Thirty overlapping bands hide the lines: fainter bands as the model count grows.
    band_alpha = 0.2 if len(models) <= 10 else 0.08
    for model in models:
        rows = summary[summary["model"] == model].sort_values("shots")
        if rows.empty:
            continue
        shots, mean, sem = (rows[c].to_numpy(dtype=float) for c in ("shots", "mean", "sem"))
        ax.plot(shots, mean, color=colours[model], marker=markers[model], markersize=4)
        # sem is NaN with a single trial: the band is then simply not drawn.
        ax.fill_between(shots, mean - sem, mean + sem, color=colours[model], alpha=band_alpha, lw=0)
    ax.set_xticks(sorted(summary["shots"].unique()))
    ax.grid(alpha=0.3)


def _panel_grid(n_panels: int, n_columns: int | None) -> tuple[Figure, list[Axes]]:
    """A figure with exactly `n_panels` axes, row-major; unused grid cells are removed."""
    n_columns = n_columns or min(n_panels, MAX_PANEL_COLUMNS)
    n_rows = math.ceil(n_panels / n_columns)
    fig = Figure(
        figsize=(PANEL_SIZE[0] * n_columns, PANEL_SIZE[1] * n_rows), layout="constrained"
    )
    grid = fig.subplots(n_rows, n_columns, squeeze=False).ravel()
    for ax in grid[n_panels:]:
        ax.remove()
    return fig, list(grid[:n_panels])


def _model_order(table: pd.DataFrame) -> list[str]:
    """Models in table order, grouped by family (families in order of first appearance)."""
    models = list(pd.unique(table["model"]))
    families = _families(table)
    if not families:
        return models
    family_rank = {family: i for i, family in enumerate(dict.fromkeys(families.values()))}
    return sorted(models, key=lambda model: family_rank[families[model]])


def _families(table: pd.DataFrame) -> dict[str, str] | None:
    if "family" not in table.columns:
        return None
    return dict(zip(table["model"], table["family"].astype(str)))


def _chance_levels(table: pd.DataFrame) -> dict[str, float]:
    if "n_classes" not in table.columns:
        return {}
    n_classes = table.groupby("dataset", sort=False)["n_classes"].first()
    return {dataset: 1.0 / n for dataset, n in n_classes.items()}


def _legend_line(model: str, colour: Colour, marker: str) -> Line2D:
    return Line2D([], [], color=colour, marker=marker, markersize=4, label=model)


# -- Figure 1: the generalization battery ---------------------------------------------------------
GENERALIZATION_COLUMNS = ("model", "panel", "mean", "sem")
# Height per model row: 30 models give a ~7 inch tall figure whose names stay legible.
BAR_ROW_INCHES = 0.22


def generalization_figure(scores: pd.DataFrame, panels: Sequence[str], title: str | None = None,
                          xlabel: str = "accuracy") -> Figure:
    """Horizontal bars, one panel per task (`panels`, in order), one row per model shared by all.

    `scores` has a row per (model, panel) with `mean` and `sem` (the error bar, +-1 s.e.; none
    where NaN) and optionally `family` (models are then grouped and coloured by family). Rows
    grow with the model count, so 3 and 30 models both read; a panel without rows says "not run".
    """
    missing = [column for column in GENERALIZATION_COLUMNS if column not in scores.columns]
    if missing:
        raise ValueError(f"generalization scores lack columns {missing}")
    models = _model_order(scores)
    families = _families(scores)
    colours = model_colours(models, families)
    row = {model: i for i, model in enumerate(models)}
    fig = Figure(figsize=(2.4 * len(panels) + 1.6, max(PANEL_SIZE[1], 1.0 + BAR_ROW_INCHES * len(models))),
                 layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for panel, ax in zip(panels, axes):
        rows = scores[(scores["panel"] == panel) & scores["model"].isin(row)]
        y = rows["model"].map(row).to_numpy()
        ax.barh(y, rows["mean"], color=[colours[m] for m in rows["model"]], height=0.8)
        with_error = rows["sem"].notna().to_numpy()
        ax.errorbar(rows["mean"][with_error], y[with_error], xerr=rows["sem"][with_error], fmt="none",
                    ecolor="0.2", elinewidth=1, capsize=2)
        if rows.empty:
            ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_title(panel)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(models)), models, fontsize="small")
    axes[0].set_ylim(len(models) - 0.5, -0.5)  # first model on top
    fig.supxlabel(xlabel)
    if title:
        fig.suptitle(title)
    if families:
        outer_legend(fig, _family_handles(models, families, colours))
    return fig


def plot_generalization(scores: pd.DataFrame, panels: Sequence[str], out_paths: Sequence[str | Path],
                        **options: str) -> None:
    """Draw `generalization_figure(scores, panels, **options)` once, save it to every path."""
    save_figure(generalization_figure(scores, panels, **options), out_paths)


def save_figure(fig: Figure, out_paths: Sequence[str | Path]) -> None:
    """Save one drawn figure to every path (the format from each suffix: png, pdf), making folders."""
    for out_path in map(Path, out_paths):
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_path, dpi=DPI)


def _family_handles(models: Sequence[str], families: Mapping[str, str], colours: Mapping[str, Colour]) -> list[Patch]:
    """A legend patch per family, in the colour of its middle member."""
    members: dict[str, list[str]] = {}
    for model in models:
        members.setdefault(families[model], []).append(model)
    return [Patch(color=colours[group[len(group) // 2]], label=family) for family, group in members.items()]
