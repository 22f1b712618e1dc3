"""The LR range test's figure, ``plot.png`` (matplotlib, imported only when it is drawn).

One panel per task x optimizer: loss against the learning rate on a log axis, each seed's curve
thin (up to where it stopped), the smoothed mean curve bold, every method's cross-seed median
as a vertical line (the recommended one solid and thick) and 2/L dashed where it is known.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from lrbench.finder import suggest as sg

COLORS = {
    "minimum": "tab:green",
    "steepest": "tab:orange",
    "valley": "tab:purple",
    "range": "tab:red",
}


def view_limits(y: np.ndarray) -> tuple[float, float] | None:
    """y-limits that show a range-test curve's descent and clip its blow-up: from the minimum
    to the highest point before it, plus 10 % headroom. None without finite points."""
    y = np.asarray(y, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(y))
    if ok.size == 0:
        return None
    lo_i = int(ok[np.argmin(y[ok])])
    lo = float(y[lo_i])
    hi = float(np.max(y[ok[ok <= lo_i]]))
    span = hi - lo if hi > lo else max(abs(lo), 1.0) * 0.1
    return lo - 0.05 * span, hi + 0.1 * span


def smoothed_mean(pair: Any, settings: Any) -> np.ndarray:
    """The centred-smoothed mean curve (NaN where any seed had stopped)."""
    return sg.smooth_usable(pair.mean_curve, stop_step=None, window=settings.window())


def findlr_plot(outcome: Any, path: Path) -> Path:
    """Draw ``outcome`` (a :class:`lrbench.finder.run.Outcome`) into ``path``; return ``path``."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas

    st, lrs = outcome.settings, outcome.lrs
    n = len(outcome.pairs)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(7 * cols, 4.5 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, pair in zip(axes.flat, outcome.pairs):
        for s in pair.seeds:
            c = s.curve(st.curve)
            end = s.rows if s.divergence.stop_step is None else s.divergence.stop_step + 1
            ax.plot(lrs[:end], c[:end], lw=0.7, alpha=0.4, color="tab:blue")
        mean = smoothed_mean(pair, st)
        ax.plot(
            lrs, mean, lw=2.2, color="black", label=f"mean of {len(pair.seeds)} seeds, smoothed"
        )
        for m in sg.METHODS:
            v = pair.aggregates[m]["median"]
            if v is None:
                continue
            chosen = m == st.suggest
            text = f"{m}{' (recommended)' if chosen else ''} {v:.3g}"
            style = {"color": COLORS[m], "lw": 2.0 if chosen else 1.0, "ls": "-" if chosen else ":"}
            base = pair.aggregates[m].get("base", {}).get("median")
            if base is not None:
                text = f"{m}{' (recommended)' if chosen else ''} {base:.3g} - {v:.3g}"
                ax.axvline(base, **style)
            ax.axvline(v, label=text, **style)
        if pair.bound is not None:
            ax.axvline(pair.bound, color="grey", ls="--", lw=1.0, label=f"2/L = {pair.bound:.3g}")
        limits = view_limits(mean)
        if limits is None:
            limits = view_limits(np.concatenate([s.curve(st.curve) for s in pair.seeds]))
        if limits is not None:
            ax.set_ylim(*limits)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(
            f"loss ({'probe, after the step' if st.curve == 'probe' else 'minibatch, before the step'})"
        )
        ax.set_title(f"{pair.task.label} / {pair.label}", fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.subplots_adjust(
        left=0.09 / cols,
        right=1 - 0.03 / cols,
        bottom=0.11 / rows,
        top=1 - 0.07 / rows,
        hspace=0.35,
        wspace=0.2,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)
    return path
