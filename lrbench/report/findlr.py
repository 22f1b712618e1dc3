"""What ``lrbench find-lr`` shows: per task x optimizer a table of the suggestions with notes
that explain them (:mod:`lrbench.report.findlr_tables`, fitted to the terminal), a text chart of
the loss against the learning rate, and the figure ``plot.svg`` (SVG from
:mod:`lrbench.report.svgchart`). Built from a :class:`lrbench.finder.run.Outcome`; the CLI
prints the tables and writes the figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import RenderableType

from lrbench.finder.output import summary
from lrbench.finder.run import Outcome, PairResult, SeedCurve
from lrbench.finder.settings import Settings
from lrbench.finder.suggest import METHODS, smooth_usable
from lrbench.report import findlr_tables
from lrbench.report.svgchart import PALETTE, Chart, panels
from lrbench.report.table_model import TableModel, to_rich

#: The colour of each method's line in the figure; the seeds' curves are blue.
COLORS = {
    "knee": PALETTE[5],
    "minimum": PALETTE[2],
    "steepest": PALETTE[1],
    "valley": PALETTE[4],
    "range": PALETTE[3],
}
SEED_COLOR = PALETTE[0]


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


def smoothed_mean(pair: PairResult, settings: Settings) -> np.ndarray:
    """The centred-smoothed mean curve (NaN where any seed had stopped)."""
    return smooth_usable(pair.mean_curve, stop_step=None, window=settings.window())


# ------------------------------------------------------------------------------ the figure


def figure(outcome: Outcome) -> str:
    """``plot.svg``: one panel per task x optimizer, two to a row when there are several.

    Each panel: the loss against the learning rate on a log axis, each seed's curve faint (up
    to the step where it stopped), the smoothed mean curve bold, every method's cross-seed
    median as a vertical line in its colour (the recommended one solid and thicker, the others
    dashed; ``range`` also at its base_lr) and 2/L dashed grey where it is known. The y axis is
    :func:`view_limits` of the mean curve (of the seeds' curves if the mean has no finite
    point): the descent fills the panel and the blow-up is cut at its top.
    """
    charts = [_panel(pair, outcome) for pair in outcome.pairs]
    return panels(charts, columns=1 if len(charts) == 1 else 2)


def _panel(pair: PairResult, outcome: Outcome) -> Chart:
    st, lrs = outcome.settings, outcome.lrs
    mean = smoothed_mean(pair, st)
    curves = [s.curve(st.curve)[: _drawn(s)] for s in pair.seeds]
    limits = view_limits(mean) or view_limits(np.concatenate(curves))
    what = "probe, after the step" if st.curve == "probe" else "minibatch, before the step"
    chart = Chart(
        title=f"{pair.task.label} / {pair.label}",
        xlabel="learning rate",
        ylabel=f"loss ({what})",
        xlog=True,
        ylim=limits,
    )
    n = len(pair.seeds)
    for i, c in enumerate(curves):
        label = f"each of {n} seeds" if i == 0 else None
        y = _clamp(c, limits)
        chart.line(lrs[: c.size], y, label, marker=False, width=0.8, color=SEED_COLOR, opacity=0.4)
    chart.line(lrs, _clamp(mean, limits), f"mean of {n} seeds, smoothed", marker=False,
               width=2.4, color="#000000")  # fmt: skip
    for m in METHODS:
        _method_lines(chart, m, pair.aggregates[m], chosen=m == pair.method)
    if pair.bound is not None:
        chart.vline(pair.bound, label=f"2/L = {pair.bound:.3g}")
    return chart


def _drawn(seed: SeedCurve) -> int:
    """How many steps of a seed's curve are drawn: up to and including its stop step."""
    stop = seed.divergence.stop_step
    return seed.rows if stop is None else stop + 1


def _clamp(y: np.ndarray, limits: tuple[float, float] | None) -> np.ndarray:
    """Finite ``y`` held within ten spans of ``limits``: the part beyond is clipped from the
    figure anyway, and a loss of 1e111 would write a 113-digit pixel coordinate."""
    if limits is None:
        return y
    lo, hi = limits
    return np.where(np.isfinite(y), np.clip(y, lo - 10 * (hi - lo), hi + 10 * (hi - lo)), y)


def _method_lines(chart: Chart, method: str, agg: dict[str, Any], *, chosen: bool) -> None:
    """A method's cross-seed median as a vertical line (and ``range``'s base_lr as a second)."""
    v = agg["median"]
    if v is None:
        return
    name = method + (" (recommended)" if chosen else "")
    color, width, dash = COLORS[method], 2.5 if chosen else 1.5, not chosen
    base = agg.get("base", {}).get("median")
    if base is not None:
        chart.vline(base, dash=dash, color=color, width=width)
        label = f"{name} {base:.3g} - {v:.3g}"
    else:
        label = f"{name} {v:.3g}"
    chart.vline(v, label=label, dash=dash, color=color, width=width)


# ------------------------------------------------------------------------------ the terminal


def suggestion_model(pair: PairResult, outcome: Outcome) -> TableModel:
    """One task x optimizer's suggestions as a table model
    (:func:`lrbench.report.findlr_tables.suggestion_model` of its ``summary.json`` data)."""
    data = summary(outcome)
    i = next(k for k, p in enumerate(outcome.pairs) if p is pair)
    return findlr_tables.suggestion_model(data["results"][i], data["settings"])


def suggestion_table(pair: PairResult, outcome: Outcome) -> RenderableType:
    """:func:`suggestion_model` for a terminal, fitted to its width."""
    return to_rich(suggestion_model(pair, outcome))


def pair_chart(
    pair: PairResult, outcome: Outcome, *, ascii_only: bool = False, width: int = 60
) -> list[str]:
    """The text chart of one pair (``width`` columns of plot, 12 more for the axis): the
    smoothed mean curve, the recommendation and 2/L."""
    bar, dash = ("|", ":") if ascii_only else ("┃", "┆")
    marks = []
    if pair.bound is not None:
        marks.append((pair.bound, dash, f"2/L = {pair.bound:.3g}"))
    if pair.recommended is not None:
        marks.append((pair.recommended, bar, f"recommended {pair.recommended:.3g}"))
    y = smoothed_mean(pair, outcome.settings)
    label = f"mean of {len(pair.seeds)} seeds, smoothed"
    return text_chart(outcome.lrs, y, marks=marks, label=label, width=width, ascii_only=ascii_only)


def text_chart(
    lrs: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    marks: Sequence[tuple[float, str, str]] = (),
    label: str = "loss",
    width: int = 60,
    height: int = 15,
    ascii_only: bool = False,
) -> list[str]:
    """Loss ``y[t]`` against ``log10(lrs[t])`` as ``height + 3`` lines of text.

    The x axis spans ``lrs[0]..lrs[-1]``; the y axis :func:`view_limits`
    (points above it are drawn as ``^`` on the top row). ``marks`` are ``(lr, char, text)``:
    a vertical line of ``char`` at ``lr`` (under the curve) and ``text`` in the legend.
    Returns ``[]`` when ``y`` has no finite point.
    """
    lim = view_limits(np.asarray(y, dtype=float))
    if lim is None:
        return []
    bot, top = lim
    x0, x1 = math.log10(lrs[0]), math.log10(lrs[-1])
    dot, over = ("*", "^") if ascii_only else ("•", "^")

    def col(lr: float) -> int:
        return round((math.log10(lr) - x0) / (x1 - x0) * (width - 1))

    grid = [[" "] * width for _ in range(height)]
    for lr, char, _ in marks:
        if 0 <= col(lr) < width:
            for row in grid:
                row[col(lr)] = char
    for lr, v in zip(lrs, y):
        if math.isfinite(v):
            r = round((top - v) / (top - bot) * (height - 1))
            grid[max(r, 0)][col(lr)] = over if r < 0 else dot
    lines = []
    for i, row in enumerate(grid):
        tick = i in (0, height // 2, height - 1)
        value = top - (top - bot) * i / (height - 1)
        axis = ("+" if ascii_only else "┤") if tick else ("|" if ascii_only else "│")
        lines.append(f"{(f'{value:.4g}' if tick else ''):>9} {axis}" + "".join(row).rstrip())
    lines.append(" " * 10 + ("+" + "-" * width if ascii_only else "└" + "─" * width))
    tick_row = [" "] * (width + 8)
    taken = -2
    ticks = [(col(10.0**d), f"1e{d}") for d in range(math.ceil(x0), math.floor(x1) + 1)]
    if len(ticks) < 2:
        ticks = [(0, f"{lrs[0]:.3g}"), (width - 1, f"{lrs[-1]:.3g}")]
    for c, text in ticks:
        c = min(c, len(tick_row) - len(text))
        if c > taken + 1:
            tick_row[c : c + len(text)] = list(text)
            taken = c + len(text)
    lines.append((" " * 11 + "".join(tick_row)).rstrip())
    legend_items = [f"{dot} {label}"]
    legend_items += [
        f"{ch} {text}" + ("" if 0 <= col(lr) < width else " (off the chart)")
        for lr, ch, text in marks
    ]
    lines.append(" " * 11 + "   ".join(legend_items))
    return lines
