"""The sweep's figures, SVG written by :mod:`lrbench.report.svgchart` (no matplotlib).

Per task, ``sensitivity-<task>.svg``: the metric (mean over seeds) against the learning rate on a
log axis, one line per optimizer / schedule with its 95 % interval as a band, an x for every cell
whose seeds all diverged (just past the worst finite mean: above it for a loss, below it for an
accuracy), and the stability bound 2/L as a dashed vertical line when the task has one;
the y axis is logarithmic for a loss metric whose finite means are all positive.
``curves-<task>.svg``: the validation loss (mean over the non-diverged seeds) against the epoch
at the best learning rate of each row, on a log axis when every value is positive.

A row has the same colour in both figures of its task. :func:`sweep_plots` builds them; the
command line writes them (the sweep itself draws nothing).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lrbench.report.svgchart import PALETTE, Chart
from lrbench.report.theory import bound_lines, theory_figures
from lrbench.sweep.analysis import direction
from lrbench.sweep.findings import Cell, RowKey

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome


@dataclass(frozen=True)
class Figure:
    """A figure: its file name (in the results folder's ``plots/``) and its SVG text."""

    name: str
    svg: str


def slug(text: str) -> str:
    """``text`` made safe as a file name: runs of other characters than ``A-Za-z0-9._-``
    become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "task"


def sweep_plots(outcome: SweepOutcome) -> list[Figure]:
    """The sweep's figures, two per task in the analysis's task order: sensitivity, curves."""
    a = outcome.analysis
    figures = []
    for task in a.tasks:
        rows: dict[RowKey, list[Cell]] = {}
        for c in a.cells:
            if c.task == task:
                rows.setdefault(c.row, []).append(c)
        colors = {row: PALETTE[i % len(PALETTE)] for i, row in enumerate(rows)}
        figures.append(
            Figure(f"sensitivity-{slug(task)}.svg", _sensitivity(outcome, task, rows, colors))
        )
        figures.append(Figure(f"curves-{slug(task)}.svg", _curves(outcome, task, colors)))
    for parts, svg in theory_figures(outcome):  # batch size, conditioning, sharpness
        figures.append(Figure("-".join(slug(p) for p in parts) + ".svg", svg))
    return figures


def _sensitivity(
    outcome: SweepOutcome, task: str, rows: dict[RowKey, list[Cell]], colors: dict[RowKey, str]
) -> str:
    a = outcome.analysis
    lower_better = direction(a.metric) == "min"
    finite = [c.mean for cells in rows.values() for c in cells if math.isfinite(c.mean)]
    log_y = "loss" in a.metric and all(m > 0 for m in finite)
    worst = _beyond_worst(finite, lower_better, log_y)
    chart = Chart(
        title=f"{task}: {a.metric} (x: all seeds diverged)",
        xlabel="learning rate",
        ylabel=f"{a.metric}, mean over seeds ({'lower' if lower_better else 'higher'} is better)",
        xlog=True,
        ylog=log_y,
    )
    for row, cells in rows.items():
        cells = sorted(cells, key=lambda c: c.lr)
        lr = np.array([c.lr for c in cells], dtype=float)
        mean = np.array([c.mean for c in cells], dtype=float)
        ci = np.array([c.ci95 for c in cells], dtype=float)
        color = chart.line(lr, mean, label=cells[0].row_label, color=colors[row])
        ok = np.isfinite(ci)  # NaN for one seed: no band there
        if ok.any():
            chart.band(lr, np.where(ok, mean - ci, np.nan), np.where(ok, mean + ci, np.nan), color)
        div = np.array([c.status == "diverged" for c in cells])
        if div.any():
            chart.marks(lr[div], np.full(int(div.sum()), worst), color, symbol="x")
    for x, label, color in bound_lines(outcome, task):  # 2/L and heavy ball (report.theory)
        chart.vline(x, label=label, color=color)
    return chart.to_svg()


def _beyond_worst(values: list[float], lower_better: bool, log: bool) -> float:
    """Where diverged cells (which have no value) are marked: a little past the worst finite
    value of the figure, above it for a lower-is-better metric, below it otherwise."""
    if not values:
        return 1.0
    lo, hi = min(values), max(values)
    if log:
        f = (hi / lo) ** 0.08 if hi > lo else 1.5
        return hi * f if lower_better else lo / f
    d = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    return hi + d if lower_better else lo - d


def _curves(outcome: SweepOutcome, task: str, colors: dict[RowKey, str]) -> str:
    a = outcome.analysis
    series = []
    for b in a.best:
        if b.task != task or b.best_lr is None:
            continue
        runs = [
            r
            for r, m in zip(outcome.results, a.runs, strict=True)
            if m.row == b.row and m.lr == b.best_lr and r.status != "diverged"
        ]
        if not runs:
            continue
        epochs = np.asarray(runs[0].eval_step, dtype=float) / runs[0].steps_per_epoch
        n = min(len(r.eval_val_loss) for r in runs)
        curve = np.mean([np.asarray(r.eval_val_loss[:n], dtype=float) for r in runs], axis=0)
        series.append((epochs[:n], curve, f"{b.row_label} @ lr={b.best_lr:g}", b.row))
    ys = [y for _, curve, _, _ in series for y in curve]
    log_y = bool(ys) and all(math.isfinite(y) and y > 0 for y in ys)
    chart = Chart(
        title=f"{task}: best learning rate of each row",
        xlabel="epoch",
        ylabel="validation loss (mean over seeds)",
        ylog=log_y,
    )
    for x, y, label, row in series:
        chart.line(x, y, label=label, marker=False, color=colors.get(row))
    return chart.to_svg()
