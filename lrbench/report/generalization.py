"""The generalization figure: training and validation loss of the same runs on one axis.

Per task, ``gap-<task>.svg``: one panel per row (optimizer / schedule, as the heatmap names
it) at the row's best learning rate, with the validation loss (solid) and the loss on the full
training split (dashed) at the evaluation points, each the mean over the cell's non-diverged
seeds, against the epoch; the vertical distance between the two is the generalization gap
(``final_gap_loss`` at the end). A grey dashed vertical line marks the epoch of the lowest
mean validation loss. Every panel of a figure shares the y range (from 0), so gaps compare across
panels. Runs stopped early end where they stopped (the mean covers the evaluations every seed
reached).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lrbench.report.plots import Figure, best_runs, slug, sweep_figure
from lrbench.report.svgchart import PALETTE, Chart, panels

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome

Curve = tuple[str, np.ndarray, np.ndarray, np.ndarray]  # label, epochs, train loss, val loss


@sweep_figure
def gap_figures(outcome: SweepOutcome) -> list[Figure]:
    """``gap-<task>.svg`` for every task with a finished best cell (:func:`gap_curves`)."""
    out = []
    for task in outcome.analysis.tasks:
        curves = gap_curves(outcome, task)
        if curves:
            caption = "training (dashed) and validation (solid) loss at each row's best lr"
            out.append(Figure(f"gap-{slug(task)}.svg", gap_svg(curves), caption, task))
    return out


def gap_curves(outcome: SweepOutcome, task: str) -> list[Curve]:
    """Per row of ``task`` with a best lr: its label, the evaluation epochs and the mean
    training and validation losses over the best cell's non-diverged seeds (their common
    evaluations)."""
    out = []
    for b, runs in best_runs(outcome, task):
        n = min(len(r.eval_step) for r in runs)
        epochs = np.asarray(runs[0].eval_step[:n], dtype=float) / runs[0].steps_per_epoch
        train = np.mean([np.asarray(r.eval_train_loss[:n], dtype=float) for r in runs], axis=0)
        val = np.mean([np.asarray(r.eval_val_loss[:n], dtype=float) for r in runs], axis=0)
        out.append((f"{b.row_label} @ lr={b.best_lr:g}", epochs, train, val))
    return out


def gap_svg(curves: list[Curve]) -> str:
    """The panels of one task's figure (see the module docstring; the file name names the
    task)."""
    values = [v for _, _, tr, va in curves for v in (*tr, *va) if math.isfinite(v)]
    top = max(values, default=1.0) * 1.05 or 1.0
    charts = []
    for i, (label, epochs, train, val) in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        chart = Chart(
            width=470,
            height=300,
            title=label,
            xlabel="epoch",
            ylabel="loss (mean over seeds)",
            ylim=(0.0, top),
        )
        chart.line(epochs, val, label="validation", marker=False, color=color)
        chart.line(epochs, train, label="training (full split)", marker=False, dash=True,
                   color=color)  # fmt: skip
        if np.isfinite(val).any():
            best = int(np.nanargmin(val))
            chart.vline(epochs[best], label=f"lowest val loss, epoch {epochs[best]:.3g}")
        charts.append(chart)
    return panels(charts, columns=2)
