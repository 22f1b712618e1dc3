"""Tables for people (Rich, Markdown) and for programs (JSON). Builds; never prints.

The sweep heatmap: one table per task, rows optimizer x schedule, columns the learning rates,
cells the chosen metric's mean over seeds with its 95 % interval half-width, and a mark:

- ``✗`` every seed diverged; ``✗2`` two seeds diverged (the rest are averaged);
- ``~`` unstable (the loss spiked or oscillated); ``↓`` slow (far from the row's best);
- the best cell of each row is bold on green; cells within the tolerance band are green.

Each sweep table is built once as a :class:`~lrbench.report.table_model.TableModel` and
rendered for a terminal (Rich) or as Markdown.

The tables of ``lrbench validate``, ``list`` and ``schedule`` are in
:mod:`lrbench.report.commands`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.text import Text

from lrbench.files import jsonable
from lrbench.report.table_model import Column, Entry, TableModel, to_markdown, to_rich
from lrbench.report.theory import theory_models
from lrbench.sweep.findings import BestRow, Cell, RowKey
from lrbench.sweep.gaps import GAP_COLUMNS

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome

MARKS = {"diverged": "✗", "unstable": "~", "slow": "↓", "ok": ""}
LEGEND = (
    "✗ diverged (✗n: n seeds diverged) · ~ unstable · ↓ slow (lr too low) · "
    "bold green: best lr of the row · green: within tolerance of the best · "
    "(low/high edge): the best lr is at the end of the grid, extend it"
)


def fmt(v: float | int | None, digits: int = 4) -> str:
    """A number in ``digits`` significant figures (``f"{v:.{digits}g}"``); ``-`` for a missing
    value (None, NaN), ``inf`` for infinity, integers as they are."""
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}g}"


def lr_text(lr: float) -> str:
    return f"{lr:g}"


#: Fixed-point notation is used for a table whose finite non-zero values all lie in this range
#: (by magnitude); otherwise every value of the table is written in scientific notation.
FIXED_RANGE = (1e-3, 1e6)


def notation(values: Iterable[float], low: float | None = None) -> str:
    """``"fixed"`` when every finite non-zero value's magnitude is within :data:`FIXED_RANGE`
    (from ``low`` if given), else ``"sci"``: one notation for a whole table."""
    lo, hi = FIXED_RANGE
    lo = lo if low is None else low
    mags = [abs(v) for v in values if math.isfinite(v) and v != 0]
    return "fixed" if all(lo <= m < hi for m in mags) else "sci"


def plus_minus(mean: float, half: float | None, digits: int = 3, style: str = "fixed") -> str:
    """``mean ± half`` with ``digits`` significant figures in the mean and the ``±`` part at the
    same precision (the same decimal place): ``0.0853±0.0007``, ``42.0±80.3``, ``478±498``;
    in scientific notation both over the mean's power of ten: ``(1.23±0.45)e-05``. No ``±``
    part when ``half`` is None or not finite; ``-`` for a missing mean."""
    if not math.isfinite(mean):
        return fmt(mean)
    has_half = half is not None and math.isfinite(half)
    power = math.floor(math.log10(abs(mean))) if mean != 0 else 0
    if style == "sci":
        scale = 10.0**power
        m = f"{mean / scale:.{digits - 1}f}"
        if float(m) >= 10:  # 9.996 rounds up to 10.00: one power more
            power, scale = power + 1, scale * 10
            m = f"{mean / scale:.{digits - 1}f}"
        if not has_half:
            return f"{m}e{power:+03d}"
        return f"({m}±{half / scale:.{digits - 1}f})e{power:+03d}"  # type: ignore[operator]
    decimals = max(0, digits - 1 - power)
    text = f"{mean:.{decimals}f}"
    return text + (f"±{half:.{decimals}f}" if has_half else "")


def cell_text(cell: Cell, style: str = "fixed") -> str:
    """``0.0853±0.0007~`` style text of a heatmap cell: the mean over the seeds used with the
    half-width of its 95 % interval (:func:`plus_minus`, 3 significant figures), then the marks
    (``✗n`` seeds diverged, ``~`` unstable, ``↓`` slow); ``✗`` alone when every seed diverged."""
    return _cell_texts(cell, style)[0]


def _cell_texts(cell: Cell, style: str) -> tuple[str, str | None]:
    """The cell's text and its short form without the ``±`` part (None: no ``±`` part)."""
    if cell.status == "diverged" and cell.n_used == 0:
        return MARKS["diverged"], None
    half = cell.ci95 if cell.n_used > 1 else None
    marks = f" {MARKS['diverged']}{cell.n_diverged}" if cell.n_diverged else ""
    marks += MARKS.get(cell.status, "")
    full = plus_minus(cell.mean, half, 3, style) + marks
    short = plus_minus(cell.mean, None, 3, style) + marks
    return full, (short if short != full else None)


def _metric_title(outcome: SweepOutcome) -> str:
    n = outcome.n_seeds
    spread = "mean ± 95% CI" if n > 1 else "value"
    return f"{outcome.analysis.metric} ({spread} over {n} seed{'s' if n > 1 else ''})"


#: What the short form of a heatmap cell leaves out (a note under a table that shows it).
SHORT_NOTE = (
    "± (the 95% interval) left out to fit this terminal: a wider one (COLUMNS=200), "
    "report.html and summary.csv show it"
)


def heatmap_model(outcome: SweepOutcome, task: str) -> TableModel:
    """The learning-rate heatmap of one task: a row per optimizer / schedule, a column per lr
    (marked ``*`` above the stability bound 2/L), then the best lr and the good band (which
    move to a table of their own on a narrow terminal: :mod:`lrbench.report.table_model`).
    Every cell in one notation (:func:`notation` of the task's means and half-widths)."""
    a = outcome.analysis
    cells = [c for c in a.cells if c.task == task]
    best = {b.row: b for b in a.best if b.task == task}
    lrs = sorted({c.lr for c in cells})
    bound = outcome.bounds.get(task)
    notes: tuple[str, ...] = (LEGEND,)
    if bound is not None:
        above = f"gradient-descent stability bound 2/L = {fmt(bound, 3)} (lrs marked * exceed it)"
        notes = (above, LEGEND)
    marks = ["*" if bound is not None and lr > bound else "" for lr in lrs]
    columns = (
        Column(a.row_title, key=True),
        *(Column(lr_text(lr), "right", wrap=False, mark=m) for lr, m in zip(lrs, marks)),
        Column("best lr", "right", wrap=False, side=True),
        Column("good band", "right", wrap=False, side=True),
    )
    style = notation(c.mean for c in cells)
    rows: dict[RowKey, dict[float, Cell]] = {}
    for c in cells:
        rows.setdefault(c.row, {})[c.lr] = c
    table_rows = []
    for row, by_lr in rows.items():
        b = best[row]
        entries = [Entry(next(iter(by_lr.values())).row_label)]
        for lr in lrs:
            at = by_lr.get(lr)
            if at is None:
                entries.append(Entry(""))
                continue
            full, short = _cell_texts(at, style)
            entries.append(Entry(full, _cell_style(at, b), short))
        entries.append(Entry(_best_lr(b), "strong"))
        entries.append(Entry(_band(b)))
        table_rows.append(tuple(entries))
    return TableModel(
        f"{task}: {_metric_title(outcome)}",
        columns,
        tuple(table_rows),
        notes,
        side_title=f"{task}: best lr and good band of each row",
        short_note=SHORT_NOTE,
        part_label="lr",
    )


def heatmap(outcome: SweepOutcome, task: str) -> RenderableType:
    """The learning-rate heatmap of one task, for a terminal (:func:`heatmap_model`)."""
    return to_rich(heatmap_model(outcome, task))


def _cell_style(c: Cell, b: BestRow) -> str:
    if b.best_lr == c.lr:
        return "best"
    if c.lr in b.within_lrs:
        return "good"
    if c.status == "diverged":
        return "bad"
    if c.status == "unstable" or c.n_diverged:
        return "warn"
    if c.status == "slow":
        return "dim"
    return ""


def _best_lr(b: BestRow) -> str:
    if b.best_lr is None:
        return "-"
    edge = {"low": " (low edge)", "high": " (high edge)"}.get(b.edge or "", "")
    return lr_text(b.best_lr) + edge


def _band(b: BestRow) -> str:
    if b.band_lo is None or b.band_hi is None:  # no best lr
        return "-"
    if b.band_points <= 1:
        return "only the best"
    return f"{lr_text(b.band_lo)}–{lr_text(b.band_hi)} ({b.band_points} lrs)"


def best_model(outcome: SweepOutcome, top: int = 5) -> TableModel:
    """The best configurations of each task (by the metric), best first, at most ``top``; the
    metric as the mean ± its 95 % half-width (:func:`plus_minus`, 4 significant figures, one
    notation for the table). On a narrow terminal it becomes one table per task."""
    a = outcome.analysis
    sign = 1.0 if a.best and a.best[0].direction == "min" else -1.0
    columns = (
        Column("task", group=True),
        Column("optimizer", key=True),
        Column("schedule", key=True),
        Column("best lr", "right", wrap=False),
        Column(a.metric, "right", wrap=False),
        Column("good band"),
    )
    chosen = []
    for task in a.tasks:
        scored = [(b.best_score, b) for b in a.best if b.task == task and b.best_score is not None]
        scored.sort(key=lambda x: sign * x[0])
        chosen += [b for _, b in scored[:top]]
    style = notation(b.best_mean for b in chosen if b.best_mean is not None)
    rows = []
    for b in chosen:
        half = b.best_ci95 if b.best_n and b.best_n > 1 else None
        mean = b.best_mean if b.best_mean is not None else math.nan
        full, short = plus_minus(mean, half, 4, style), plus_minus(mean, None, 4, style)
        texts = (b.task, b.optimizer, b.schedule, _best_lr(b))
        rows.append((
            *(Entry(t) for t in texts),
            Entry(full, short=short if short != full else None),
            Entry(_band(b)),
        ))  # fmt: skip
    return TableModel(
        f"best configurations by {a.metric}", columns, tuple(rows), short_note=SHORT_NOTE
    )


def best_table(outcome: SweepOutcome, top: int = 5) -> RenderableType:
    """:func:`best_model` for a terminal."""
    return to_rich(best_model(outcome, top))


PROFILE_NOTE = (
    "ratio: steps to the target at the row's best lr (median over seeds; counted at the "
    "evaluation points) / the fastest row's, per task; miss: never reached. score: AlgoPerf's performance profile, the mean over tasks "
    "of max(0, 4 - ratio) / 3: 1 = the fastest everywhere, 0 = 4x slower or a miss everywhere"
)


def profile_model(outcome: SweepOutcome) -> TableModel | None:
    """The performance profile across tasks (``analysis.profile``: with a target and two or
    more tasks), best score first; None without one."""
    a = outcome.analysis
    if not a.profile:
        return None
    tasks = list(next(iter(a.profile.values())).ratios)
    columns = (
        Column(a.row_title, key=True),
        Column("score", "right", wrap=False),
        *(Column(t, "right", wrap=False) for t in tasks),
    )
    rows = []
    for label, p in a.profile.items():
        ratios = [p.ratios[t] for t in tasks]
        texts = ["miss" if math.isinf(r) else f"{r:.2f}" for r in ratios]
        styles = ["best" if r == 1.0 else ("bad" if math.isinf(r) else "") for r in ratios]
        rows.append((
            Entry(label), Entry(f"{p.score:.2f}", "strong"),
            *(Entry(t, st) for t, st in zip(texts, styles)),
        ))  # fmt: skip
    target = outcome.config.analysis.get("target")
    title = f"performance profile across tasks: steps to val loss {fmt(target)}"
    return TableModel(title, columns, tuple(rows), notes=(PROFILE_NOTE,))


def status_line(outcome: SweepOutcome) -> str:
    """How many runs, trained or resumed, ended with each status, and where the files are."""
    counts = outcome.analysis.statuses.as_dict(nonzero=True)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    plots = ", plots/" if any(p.parent.name == "plots" for p in outcome.files) else ""
    if any(p.name == "report.html" for p in outcome.files):
        plots += ", report.html, report.md"
    return (
        f"{len(outcome.results)} runs ({outcome.n_trained} trained, {outcome.n_resumed} resumed): "
        f"{parts}. Results in {outcome.out_dir}/ (runs.csv, curves.csv, summary.csv{plots})"
    )


def _after_best(outcome: SweepOutcome) -> list[TableModel | str]:
    """The parts that follow the best configurations: the performance profile across tasks
    (when there is one), then the theory tables and lines."""
    profile = profile_model(outcome)
    return ([profile] if profile is not None else []) + theory_models(outcome)


def tables(outcome: SweepOutcome) -> list[RenderableType]:
    """Everything ``lrbench sweep`` shows on a terminal."""
    out: list[RenderableType] = [heatmap(outcome, t) for t in outcome.analysis.tasks]
    out.append(best_table(outcome))
    out += [Text(p) if isinstance(p, str) else to_rich(p) for p in _after_best(outcome)]
    out.append(Text(status_line(outcome)))
    return out


def markdown(outcome: SweepOutcome) -> str:
    """The status line and each task's heatmap as GitHub Markdown (the best cell of a row in
    bold), the stability bound as a sentence above its task's table, the legend at the end."""
    lines = [f"# lrbench sweep: {outcome.config.name}", "", status_line(outcome), ""]
    for task in outcome.analysis.tasks:
        model = heatmap_model(outcome, task)
        lines += [f"## {model.title}", ""]
        bound = outcome.bounds.get(task)
        if bound is not None:
            lines += [f"Gradient-descent stability bound 2/L = {fmt(bound, 3)}.", ""]
        lines += [*to_markdown(model), ""]
    for part in _after_best(outcome):  # the profile, stability bounds, descent, batch, ...
        lines += [part, ""] if isinstance(part, str) else [f"## {part.title}", "",
                                                          *to_markdown(part), "", *part.notes, ""]  # fmt: skip
    lines += [LEGEND, ""]
    return "\n".join(lines)


def summary_json(outcome: SweepOutcome) -> dict[str, Any]:
    """The sweep's findings as JSON-ready data (non-finite numbers become null)."""
    a = outcome.analysis
    tasks = []
    for task in a.tasks:
        rows = []
        for b in (b for b in a.best if b.task == task):
            cells = [c for c in a.cells if c.row == b.row]
            rows.append({
                "optimizer": b.optimizer, "schedule": b.schedule, "best_lr": b.best_lr,
                "best_mean": b.best_mean, "best_ci95": b.best_ci95,
                "band": [b.band_lo, b.band_hi] if b.best_lr is not None else None,
                "n_within": b.n_within, "edge": b.edge,
                "cells": [
                    {"lr": c.lr, "mean": c.mean, "std": c.std, "ci95": c.ci95, "status": c.status,
                     "n_diverged": c.n_diverged, "statuses": c.statuses.as_dict(),
                     **{k: getattr(c, k) for k in GAP_COLUMNS}}
                    for c in cells
                ],
            })  # fmt: skip
        tasks.append({"task": task, "stability_bound": outcome.bounds.get(task), "rows": rows})
    return jsonable({
        "name": outcome.config.name, "metric": a.metric,
        "direction": a.best[0].direction if a.best else None, "results": str(outcome.out_dir),
        "runs": len(outcome.results), "trained": outcome.n_trained,
        "resumed": outcome.n_resumed, "statuses": a.statuses.as_dict(nonzero=True),
        "tasks": tasks,
        "profile": [{"row": label, "score": p.score, "ratios": p.ratios}
                    for label, p in a.profile.items()],
    })  # fmt: skip
