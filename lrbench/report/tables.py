"""Tables for people (Rich, Markdown) and for programs (JSON). Builds; never prints.

The sweep heatmap: one table per task, rows optimizer x schedule, columns the learning rates,
cells the chosen metric's mean over seeds with its 95 % interval half-width, and a mark:

- ``✗`` every seed diverged; ``✗2`` two seeds diverged (the rest are averaged);
- ``~`` unstable (the loss spiked or oscillated); ``↓`` slow (far from the row's best);
- the best cell of each row is bold on green; cells within the tolerance band are green.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

MARKS = {"diverged": "✗", "unstable": "~", "slow": "↓", "ok": ""}
LEGEND = (
    "✗ diverged (✗n: n seeds diverged) · ~ unstable · ↓ slow (lr too low) · "
    "bold green: best lr of the row · green: within tolerance of the best · "
    "(low/high edge): the best lr is at the end of the grid, extend it"
)


def fmt(v: Any, digits: int = 4) -> str:
    """A number in ``digits`` significant figures; blanks for missing values."""
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


def cell_text(cell: dict[str, Any]) -> str:
    """``0.1234±0.005~`` style text of a heatmap cell."""
    if cell["status"] == "diverged" and cell["n_used"] == 0:
        return MARKS["diverged"]
    text = fmt(cell["mean"], 3)
    if cell["n_used"] > 1 and math.isfinite(cell["ci95"]):
        text += f"±{fmt(cell['ci95'], 1)}"
    if cell["n_diverged"]:
        text += f" {MARKS['diverged']}{cell['n_diverged']}"
    text += MARKS.get(cell["status"], "")
    return text


def _task_order(outcome) -> list[str]:
    seen: list[str] = []
    for c in outcome.analysis.cells:
        if c["task"] not in seen:
            seen.append(c["task"])
    return seen


def _by_task(items: Sequence[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    return [x for x in items if x["task"] == task]


def _metric_title(outcome) -> str:
    n = len(outcome.config.seeds)
    spread = "mean ± 95% CI" if n > 1 else "value"
    return f"{outcome.analysis.metric} ({spread} over {n} seed{'s' if n > 1 else ''})"


def heatmap(outcome, task: str) -> Table:
    """The learning-rate heatmap of one task."""
    a = outcome.analysis
    cells = _by_task(a.cells, task)
    best = {b["row"]: b for b in _by_task(a.best, task)}
    lrs = sorted({c["lr"] for c in cells})
    bound = outcome.bounds.get(task)
    title = f"{task}: {_metric_title(outcome)}"
    caption = LEGEND
    if bound is not None:
        caption = (
            f"gradient-descent stability bound 2/L = {fmt(bound, 3)} (lrs marked * exceed it)\n"
            + LEGEND
        )
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    table.add_column("optimizer / schedule", no_wrap=True)
    for lr in lrs:
        star = "*" if bound is not None and lr > bound else ""
        table.add_column(lr_text(lr) + star, justify="right", no_wrap=True)
    table.add_column("best lr", justify="right")
    table.add_column("good band", justify="right")
    rows: dict[Any, dict[float, dict[str, Any]]] = {}
    for c in cells:
        rows.setdefault(c["row"], {})[c["lr"]] = c
    for row, by_lr in rows.items():
        b = best[row]
        label = next(iter(by_lr.values()))["row_label"]
        out = [Text(label)]
        for lr in lrs:
            c = by_lr.get(lr)
            if c is None:
                out.append(Text(""))
                continue
            style = _cell_style(c, b)
            out.append(Text(cell_text(c), style=style))
        out.append(
            Text(lr_text(b["best_lr"]) + _edge(b) if b.get("best_lr") else "-", style="bold")
        )
        out.append(Text(_band(b)))
        table.add_row(*out)
    return table


def _cell_style(c: dict[str, Any], b: dict[str, Any]) -> str:
    if b.get("best_lr") == c["lr"]:
        return "bold black on green"
    if c["lr"] in (b.get("within_lrs") or ()):
        return "green"
    if c["status"] == "diverged":
        return "red"
    if c["status"] == "unstable" or c["n_diverged"]:
        return "yellow"
    if c["status"] == "slow":
        return "dim"
    return ""


def _edge(b: dict[str, Any]) -> str:
    return {"low": " (low edge)", "high": " (high edge)", "both": ""}.get(b.get("edge") or "", "")


def _band(b: dict[str, Any]) -> str:
    if not b.get("best_lr"):
        return "-"
    if b["band_points"] <= 1:
        return "only the best"
    return f"{lr_text(b['band_lo'])}–{lr_text(b['band_hi'])} ({b['band_points']} lrs)"


def best_table(outcome, top: int = 5) -> Table:
    """The best configurations of each task (by the metric), best first."""
    a = outcome.analysis
    sign = 1.0 if a.best and a.best[0]["direction"] == "min" else -1.0
    table = Table(title=f"best configurations by {a.metric}", title_justify="left")
    for col in ("task", "optimizer", "schedule", "best lr", a.metric, "good band"):
        table.add_column(col, justify="right" if col in ("best lr", a.metric) else "left")
    for task in _task_order(outcome):
        ranked = [b for b in _by_task(a.best, task) if b.get("best_lr")]
        ranked.sort(key=lambda b: sign * b["best_score"])
        for b in ranked[:top]:
            value = fmt(b["best_mean"])
            if b["best_n"] and b["best_n"] > 1 and math.isfinite(b["best_ci95"]):
                value += f" ± {fmt(b['best_ci95'], 2)}"
            table.add_row(
                task,
                b["optimizer"],
                b["schedule"],
                lr_text(b["best_lr"]) + _edge(b),
                value,
                _band(b),
            )
    return table


def status_line(outcome) -> str:
    counts: dict[str, int] = {}
    for r in outcome.analysis.runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    parts = ", ".join(
        f"{counts[s]} {s}" for s in ("ok", "slow", "unstable", "diverged") if counts.get(s)
    )
    plots = ", plots/" if any(p.parent.name == "plots" for p in outcome.files) else ""
    return (
        f"{len(outcome.results)} runs ({outcome.n_trained} trained, {outcome.n_resumed} resumed): "
        f"{parts}. Results in {outcome.out_dir}/ (runs.csv, curves.csv, summary.csv{plots})"
    )


def tables(outcome) -> list[Any]:
    """Everything ``lrbench sweep`` shows on a terminal."""
    out: list[Any] = [heatmap(outcome, t) for t in _task_order(outcome)]
    out.append(best_table(outcome))
    out.append(Text(status_line(outcome)))
    return out


def markdown(outcome) -> str:
    """The heatmaps and the best-configurations table as GitHub Markdown."""
    a = outcome.analysis
    lines = [f"# lrbench sweep: {outcome.config.name}", "", status_line(outcome), ""]
    for task in _task_order(outcome):
        cells = _by_task(a.cells, task)
        best = {b["row"]: b for b in _by_task(a.best, task)}
        lrs = sorted({c["lr"] for c in cells})
        lines += [f"## {task}: {_metric_title(outcome)}", ""]
        bound = outcome.bounds.get(task)
        if bound is not None:
            lines += [f"Gradient-descent stability bound 2/L = {fmt(bound, 3)}.", ""]
        lines.append(
            "| optimizer / schedule | "
            + " | ".join(lr_text(x) for x in lrs)
            + " | best lr | good band |"
        )
        lines.append("|---|" + "---:|" * len(lrs) + "---:|---|")
        rows: dict[Any, dict[float, dict[str, Any]]] = {}
        for c in cells:
            rows.setdefault(c["row"], {})[c["lr"]] = c
        for row, by_lr in rows.items():
            b = best[row]
            vals = []
            for lr in lrs:
                c = by_lr.get(lr)
                text = cell_text(c) if c else ""
                if c and b.get("best_lr") == lr:
                    text = f"**{text}**"
                vals.append(text)
            label = next(iter(by_lr.values()))["row_label"]
            best_lr = lr_text(b["best_lr"]) + _edge(b) if b.get("best_lr") else "-"
            lines.append(f"| {label} | " + " | ".join(vals) + f" | {best_lr} | {_band(b)} |")
        lines.append("")
    lines += [LEGEND, ""]
    return "\n".join(lines)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def summary_json(outcome) -> dict[str, Any]:
    """The sweep's findings as JSON-ready data (non-finite numbers become null)."""
    a = outcome.analysis
    counts: dict[str, int] = {}
    for r in a.runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    tasks = []
    for task in _task_order(outcome):
        rows = []
        cells = _by_task(a.cells, task)
        for b in _by_task(a.best, task):
            row_cells = [c for c in cells if c["row"] == b["row"]]
            rows.append(
                {
                    "optimizer": b["optimizer"],
                    "schedule": b["schedule"],
                    "best_lr": b.get("best_lr"),
                    "best_mean": _clean(b.get("best_mean")),
                    "best_ci95": _clean(b.get("best_ci95")),
                    "band": [b.get("band_lo"), b.get("band_hi")] if b.get("best_lr") else None,
                    "n_within": b.get("n_within"),
                    "edge": b.get("edge"),
                    "cells": [
                        {
                            "lr": c["lr"],
                            "mean": _clean(c["mean"]),
                            "std": _clean(c["std"]),
                            "ci95": _clean(c["ci95"]),
                            "status": c["status"],
                            "n_diverged": c["n_diverged"],
                            "statuses": c["statuses"],
                        }
                        for c in row_cells
                    ],
                }
            )
        tasks.append({"task": task, "stability_bound": outcome.bounds.get(task), "rows": rows})
    return {
        "name": outcome.config.name,
        "metric": a.metric,
        "direction": a.best[0]["direction"] if a.best else None,
        "results": str(outcome.out_dir),
        "runs": len(outcome.results),
        "trained": outcome.n_trained,
        "resumed": outcome.n_resumed,
        "statuses": counts,
        "tasks": tasks,
    }


# ---------------------------------------------------------------- other commands
def validate_table(cfg, specs, groups) -> Group:
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
                f"{p.name} = {_default(p.default)}: {p.allowed()}"
                + (f". {p.help}" if p.help else "")
                for p in entry.params
            )
            table.add_row(entry.name, entry.doc, params or "-")
        out.append(table)
    return out


def _default(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_default(x) for x in v) + "]"
    return str(v)


def schedule_table(name: str, params: dict[str, Any], lr: float, table_values, moms) -> Table:
    """``lrbench schedule``: the lr (and cycled momentum) at every step."""
    shown = ", ".join(f"{k}={_default(v)}" for k, v in params.items())
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
