"""Figure 2: attack success rate vs epsilon, L2 left and Linf right (untargeted rows of attacks.csv).

One curve per (model, head), coloured by the model's family (shades within a family), markers per
head. The x axis is symlog so epsilon 0 (the clean error) shows beside the log-spaced grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vlgen.report.plots import MARKERS, model_colours, outer_legend, save_figure

PANELS = (("l2", "$L_2$"), ("linf", "$L_\\infty$"))
ATTACK_PLOT_COLUMNS = ("model", "head", "norm", "targeted", "epsilon")


def attack_success_figure(table: pd.DataFrame, families: Mapping[str, str], *, column: str = "success_rate",
                          title: str | None = None) -> Figure:
    """Success rate (`column`: success_rate or success_rate_raw) vs epsilon, one panel per norm."""
    missing = [c for c in (*ATTACK_PLOT_COLUMNS, column) if c not in table.columns]
    if missing:
        raise ValueError(f"attack table lacks columns {missing}")
    rows = table[~table["targeted"].astype(bool)]
    curves = list(dict.fromkeys(zip(rows["model"], rows["head"])))
    models = list(dict.fromkeys(m for m, _ in curves))
    colours = model_colours(models, {m: families.get(m, "other") for m in models})
    heads = list(dict.fromkeys(h for _, h in curves))
    markers = {h: MARKERS[i % len(MARKERS)] for i, h in enumerate(heads)}
    fig = Figure(figsize=(8.4, 3.4), layout="constrained")
    axes = fig.subplots(1, len(PANELS), sharey=True)
    for ax, (norm, label) in zip(axes, PANELS):
        in_panel = rows[rows["norm"] == norm]
        for model, head in curves:
            curve = in_panel[(in_panel["model"] == model) & (in_panel["head"] == head)].sort_values("epsilon")
            if len(curve):
                ax.plot(curve["epsilon"], curve[column], color=colours[model], marker=markers[head],
                        markersize=3.5, linewidth=1.3)
        ax.set_xscale("symlog", linthresh=symlog_threshold(in_panel["epsilon"].to_numpy()))
        ax.set_title(f"{label} PGD" if len(in_panel) else f"{label}: not run")
        ax.set_xlabel(f"epsilon ({label})")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("attack success rate" + (" (raw, per epsilon)" if column == "success_rate_raw" else ""))
    if title:
        fig.suptitle(title, fontsize="medium")
    handles = [Line2D([], [], color=colours[m], marker=markers[h], markersize=4, label=f"{m} ({h})")
               for m, h in curves]
    outer_legend(fig, handles)
    return fig


def plot_attack_success(table: pd.DataFrame, families: Mapping[str, str], out_paths: Sequence[str | Path], *,
                        column: str = "success_rate", title: str | None = None) -> None:
    """Draw `attack_success_figure` to each of `out_paths` (format from the suffix)."""
    fig = attack_success_figure(table, families, column=column, title=title)
    save_figure(fig, out_paths)


def symlog_threshold(epsilons: np.ndarray) -> float:
    """The smallest positive epsilon: below it the axis is linear, so 0 sits one decade left of it."""
    positive = np.asarray(epsilons)[np.asarray(epsilons) > 0]
    return float(positive.min()) if len(positive) else 1e-4
