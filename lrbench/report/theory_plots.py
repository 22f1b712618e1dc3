"""The theory figures, registered with :func:`lrbench.report.plots.sweep_figure` (so they join
``plots/`` and ``report.html``) when the sweep has what they show:

- ``batch-<task>.svg``: per row trained at several batch sizes, the best learning rate against
  the batch size (log-log) with the fitted exponent, and the linear (a = 1) and square-root
  (a = 0.5) rules drawn through its first point (:func:`lrbench.sweep.theory.batch_fits`);
- ``conditioning-<task>.svg``: per row, the best learning rate against the condition number of
  the design (:func:`lrbench.sweep.theory.conditioning_rows`);
- ``sharpness-<task>-<row>.svg``: with ``train.track: [sharpness]``, the largest Hessian
  eigenvalue over training at each learning rate (mean over the seeds that did not diverge),
  each with its 2/lr dashed in the same colour (the edge of stability, Cohen et al. 2021).

A figure's task is the heatmap's task label when it is one (sharpness); the batch-size and
conditioning figures span several of the heatmap's tasks (one per batch size or condition
number) and are figures of the whole sweep.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lrbench.report.plots import Figure, slug, sweep_figure
from lrbench.report.svgchart import PALETTE, Chart
from lrbench.report.theory import EXPONENT_RULES
from lrbench.sweep.store import eval_lrs
from lrbench.sweep.theory import batch_fits, conditioning_rows

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome


def _g(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


CAPTIONS = {
    "batch": "best learning rate against batch size (log-log), with the fitted exponent a and "
    "the linear (a = 1) and square-root (a = 0.5) rules dashed",
    "conditioning": "best learning rate against the condition number of the standardised design",
    "sharpness": "largest Hessian eigenvalue of the training loss over training at each lr, "
    "with 2/lr dashed in the same colour (the edge of stability)",
}


@sweep_figure
def theory_plots(outcome: SweepOutcome) -> list[Figure]:
    """Every theory figure this sweep has data for (the module docstring)."""
    tasks = set(outcome.analysis.tasks)
    out = []
    for parts, svg in theory_figures(outcome):
        name = "-".join(slug(p) for p in parts) + ".svg"
        task = parts[1] if parts[1] in tasks else None
        out.append(Figure(name, svg, CAPTIONS[parts[0]], task))
    return out


def theory_figures(outcome: SweepOutcome) -> list[tuple[tuple[str, ...], str]]:
    """The theory figures this sweep has data for, as ``(name parts, svg)``: ``("batch",
    task)``, ``("conditioning", task)``, ``("sharpness", task, row)`` (the caller makes the file
    name, :func:`lrbench.report.figures.sweep_plots`)."""
    figures: list[tuple[tuple[str, ...], str]] = []
    fits = batch_fits(outcome.analysis)
    for task in dict.fromkeys(f.task for f in fits):
        figures.append((("batch", task), _batch_chart(fits, task)))
    cond = conditioning_rows(outcome.analysis)
    for task in dict.fromkeys(r.task for r in cond):
        figures.append((("conditioning", task), _conditioning_chart(cond, task)))
    for (task, label), svg in _sharpness_charts(outcome).items():
        figures.append((("sharpness", task, label), svg))
    return figures


def _batch_chart(fits: Sequence, task: str) -> str:
    chart = Chart(title=f"{task}: best learning rate against batch size", xlabel="batch size",
                  ylabel="best learning rate", xlog=True, ylog=True)  # fmt: skip
    for i, f in enumerate(x for x in fits if x.task == task):
        lrs = np.array([math.nan if v is None else v for v in f.best_lrs], dtype=float)
        color = PALETTE[i % len(PALETTE)]
        chart.line(f.batch_sizes, lrs, label=f"{f.row_label} (a = {_g(f.exponent)})", color=color)
        ok = np.isfinite(lrs)
        if ok.any():
            b0, lr0 = f.batch_sizes[int(np.argmax(ok))], lrs[ok][0]
            for a, name in EXPONENT_RULES:
                ref = lr0 * (np.asarray(f.batch_sizes, dtype=float) / b0) ** a
                chart.line(f.batch_sizes, ref, label=f"{name} rule (a = {a:g})" if i == 0 else None,
                           marker=False, dash=True, color=color, opacity=0.5, width=1.0)  # fmt: skip
    return chart.to_svg()


def _conditioning_chart(rows: Sequence, task: str) -> str:
    chart = Chart(title=f"{task}: best learning rate against condition number",
                  xlabel="condition number of the design", ylabel="best learning rate",
                  xlog=True, ylog=True)  # fmt: skip
    labels = list(dict.fromkeys(r.row_label for r in rows if r.task == task))
    for label in labels:
        mine = [r for r in rows if r.task == task and r.row_label == label]
        lrs = [math.nan if r.best_lr is None else r.best_lr for r in mine]
        chart.line([r.condition_number for r in mine], lrs, label=label)
    return chart.to_svg()


def _sharpness_charts(outcome: SweepOutcome) -> dict[tuple[str, str], str]:
    """Per task and row with tracked sharpness: sharpness over training at each lr (mean over
    the seeds that did not diverge), each with its 2/lr dashed in the same colour."""
    series: dict[tuple[str, str], dict[float, list]] = {}
    for r, m in zip(outcome.results, outcome.analysis.runs, strict=True):
        if r.eval_sharpness is None or r.status == "diverged":
            continue
        series.setdefault((m.task, m.row_label), {}).setdefault(m.lr, []).append(r)
    out = {}
    for (task, label), by_lr in series.items():
        chart = Chart(title=f"{task} {label}: sharpness and 2/lr (dashed)", xlabel="step",
                      ylabel="largest Hessian eigenvalue", ylog=True)  # fmt: skip
        for i, lr in enumerate(sorted(by_lr)):
            runs = by_lr[lr]
            n = min(len(r.eval_sharpness) for r in runs)
            steps = np.asarray(runs[0].eval_step[:n], dtype=float)
            mean = np.mean([np.asarray(r.eval_sharpness[:n], dtype=float) for r in runs], axis=0)
            color = chart.line(steps, mean, label=f"lr {lr:g}", color=PALETTE[i % len(PALETTE)])
            two = 2.0 / np.asarray(eval_lrs(runs[0])[:n], dtype=float)
            chart.line(steps, two, marker=False, dash=True, color=color, width=1.0)
        out[(task, label)] = chart.to_svg()
    return out
