"""The sweep's figures, SVG written by :mod:`lrbench.report.svgchart` (no matplotlib).

Every figure comes from a *figure maker*, a function ``outcome -> list[Figure]`` registered with
:func:`sweep_figure`; :func:`lrbench.report.figures.sweep_plots` calls them in the order they
were registered, so adding a figure to every sweep (and to ``report.html``) is one decorated
function (in a module that :mod:`lrbench.report.figures` imports). The makers here:

- ``sensitivity-<task>.svg``: the metric (mean over seeds) against the learning rate on a log
  axis, one line per optimizer / schedule, the seeds' spread (lowest to highest seed) as a band,
  a ring on each row's best learning rate, an x for every cell whose seeds all diverged (just
  past the worst finite mean: above it for a loss, below it for an accuracy), and the stability
  bound 2/L as a dashed vertical line when the task has one (and, for heavy-ball rows,
  2(1+momentum)/L; :func:`lrbench.report.theory.bound_lines`, each labelled with what it
  assumes); the y axis is logarithmic for a loss metric whose finite means are all positive.
- ``curves-<task>.svg``: the validation loss (mean over the non-diverged seeds) against the
  epoch at the best learning rate of each row, on a log axis when every value is positive.
- ``loss-<task>.svg``: one panel per optimizer x schedule, the training loss (solid) and the
  validation loss (dashed) against the step for every learning rate, of the config's first
  seed, on a log axis from the lowest loss (at most 6 decades down) to 10 x the highest initial
  loss (values beyond are clipped at the edge). A diverged run is drawn up to the step where it diverged and marked
  there with an x. The training loss is the minibatch loss averaged over bins of
  ``ceil(steps / 60)`` consecutive steps (at most 60 points a line: a 900-step run is drawn
  as 60 means of 15 steps), which also smooths the minibatch noise.
- ``schedules.svg``: the learning rate, as a multiple of the swept lr, against the step for
  every schedule of the config (over the first task's run length).

A row has the same colour in the sensitivity and curves figures of its task; in the loss
panels the colour is the learning rate (dark blue for the smallest, yellow for the largest),
with the legend at the end of each row of panels (a row per optimizer, a column per schedule,
at most 3 columns).
The command line writes the figures (the sweep itself draws nothing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lrbench.core.schedules import SCHEDULES, is_stateful, lr_table
from lrbench.report.svgchart import PALETTE, Chart, panels
from lrbench.report.theory import bound_lines
from lrbench.spec import part_label, registry_defaults
from lrbench.sweep.analysis import direction
from lrbench.sweep.findings import BestRow, Cell, RowKey

if TYPE_CHECKING:
    from lrbench.spec import RunResult
    from lrbench.sweep.run import SweepOutcome


@dataclass(frozen=True)
class Figure:
    """A figure: its file name (in the results folder's ``plots/``), its SVG text, a one-line
    caption for the report page, and the task it shows (None: the whole sweep)."""

    name: str
    svg: str
    caption: str = ""
    task: str | None = None


FigureMaker = Callable[["SweepOutcome"], list[Figure]]

#: The registered figure makers, in the order their figures are written and shown.
FIGURE_MAKERS: list[FigureMaker] = []


def sweep_figure(maker: FigureMaker) -> FigureMaker:
    """Register ``maker`` (a function ``outcome -> list[Figure]``) as a figure of every sweep."""
    FIGURE_MAKERS.append(maker)
    return maker


def slug(text: str) -> str:
    """``text`` made safe as a file name: runs of other characters than ``A-Za-z0-9._-``
    become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "task"


def task_rows(outcome: SweepOutcome, task: str) -> dict[RowKey, list[Cell]]:
    """The cells of each row of ``task``, rows in the analysis's order."""
    rows: dict[RowKey, list[Cell]] = {}
    for c in outcome.analysis.cells:
        if c.task == task:
            rows.setdefault(c.row, []).append(c)
    return rows


def row_colors(rows: dict[RowKey, Any]) -> dict[RowKey, str]:
    """Each row's colour: the palette in row order (the same in every figure of a task)."""
    return {row: PALETTE[i % len(PALETTE)] for i, row in enumerate(rows)}


# ------------------------------------------------------------------------------ sensitivity


@sweep_figure
def sensitivity_figures(outcome: SweepOutcome) -> list[Figure]:
    """``sensitivity-<task>.svg`` for every task."""
    out = []
    for task in outcome.analysis.tasks:
        rows = task_rows(outcome, task)
        caption = (
            f"{outcome.analysis.metric} against the learning rate: mean over seeds, band from "
            "the lowest to the highest seed, ring: the row's best lr, x: every seed diverged"
        )
        svg = _sensitivity(outcome, task, rows, row_colors(rows))
        out.append(Figure(f"sensitivity-{slug(task)}.svg", svg, caption, task))
    return out


def _sensitivity(
    outcome: SweepOutcome, task: str, rows: dict[RowKey, list[Cell]], colors: dict[RowKey, str]
) -> str:
    a = outcome.analysis
    lower_better = direction(a.metric) == "min"
    finite = [c.mean for cells in rows.values() for c in cells if math.isfinite(c.mean)]
    log_y = "loss" in a.metric and all(m > 0 for m in finite)
    worst = _beyond_worst(finite, lower_better, log_y)
    best = {b.row: b.best_lr for b in a.best if b.task == task}
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
        lo = np.array([c.min if c.n_used > 1 else math.nan for c in cells], dtype=float)
        hi = np.array([c.max if c.n_used > 1 else math.nan for c in cells], dtype=float)
        color = chart.line(lr, mean, label=cells[0].row_label, color=colors[row])
        if np.isfinite(lo).any():
            chart.band(lr, lo, hi, color)
        div = np.array([c.status == "diverged" for c in cells])
        if div.any():
            chart.marks(lr[div], np.full(int(div.sum()), worst), color, symbol="x")
        at = [i for i, c in enumerate(cells) if c.lr == best.get(row)]
        if at:
            chart.marks(lr[at], mean[at], color, symbol="o")
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


# ------------------------------------------------------------------------------ best-lr curves


@sweep_figure
def curves_figures(outcome: SweepOutcome) -> list[Figure]:
    """``curves-<task>.svg`` for every task."""
    out = []
    for task in outcome.analysis.tasks:
        colors = row_colors(task_rows(outcome, task))
        caption = "validation loss against the epoch at each row's best learning rate"
        svg = _curves(outcome, task, colors)
        out.append(Figure(f"curves-{slug(task)}.svg", svg, caption, task))
    return out


def best_runs(outcome: SweepOutcome, task: str) -> list[tuple[BestRow, list[RunResult]]]:
    """Each row of ``task`` that has a best lr, with the non-diverged runs (seeds) of its best
    cell; rows whose best cell has none are left out."""
    a = outcome.analysis
    out = []
    for b in a.best:
        if b.task != task or b.best_lr is None:
            continue
        runs = [
            r
            for r, m in zip(outcome.results, a.runs, strict=True)
            if m.row == b.row and m.lr == b.best_lr and r.status != "diverged"
        ]
        if runs:
            out.append((b, runs))
    return out


def _curves(outcome: SweepOutcome, task: str, colors: dict[RowKey, str]) -> str:
    series = []
    for b, runs in best_runs(outcome, task):
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


# ------------------------------------------------------------------------------ loss curves

#: The most points a training-loss line is drawn with (consecutive steps are averaged).
MAX_POINTS = 60

#: The most decades a loss panel spans (a memorised minibatch can reach a loss of 1e-17).
DECADES = 6

#: The viridis colour map at 9 evenly spaced points (matplotlib's ``viridis``), for the lrs.
VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c",
           "#28ae80", "#5ec962", "#addc30", "#fde725")  # fmt: skip


def sequential_colors(n: int) -> list[str]:
    """``n`` colours along :data:`VIRIDIS`, dark to light (interpolated in RGB)."""
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in VIRIDIS], dtype=float)
    at = np.linspace(0, len(VIRIDIS) - 1, n) if n > 1 else np.zeros(1)
    out = []
    for x in at:
        i = min(int(x), len(VIRIDIS) - 2)
        c = rgb[i] + (rgb[i + 1] - rgb[i]) * (x - i)
        out.append("#" + "".join(f"{round(v):02x}" for v in c))
    return out


def binned(x: np.ndarray, y: np.ndarray, most: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The finite points of ``(x, y)`` averaged over bins of ``k = ceil(n / most)`` consecutive
    points (the last bin may be shorter): at most ``most`` points, each the mean x and mean y of
    its bin. ``k = 1`` returns the finite points as they are."""
    ok = np.isfinite(y)
    x, y = np.asarray(x, dtype=float)[ok], np.asarray(y, dtype=float)[ok]
    k = math.ceil(y.size / most) if y.size else 1
    if k <= 1:
        return x, y
    full = y.size // k * k
    xs, ys = [x[:full].reshape(-1, k).mean(axis=1)], [y[:full].reshape(-1, k).mean(axis=1)]
    if full < y.size:
        xs.append(x[full:].mean(keepdims=True))
        ys.append(y[full:].mean(keepdims=True))
    return np.concatenate(xs), np.concatenate(ys)


def _first_seed_runs(outcome: SweepOutcome, task: str) -> dict[RowKey, dict[float, RunResult]]:
    """For each row of ``task``, each lr's run of the smallest seed present."""
    out: dict[RowKey, dict[float, tuple[int, RunResult]]] = {}
    for r, m in zip(outcome.results, outcome.analysis.runs, strict=True):
        if m.task != task:
            continue
        at = out.setdefault(m.row, {})
        if m.lr not in at or m.seed < at[m.lr][0]:
            at[m.lr] = (m.seed, r)
    return {row: {lr: at[lr][1] for lr in sorted(at)} for row, at in out.items()}


@sweep_figure
def loss_figures(outcome: SweepOutcome) -> list[Figure]:
    """``loss-<task>.svg`` for every task with runs."""
    out = []
    labels = {m.row: m.row_label for m in outcome.analysis.runs}
    for task in outcome.analysis.tasks:
        runs = _first_seed_runs(outcome, task)
        if not runs:
            continue
        seed = min(m.seed for m in outcome.analysis.runs if m.task == task)
        svg = _loss_panels(task, runs, labels, seed)
        caption = (
            f"training (solid) and validation (dashed) loss against the step for every "
            f"learning rate, seed {seed}; x: where a run diverged"
        )
        out.append(Figure(f"loss-{slug(task)}.svg", svg, caption, task))
    return out


def _loss_panels(
    task: str, runs: dict[RowKey, dict[float, RunResult]], labels: dict[RowKey, str], seed: int
) -> str:
    lrs = sorted({lr for at in runs.values() for lr in at})
    colors = dict(zip(lrs, sequential_colors(len(lrs))))
    drawn = {
        (row, lr): (binned(r.log_step, r.log_loss), (r.eval_step, r.eval_val_loss))
        for row, at in runs.items()
        for lr, r in at.items()
    }
    ylim = _loss_limits(runs, drawn)
    columns = max(1, min(len({row[2] for row in runs}) if len(runs) > 1 else 1, 3))
    charts = []
    for i, (row, at) in enumerate(runs.items()):
        chart = Chart(
            width=440,
            height=300,
            title=f"{task}: {labels[row]} (seed {seed})",
            xlabel="step",
            ylabel="loss",
            ylog=True,
            ylim=ylim,
        )
        for lr, r in at.items():
            (tx, ty), (vx, vy) = drawn[(row, lr)]
            color = colors[lr]
            chart.line(tx, _clamp(ty, ylim), marker=False, color=color)
            chart.line(vx, _clamp(vy, ylim), marker=False, dash=True, width=1.2, color=color)
            if r.status == "diverged":
                x, y = _divergence_point(r, ylim)
                chart.marks([x], [y], color, symbol="x")
        if i % columns == columns - 1 or i == len(runs) - 1:  # the legend ends each row
            for lr in lrs:
                chart.line([], [], label=f"lr {lr:g}", marker=False, color=colors[lr])
            chart.line([], [], label="training (minibatch)", marker=False, color="#555555")
            chart.line([], [], label="validation", marker=False, dash=True, color="#555555")
        charts.append(chart)
    return panels(charts, columns=columns)


def _loss_limits(
    runs: dict[RowKey, dict[float, RunResult]], drawn: dict[Any, Any]
) -> tuple[float, float]:
    """From the lowest positive loss drawn (but at most :data:`DECADES` decades below the top)
    to 10 x the highest initial loss (log axis)."""
    values = [np.asarray(v, dtype=float) for (t, (_, vy)) in drawn.values() for v in (t[1], vy)]
    allv = np.concatenate(values) if values else np.array([1.0])
    pos = allv[np.isfinite(allv) & (allv > 0)]
    starts = [float(r.log_loss[0]) for at in runs.values() for r in at.values() if len(r.log_loss)]
    starts = [s for s in starts if math.isfinite(s) and s > 0]
    top = 10.0 * max(starts) if starts else (float(pos.max()) if pos.size else 10.0)
    bottom = float(pos.min()) / 1.2 if pos.size else top / 100.0
    return (min(max(bottom, top / 10.0**DECADES), top / 10.0), top)


def _clamp(y: Any, ylim: tuple[float, float]) -> np.ndarray:
    """Finite values held within a decade of the limits (clipped from the panel anyway; a loss
    of 1e111 would write a long pixel coordinate)."""
    y = np.asarray(y, dtype=float)
    lo, hi = ylim
    return np.where(np.isfinite(y), np.clip(y, lo / 10.0, hi * 10.0), y)


def _divergence_point(r: RunResult, ylim: tuple[float, float]) -> tuple[float, float]:
    """Where a diverged run is marked: at the step where it diverged, at its last finite
    training loss held inside the panel."""
    step = r.diverged_at if r.diverged_at is not None else r.steps_done
    loss = np.asarray(r.log_loss, dtype=float)
    finite = loss[np.isfinite(loss)]
    y = float(finite[-1]) if finite.size else ylim[1]
    return float(step), min(max(y, ylim[0]), ylim[1])


# ------------------------------------------------------------------------------ schedules


@sweep_figure
def schedule_figures(outcome: SweepOutcome) -> list[Figure]:
    """``schedules.svg``: every schedule of the config over the first task's run length."""
    config = getattr(outcome, "config", None)
    if config is None or not getattr(config, "schedules", None) or not config.tasks:
        return []
    steps = config.train_spec(config.tasks[0]).steps
    task = config.tasks[0].label
    chart = schedule_chart(config.schedules, steps, title=f"schedules over {steps} steps ({task})")
    caption = (
        f"the learning rate of each schedule, as a multiple of the swept lr, over the {steps} "
        f"steps of {task}"
    )
    svg = chart.to_svg()
    return [Figure("schedules.svg", svg, caption, None)]


def schedule_chart(schedules: Any, steps: int, base_lr: float = 1.0, title: str = "") -> Chart:
    """The lr of each ``(name, params)`` schedule against the step ``0 .. steps - 1``, for a
    swept lr of ``base_lr`` (1: the multiple of the swept lr). A schedule that depends on the
    validation loss (``plateau``) is drawn before any reduction and says so in its label."""
    defaults = registry_defaults(SCHEDULES)
    unit = "lr" if base_lr != 1.0 else "lr / swept lr"
    chart = Chart(
        title=title or f"schedules over {steps} steps",
        xlabel="step",
        ylabel=unit,
    )
    t = np.arange(steps, dtype=float)
    for name, params in schedules:
        label = part_label(name, tuple(dict(params).items()), defaults)
        if is_stateful(name):
            label += " (before any reduction)"
        chart.line(t, lr_table(name, dict(params), base_lr, steps), label=label, marker=False)
    return chart


def schedule_figure(
    name: str, params: dict[str, Any], lr: float, lrs: np.ndarray, moms: np.ndarray | None
) -> str:
    """``lrbench schedule NAME --plot FILE.svg``: the lr at every step (``lrs``, the schedule's
    table for a swept lr of ``lr``; the legend names the non-default parameters) and, for a
    schedule that cycles it, the momentum (``moms``) in a second panel below."""
    label = part_label(name, tuple(params.items()), registry_defaults(SCHEDULES))
    t = np.arange(len(lrs), dtype=float)
    chart = Chart(title=f"{name} with lr={lr:g}", xlabel="step", ylabel="learning rate")
    chart.line(t, lrs, label=label, marker=False)
    if moms is None:
        return chart.to_svg()
    mom = Chart(title=f"{name}: cycled momentum", xlabel="step", ylabel="momentum")
    mom.line(t, moms, label="momentum (or beta1)", marker=False, color=PALETTE[1])
    return panels([chart, mom], columns=1)
