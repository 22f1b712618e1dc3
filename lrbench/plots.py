"""PNG figures (matplotlib, imported only when a plot is written).

Sweep: per task, ``sensitivity-<task>.png`` (the metric against the learning rate, one line per
optimizer / schedule, 95 % interval band, diverged cells marked) and ``curves-<task>.png``
(validation loss against epoch for the best learning rate of each row).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "task"


def sweep_plots(outcome, folder: Path) -> list[Path]:
    """Write the sweep's figures into ``folder``; return their paths."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    a = outcome.analysis
    tasks: list[str] = []
    for c in a.cells:
        if c["task"] not in tasks:
            tasks.append(c["task"])
    written = []
    for task in tasks:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        rows: dict[Any, list[dict[str, Any]]] = {}
        for c in a.cells:
            if c["task"] == task:
                rows.setdefault(c["row"], []).append(c)
        means = [c["mean"] for cells in rows.values() for c in cells]
        log_y = "loss" in a.metric and all(m > 0 for m in means if math.isfinite(m))
        for cells in rows.values():
            cells = sorted(cells, key=lambda c: c["lr"])
            lr = np.array([c["lr"] for c in cells])
            mean = np.array([c["mean"] for c in cells], dtype=float)
            ci = np.array([c["ci95"] for c in cells], dtype=float)
            (line,) = ax.plot(lr, mean, marker="o", label=cells[0]["row_label"])
            ok = np.isfinite(ci)
            if ok.any():
                ax.fill_between(
                    lr[ok], (mean - ci)[ok], (mean + ci)[ok], alpha=0.2, color=line.get_color()
                )
            div = np.array([c["status"] == "diverged" for c in cells])
            if div.any():
                top = np.nanmax(mean) if np.isfinite(mean).any() else 1.0
                ax.scatter(lr[div], np.full(div.sum(), top), marker="x", color=line.get_color())
        bound = outcome.bounds.get(task)
        if bound is not None:
            ax.axvline(bound, color="grey", linestyle="--", label=f"2/L = {bound:.3g}")
        ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(a.metric)
        ax.set_title(f"{task}: {a.metric} (x: all seeds diverged)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"sensitivity-{slug(task)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        written.append(_curves(outcome, task, folder, plt))
    return written


def _curves(outcome, task: str, folder: Path, plt) -> Path:
    a = outcome.analysis
    best = {b["row"]: b for b in a.best if b["task"] == task}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row, b in best.items():
        if not b.get("best_lr"):
            continue
        runs = [
            r
            for r, m in zip(outcome.results, a.runs)
            if m["row"] == row and m["lr"] == b["best_lr"] and r.status != "diverged"
        ]
        if not runs:
            continue
        steps = runs[0].eval_step / runs[0].steps_per_epoch
        n = min(len(r.eval_val_loss) for r in runs)
        curve = np.mean([r.eval_val_loss[:n] for r in runs], axis=0)
        ax.plot(steps[:n], curve, label=f"{b['row_label']} @ lr={b['best_lr']:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss (mean over seeds)")
    ax.set_yscale("log" if _positive(ax) else "linear")
    ax.set_title(f"{task}: best learning rate of each row")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = folder / f"curves-{slug(task)}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _positive(ax) -> bool:
    ys = [y for line in ax.get_lines() for y in line.get_ydata()]
    return bool(ys) and all(isinstance(y, float) and math.isfinite(y) and y > 0 for y in ys)
