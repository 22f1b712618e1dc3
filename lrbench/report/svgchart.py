"""A tiny deterministic SVG line-chart writer (numpy and the standard library only).

One :class:`Chart` is one set of axes: lines with optional point markers, filled bands between
two curves, scatter marks, vertical reference lines, a title, axis labels and a legend. Either
axis may be logarithmic. The output is a plain SVG 1.1 string, the same text byte for byte for
the same calls. :func:`panels` puts several charts in one document.

The chart is drawn in two steps: :meth:`Chart.layout` fits the scales to the data
(:mod:`lrbench.report.svgaxes`: limits, ticks, data to pixels) and places the plot area, the
labels and the legend; :meth:`Chart.elements` then writes each layer
(:mod:`lrbench.report.svglayers`) back to front. A series with no drawable point draws nothing
but keeps its legend entry (so marks drawn in its colour elsewhere still have a key).

The legend sits to the right of the plot area, outside it, so it never hides data; the SVG grows
wider by the legend's width (``width`` and ``height`` size the plot with its axes and title).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrbench.report import svglayers as layers
from lrbench.report.svgaxes import Axis, padded_limits, ticks
from lrbench.report.svglayers import (
    LABEL_FONT,
    LEGEND_FONT,
    ROW_H,
    TICK_FONT,
    TITLE_FONT,
    Layout,
    escape,
    num,
    text_width,
)

#: The qualitative palette lines cycle through (matplotlib's ``tab10`` colours).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _vec(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


class Chart:
    """One plot: add items with :meth:`line`, :meth:`band`, :meth:`marks`, :meth:`vline`,
    then :meth:`to_svg` or :meth:`save` (:func:`panels` puts several in one document). Items are
    drawn bands first, then vertical lines, lines and marks on top; the legend lists labelled
    items in the order they were added. ``ylim`` fixes the y limits instead of fitting them to
    the data; what lies outside is clipped at the edge of the plot area."""

    def __init__(
        self,
        width: float = 720,
        height: float = 460,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        xlog: bool = False,
        ylog: bool = False,
        ylim: tuple[float, float] | None = None,
    ) -> None:
        self.width, self.height = float(width), float(height)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xlog, self.ylog, self.ylim = xlog, ylog, ylim
        self._lines: list[dict[str, Any]] = []
        self._bands: list[dict[str, Any]] = []
        self._marks: list[dict[str, Any]] = []
        self._vlines: list[dict[str, Any]] = []
        self._legend: list[dict[str, Any]] = []
        self._next_color = 0

    def _pair(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = _vec(x), _vec(y)
        if x.shape != y.shape:
            raise ValueError(f"x and y differ in length: {x.size} and {y.size}")
        return x, y

    def line(
        self,
        x: Any,
        y: Any,
        label: str | None = None,
        marker: bool = True,
        dash: bool = False,
        width: float = 1.8,
        color: str | None = None,
        opacity: float = 1.0,
    ) -> str:
        """A polyline through ``(x, y)`` with a dot at each point if ``marker``; returns its
        colour (the next palette colour unless ``color`` is given)."""
        x, y = self._pair(x, y)
        if color is None:
            color = PALETTE[self._next_color % len(PALETTE)]
            self._next_color += 1
        item = {"kind": "line", "x": x, "y": y, "label": label, "marker": marker, "dash": dash,
                "width": float(width), "color": color, "opacity": float(opacity)}  # fmt: skip
        self._lines.append(item)
        if label is not None:
            self._legend.append(item)
        return color

    def band(self, x: Any, lo: Any, hi: Any, color: str, opacity: float = 0.2) -> None:
        """A filled area between the curves ``(x, lo)`` and ``(x, hi)`` (not in the legend)."""
        x, lo = self._pair(x, lo)
        _, hi = self._pair(x, hi)
        self._bands.append({"x": x, "lo": lo, "hi": hi, "color": color, "opacity": opacity})

    def marks(
        self, x: Any, y: Any, color: str, symbol: str = "x", label: str | None = None
    ) -> None:
        """Scatter marks at ``(x, y)``; ``symbol`` is ``"x"``, ``"+"`` or ``"o"``."""
        if symbol not in ("x", "+", "o"):
            raise ValueError(f"symbol: got {symbol!r}; expected 'x', '+' or 'o'")
        x, y = self._pair(x, y)
        item = {"kind": "marks", "x": x, "y": y, "color": color, "symbol": symbol, "label": label}
        self._marks.append(item)
        if label is not None:
            self._legend.append(item)

    def vline(
        self,
        x: float,
        label: str | None = None,
        dash: bool = True,
        color: str = "#808080",
        width: float = 1.5,
    ) -> None:
        """A vertical reference line across the plot at ``x``, listed in the legend."""
        item = {"kind": "vline", "x": float(x), "label": label, "dash": dash, "color": color,
                "width": float(width), "opacity": 1.0}  # fmt: skip
        self._vlines.append(item)
        if label is not None:
            self._legend.append(item)

    # -- layout ------------------------------------------------------------------------------

    def axes(self) -> tuple[Axis, Axis]:
        """The x and y axes the data gives (see :func:`padded_limits`), or ``ylim``."""
        xa, ya = Axis(1, 2, self.xlog), Axis(1, 2, self.ylog)  # only for their valid()
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for it in self._lines + self._marks:
            ok = xa.valid(it["x"]) & ya.valid(it["y"])
            xs.append(it["x"][ok])
            ys.append(it["y"][ok])
        for b in self._bands:
            ok = xa.valid(b["x"]) & ya.valid(b["hi"])
            xs.append(b["x"][ok])
            ys.append(b["hi"][ok])
            lo = b["lo"][ok]
            ys.append(lo[ya.valid(lo)])
        xs.extend(np.array([v["x"]]) for v in self._vlines)
        xlim = padded_limits(np.concatenate(xs) if xs else [], self.xlog)
        ylim = self.ylim or padded_limits(np.concatenate(ys) if ys else [], self.ylog)
        return Axis(*xlim, self.xlog), Axis(*ylim, self.ylog)

    def layout(self) -> Layout:
        """Room for the title above the plot area, the y label and tick labels left of it, the
        x tick labels and label below, half the last x tick label right; the legend beyond."""
        xaxis, yaxis = self.axes()
        xt, yt = ticks(xaxis.lo, xaxis.hi, xaxis.log), ticks(yaxis.lo, yaxis.hi, yaxis.log)
        ytick_w = max((text_width(s, TICK_FONT) for _, s in yt), default=0.0)
        left = 10 + (LABEL_FONT + 8 if self.ylabel else 0) + ytick_w + 10
        top = 12 + (TITLE_FONT + 12 if self.title else 0)
        bottom = self.height - (10 + TICK_FONT + 8 + (LABEL_FONT + 8 if self.xlabel else 0))
        last_x = xt[-1][1] if xt else ""
        right = max(self.width - max(16.0, text_width(last_x, TICK_FONT) / 2 + 4), left + 40)
        bottom = max(bottom, top + 40)
        legend = [e for e in self._legend if e["label"] is not None]
        leg_w = 0.0
        if legend:
            leg_w = 10 + 28 + 6 + max(text_width(str(e["label"]), LEGEND_FONT) for e in legend) + 10
        return Layout(
            xaxis, yaxis, left, top, right, bottom,
            xticks=[(float(xaxis.to_px(v, left, right)), s) for v, s in xt],
            yticks=[(float(yaxis.to_px(v, bottom, top)), s) for v, s in yt],
            legend=legend, legend_w=leg_w, legend_x=self.width + 10 - 6,
            width=self.width + (leg_w + 10 if legend else 0),
            height=max(self.height, top + len(legend) * ROW_H + 20),
        )  # fmt: skip

    # -- drawing -----------------------------------------------------------------------------

    def elements(self, lay: Layout, clip_id: str = "plot") -> list[str]:
        """The chart's SVG elements back to front, in its own pixel frame: background, grid and
        ticks, the data (clipped to the plot area, with ``clip_id``, when ``ylim`` is set),
        frame and labels, legend."""
        out = [f"<title>{escape(self.title)}</title>"] if self.title else []
        out.append(f'<rect width="{num(lay.width)}" height="{num(lay.height)}" fill="white"/>')
        out += layers.grid_layer(lay) + layers.tick_layer(lay)
        data = layers.band_layer(self._bands, lay) + layers.vline_layer(self._vlines, lay)
        data += layers.line_layer(self._lines, lay) + layers.mark_layer(self._marks, lay)
        out += data if self.ylim is None else layers.clipped(data, lay, clip_id)
        out += layers.frame_layer(lay, self.title, self.xlabel, self.ylabel, self.height)
        return out + layers.legend_layer(lay)

    def to_svg(self) -> str:
        """The chart as an SVG document (a string, no XML declaration)."""
        lay = self.layout()
        return layers.document(lay.width, lay.height, self.elements(lay))

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_svg` to ``path`` (UTF-8); return the path."""
        path = Path(path)
        path.write_text(self.to_svg(), encoding="utf-8")
        return path


def panels(charts: Sequence[Chart], columns: int = 2) -> str:
    """Several charts in one SVG document, ``columns`` to a row, left to right then down; each
    column as wide as its widest chart, each row as tall as its tallest."""
    lays = [c.layout() for c in charts]
    col_w = [max((lay.width for lay in lays[i::columns]), default=0.0) for i in range(columns)]
    row_h = [max(lay.height for lay in lays[i : i + columns]) for i in range(0, len(lays), columns)]
    body = []
    for i, (chart, lay) in enumerate(zip(charts, lays)):
        x, y = sum(col_w[: i % columns]), sum(row_h[: i // columns])
        body.append(f'<g transform="translate({num(x)},{num(y)})">')
        body += chart.elements(lay, clip_id=f"plot{i}")
        body.append("</g>")
    return layers.document(sum(col_w), sum(row_h), body)
