"""Tables for people (Rich, Markdown) and for programs (JSON). Builds; never prints.

The sweep heatmap: one table per task, rows optimizer x schedule, columns the learning rates,
cells the chosen metric's mean over seeds with its 95 % interval half-width, and a mark:

- ``✗`` every seed diverged; ``✗2`` two seeds diverged (the rest are averaged);
- ``~`` unstable (the loss spiked or oscillated); ``↓`` slow (far from the row's best);
- the best cell of each row is bold on green; cells within the tolerance band are green.

Each sweep table is built once as a :class:`~lrbench.report.table_model.TableModel` and
rendered for a terminal (Rich) or as Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lrbench.files import jsonable
from lrbench.report.table_model import Column, Entry, TableModel, to_markdown, to_rich
from lrbench.report.theory import theory_models
from lrbench.spec import show
from lrbench.sweep.findings import BestRow, Cell, RowKey

if TYPE_CHECKING:
    import numpy as np

    from lrbench.config import Config
    from lrbench.spec import RunSpec
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


def cell_text(cell: Cell) -> str:
    """``0.1234±0.005~`` style text of a heatmap cell."""
    if cell.status == "diverged" and cell.n_used == 0:
        return MARKS["diverged"]
    text = fmt(cell.mean, 3)
    if cell.n_used > 1 and math.isfinite(cell.ci95):
        text += f"±{fmt(cell.ci95, 1)}"
    if cell.n_diverged:
        text += f" {MARKS['diverged']}{cell.n_diverged}"
    text += MARKS.get(cell.status, "")
    return text


def _metric_title(outcome: SweepOutcome) -> str:
    n = outcome.n_seeds
    spread = "mean ± 95% CI" if n > 1 else "value"
    return f"{outcome.analysis.metric} ({spread} over {n} seed{'s' if n > 1 else ''})"


def heatmap_model(outcome: SweepOutcome, task: str) -> TableModel:
    """The learning-rate heatmap of one task: a row per optimizer / schedule, a column per lr
    (marked ``*`` above the stability bound 2/L), then the best lr and the good band."""
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
        Column("optimizer / schedule", wrap=False),
        *(Column(lr_text(lr), "right", wrap=False, mark=m) for lr, m in zip(lrs, marks)),
        Column("best lr", "right"),
        Column("good band", "right"),
    )
    rows: dict[RowKey, dict[float, Cell]] = {}
    for c in cells:
        rows.setdefault(c.row, {})[c.lr] = c
    table_rows = []
    for row, by_lr in rows.items():
        b = best[row]
        entries = [Entry(next(iter(by_lr.values())).row_label)]
        for lr in lrs:
            at = by_lr.get(lr)
            entries.append(Entry("") if at is None else Entry(cell_text(at), _cell_style(at, b)))
        entries.append(Entry(_best_lr(b), "strong"))
        entries.append(Entry(_band(b)))
        table_rows.append(tuple(entries))
    return TableModel(f"{task}: {_metric_title(outcome)}", columns, tuple(table_rows), notes)


def heatmap(outcome: SweepOutcome, task: str) -> Table:
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
    """The best configurations of each task (by the metric), best first, at most ``top``."""
    a = outcome.analysis
    sign = 1.0 if a.best and a.best[0].direction == "min" else -1.0
    columns = tuple(
        Column(h, "right" if h in ("best lr", a.metric) else "left")
        for h in ("task", "optimizer", "schedule", "best lr", a.metric, "good band")
    )
    rows = []
    for task in a.tasks:
        scored = [(b.best_score, b) for b in a.best if b.task == task and b.best_score is not None]
        scored.sort(key=lambda x: sign * x[0])
        for _, b in scored[:top]:
            value = fmt(b.best_mean)
            ci = b.best_ci95
            if b.best_n and b.best_n > 1 and ci is not None and math.isfinite(ci):
                value += f" ± {fmt(b.best_ci95, 2)}"
            texts = (task, b.optimizer, b.schedule, _best_lr(b), value, _band(b))
            rows.append(tuple(Entry(t) for t in texts))
    return TableModel(f"best configurations by {a.metric}", columns, tuple(rows))


def best_table(outcome: SweepOutcome, top: int = 5) -> Table:
    """:func:`best_model` for a terminal."""
    return to_rich(best_model(outcome, top))


def status_line(outcome: SweepOutcome) -> str:
    """How many runs, trained or resumed, ended with each status, and where the files are."""
    counts = outcome.analysis.statuses.as_dict(nonzero=True)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    plots = ", plots/" if any(p.parent.name == "plots" for p in outcome.files) else ""
    return (
        f"{len(outcome.results)} runs ({outcome.n_trained} trained, {outcome.n_resumed} resumed): "
        f"{parts}. Results in {outcome.out_dir}/ (runs.csv, curves.csv, summary.csv{plots})"
    )


def tables(outcome: SweepOutcome) -> list[RenderableType]:
    """Everything ``lrbench sweep`` shows on a terminal."""
    out: list[RenderableType] = [heatmap(outcome, t) for t in outcome.analysis.tasks]
    out.append(best_table(outcome))
    out += [Text(p) if isinstance(p, str) else to_rich(p) for p in theory_models(outcome)]
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
    for part in theory_models(outcome):  # stability bounds, descent, batch size, conditioning
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
                     "n_diverged": c.n_diverged, "statuses": c.statuses.as_dict()}
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
    })  # fmt: skip


# ---------------------------------------------------------------- other commands
def validate_table(
    cfg: Config, specs: Sequence[RunSpec], groups: Sequence[Sequence[RunSpec]]
) -> Group:
    """``lrbench validate``: the grid size and its lockstep groups, with the optimizer steps
    each group computes once shared prefixes are counted once (:mod:`lrbench.core.sharing`)."""
    from lrbench.core.sharing import row_steps

    table = Table(
        title=f"{cfg.name}: {len(specs)} runs in {len(groups)} lockstep groups",
        title_justify="left",
    )
    numeric = ("configurations", "steps each", "steps computed")
    for col in ("task", "optimizers", *numeric, "batch", "dtype"):
        table.add_column(col, justify="right" if col in numeric else "left")
    for g in groups:
        s = g[0]
        opts = sorted({x.optimizer for x in g})
        computed = row_steps(g)
        table.add_row(
            s.task.label,
            ", ".join(opts),
            str(len(g)),
            str(s.train.steps),
            f"{computed:,} ({computed / (len(g) * s.train.steps):.0%})",
            str(s.train.batch_size or "full"),
            s.train.dtype,
        )
    axes = (
        f"{len(cfg.tasks)} tasks x {len(cfg.optimizers)} optimizers x {len(cfg.schedules)} "
        f"schedules x {len(cfg.lrs)} lrs x {len(cfg.seeds)} seeds = {len(specs)} runs"
    )
    return Group(Text(f"config OK: {axes}"), table)


def registry_tables(family: str = "all") -> list[Table]:
    """``lrbench list``: each registry with its parameters and defaults."""
    from lrbench.core.data import DATASETS
    from lrbench.core.models import MODELS
    from lrbench.core.optimizers import OPTIMIZERS
    from lrbench.core.schedules import SCHEDULES

    families = {
        "optimizers": OPTIMIZERS,
        "schedules": SCHEDULES,
        "models": MODELS,
        "datasets": DATASETS,
    }
    out = []
    for name, reg in families.items():
        if family not in ("all", name):
            continue
        table = Table(title=name, title_justify="left", show_lines=True)
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("description")
        table.add_column("parameters (default: allowed)")
        for entry in reg.values():
            params = "\n".join(
                f"{p.name} = {show(p.default)}: {p.allowed()}" + (f". {p.help}" if p.help else "")
                for p in entry.params
            )
            table.add_row(entry.name, entry.doc, params or "-")
        out.append(table)
    return out


def schedule_table(
    name: str,
    params: Mapping[str, Any],
    lr: float,
    table_values: np.ndarray,
    moms: np.ndarray | None,
) -> Table:
    """``lrbench schedule``: the lr (and cycled momentum) at every step."""
    shown = ", ".join(f"{k}={show(v)}" for k, v in params.items())
    table = Table(
        title=f"{name} with lr={lr_text(lr)}",
        caption=shown,
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("step", justify="right")
    table.add_column("lr", justify="right")
    if moms is not None:
        table.add_column("momentum", justify="right")
    for t, v in enumerate(table_values):
        row = [str(t), f"{float(v):.6g}"]
        if moms is not None:
            row.append(f"{float(moms[t]):.6g}")
        table.add_row(*row)
    return table
