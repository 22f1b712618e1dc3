"""A tiny deterministic SVG line-chart writer (numpy and the standard library only).

One :class:`Chart` is one set of axes: lines with optional point markers, filled bands between
two curves, scatter marks, vertical reference lines, a title, axis labels and a legend. Either
axis may be logarithmic. The output is a plain SVG 1.1 string: every coordinate is written with
at most two decimals and nothing depends on the clock or the platform, so the same calls give
the same text byte for byte.

Data handling:

- The limits span every drawable point of every item (lines, bands, marks, vertical lines),
  padded by 5 % of the range on a linear axis and by 5 % of the range in decades on a log axis.
  A degenerate range (one value, or all equal) is widened (``v +- 10 %``, ``v +- 1`` for 0, or
  a factor ``sqrt(10)`` on a log axis); no data at all gives ``0..1`` (``1..10`` on a log axis).
- A point with a non-finite coordinate, or a non-positive one on a log axis, is not drawn: it
  splits its line (or band) into separate segments. A segment of a single point draws no line
  (or band), only its marker. A series with no drawable point draws nothing but keeps its legend entry (so
  marks drawn in its colour elsewhere still have a key).
- On a log y axis a band's lower edge at or below zero is clipped to the bottom of the plot.

The legend sits to the right of the plot area, outside it, so it never hides data; the SVG grows
wider by the legend's width (``width`` and ``height`` size the plot with its axes and title).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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

TICK_FONT = 11
LABEL_FONT = 12
TITLE_FONT = 14
LEGEND_FONT = 11
CHAR_W = 0.6  # estimated average glyph width of a sans-serif font, in em
PAD = 0.05  # data padding, as a fraction of the range (of decades on a log axis)
MAX_TICKS = 8
_EPS = 1e-9
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def escape(text: Any) -> str:
    """``text`` as XML character data or attribute value (``& < > " '`` escaped)."""
    s = _BAD_XML.sub("", str(text))
    return (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def num(v: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros (``-0`` is ``0``)."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def tick_label(v: float) -> str:
    """Short general format: ``0.001``, ``0.25``, ``1``, ``10``, ``20000``, ``1e+05``, ``1e-05``.

    The fewest significant digits that give ``v`` back (to 1e-9 relative), but never an exponent
    below 1e5 (``10``, not ``1e+01``).
    """
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    floor = min(math.floor(math.log10(abs(v))) + 1, 5)
    for digits in range(1, 16):
        s = f"{v:.{max(digits, floor)}g}"
        if abs(float(s) - v) <= 1e-9 * abs(v):
            return s
    return repr(float(v))


def _labels(values: Sequence[float]) -> list[str]:
    """Tick labels, with full precision only if the short ones would collide."""
    out = [tick_label(v) for v in values]
    return out if len(set(out)) == len(out) else [repr(float(v)) for v in values]


def _linear_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> list[float]:
    span = hi - lo
    mag = 10.0 ** math.floor(math.log10(span / max_ticks))
    for m in (1, 2, 5, 10, 20):
        step = m * mag
        k0, k1 = math.ceil(lo / step - _EPS), math.floor(hi / step + _EPS)
        if k1 - k0 + 1 <= max_ticks:
            break
    return [float(f"{k * step:.12g}") + 0.0 for k in range(k0, k1 + 1)]


def _log_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> list[float]:
    a, b = math.log10(lo), math.log10(hi)
    d0, d1 = math.ceil(a - _EPS), math.floor(b + _EPS)
    mults = (1, 2, 5) if b - a < 2.0 else (1,)
    every = 1
    while (d1 - d0) // every + 1 > max_ticks:
        every += 1
    values = [
        float(f"{m}e{d}")
        for d in range(d0 - 1, d1 + 1)
        for m in mults
        if (m > 1 or d % every == 0) and lo * (1 - _EPS) <= float(f"{m}e{d}") <= hi * (1 + _EPS)
    ]
    if len(values) < 2:  # less than a factor ~2.5 between the ends: plain 1-2-5 steps
        values = [v for v in _linear_ticks(lo, hi, max_ticks) if v > 0]
    return values


def ticks(lo: float, hi: float, log: bool = False) -> list[tuple[float, str]]:
    """Major ticks ``(value, label)`` inside ``[lo, hi]`` (ends swapped if reversed).

    Log axis: the powers of ten, thinned to at most 8 when the range is wide, plus their 2 and 5
    multiples when it spans fewer than 2 decades; under a factor ~2.5 (no two such values
    inside), 1-2-5 steps as on a linear axis. Linear axis: multiples of a 1-2-5 step (1, 2 or 5
    times a power of ten), the smallest giving at most 8 ticks, so about 4 to 8. ``lo == hi``
    gives that single value; a non-finite end gives ``[]``. ``ValueError`` for ``lo <= 0`` on a
    log axis.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    lo, hi = min(lo, hi), max(lo, hi)
    if log and lo <= 0:
        raise ValueError(f"log axis needs positive limits, got {lo:g}..{hi:g}")
    if lo == hi:
        return [(lo, tick_label(lo))]
    values = _log_ticks(lo, hi) if log else _linear_ticks(lo, hi)
    return list(zip(values, _labels(values)))


def padded_limits(values: Any, log: bool = False) -> tuple[float, float]:
    """Axis limits for ``values``: their finite (positive on a log axis) range, padded.

    See the module docstring for the padding and the degenerate cases.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    if v.size == 0:
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if log:
        if lo == hi:
            return lo / math.sqrt(10.0), hi * math.sqrt(10.0)
        f = (hi / lo) ** PAD
        return lo / f, hi * f
    if lo == hi:
        d = abs(lo) * 0.1 or 1.0
        return lo - d, hi + d
    d = (hi - lo) * PAD
    return lo - d, hi + d


@dataclass(frozen=True)
class Axis:
    """An axis from ``lo`` to ``hi`` in data units, linear or logarithmic (base 10)."""

    lo: float
    hi: float
    log: bool = False

    def valid(self, values: Any) -> np.ndarray:
        """Which values can be drawn: finite, and positive on a log axis."""
        v = np.asarray(values, dtype=float)
        ok = np.isfinite(v)
        return ok & (v > 0) if self.log else ok

    def to_px(self, values: Any, px_lo: float, px_hi: float) -> np.ndarray:
        """Map data values to pixels, ``lo -> px_lo`` and ``hi -> px_hi`` (either order).

        Log axes interpolate in ``log10``. Undrawable values (see :meth:`valid`) give NaN; a
        degenerate axis (``lo == hi``) puts every value in the middle.
        """
        v = np.asarray(values, dtype=float)
        ok = self.valid(v)
        safe = np.where(ok, v, 1.0)
        if self.log:
            safe = np.log10(safe)
            a, b = math.log10(self.lo), math.log10(self.hi)
        else:
            a, b = self.lo, self.hi
        if b == a:
            px = np.full(v.shape, (px_lo + px_hi) / 2.0)
        else:
            px = px_lo + (safe - a) / (b - a) * (px_hi - px_lo)
        return np.where(ok, px, np.nan)


def _runs(ok: np.ndarray) -> list[slice]:
    """Maximal runs of True in a boolean vector, as slices."""
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [slice(int(a), int(b)) for a, b in zip(starts, stops)]


def _points(px: np.ndarray, py: np.ndarray) -> str:
    return " ".join(f"{num(x)},{num(y)}" for x, y in zip(px, py))


def _text_w(text: str, size: float) -> float:
    return len(text) * size * CHAR_W


def _vec(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float).ravel()


class Chart:
    """One plot: add items with :meth:`line`, :meth:`band`, :meth:`marks`, :meth:`vline`,
    then :meth:`to_svg` or :meth:`save`. Items are drawn bands first, then vertical lines, lines
    and marks on top; the legend lists labelled items in the order they were added."""

    def __init__(
        self,
        width: float = 720,
        height: float = 460,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        xlog: bool = False,
        ylog: bool = False,
    ) -> None:
        self.width, self.height = float(width), float(height)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xlog, self.ylog = xlog, ylog
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
    ) -> str:
        """A polyline through ``(x, y)`` with a dot at each point if ``marker``; returns its
        colour (the next palette colour unless ``color`` is given)."""
        x, y = self._pair(x, y)
        if color is None:
            color = PALETTE[self._next_color % len(PALETTE)]
            self._next_color += 1
        item = {"kind": "line", "x": x, "y": y, "label": label, "marker": marker,
                "dash": dash, "width": float(width), "color": color}  # fmt: skip
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
        self, x: float, label: str | None = None, dash: bool = True, color: str = "#808080"
    ) -> None:
        """A vertical reference line across the plot at ``x``, listed in the legend."""
        item = {"kind": "vline", "x": float(x), "label": label, "dash": dash, "color": color}
        self._vlines.append(item)
        if label is not None:
            self._legend.append(item)

    # -- layout ------------------------------------------------------------------------------

    def axes(self) -> tuple[Axis, Axis]:
        """The x and y axes the data gives (see :func:`padded_limits`)."""
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
        ylim = padded_limits(np.concatenate(ys) if ys else [], self.ylog)
        return Axis(*xlim, self.xlog), Axis(*ylim, self.ylog)

    def to_svg(self) -> str:
        """The chart as an SVG document (a string, no XML declaration)."""
        xaxis, yaxis = self.axes()
        xt, yt = ticks(xaxis.lo, xaxis.hi, xaxis.log), ticks(yaxis.lo, yaxis.hi, yaxis.log)
        ytick_w = max((_text_w(s, TICK_FONT) for _, s in yt), default=0.0)
        left = 10 + (LABEL_FONT + 8 if self.ylabel else 0) + ytick_w + 10
        top = 12 + (TITLE_FONT + 12 if self.title else 0)
        bottom = self.height - (10 + TICK_FONT + 8 + (LABEL_FONT + 8 if self.xlabel else 0))
        last_x = xt[-1][1] if xt else ""
        right = self.width - max(16.0, _text_w(last_x, TICK_FONT) / 2 + 4)
        right = max(right, left + 40)
        bottom = max(bottom, top + 40)

        legend = [e for e in self._legend if e["label"] is not None]
        row_h = LEGEND_FONT + 6
        leg_w = 0.0
        if legend:
            leg_w = 10 + 28 + 6 + max(_text_w(str(e["label"]), LEGEND_FONT) for e in legend) + 10
        width = self.width + (leg_w + 10 if legend else 0)
        height = max(self.height, top + len(legend) * row_h + 20)

        out: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width)}" '
            f'height="{num(height)}" viewBox="0 0 {num(width)} {num(height)}" '
            f'font-family="sans-serif" font-size="{TICK_FONT}">'
        ]
        if self.title:
            out.append(f"<title>{escape(self.title)}</title>")
        out.append(f'<rect width="{num(width)}" height="{num(height)}" fill="white"/>')

        # grid and ticks
        out.append('<g class="grid" stroke="#e6e6e6" stroke-width="1">')
        xpos = [(float(xaxis.to_px(v, left, right)), s) for v, s in xt]
        ypos = [(float(yaxis.to_px(v, bottom, top)), s) for v, s in yt]
        for x, _ in xpos:
            out.append(f'<line x1="{num(x)}" y1="{num(top)}" x2="{num(x)}" y2="{num(bottom)}"/>')
        for y, _ in ypos:
            out.append(f'<line x1="{num(left)}" y1="{num(y)}" x2="{num(right)}" y2="{num(y)}"/>')
        out.append("</g>")
        out.append('<g class="ticks" stroke="#333333" stroke-width="1">')
        for x, _ in xpos:
            out.append(f'<line x1="{num(x)}" y1="{num(bottom)}" x2="{num(x)}" y2="{num(bottom + 4)}"/>')  # fmt: skip
        for y, _ in ypos:
            out.append(f'<line x1="{num(left - 4)}" y1="{num(y)}" x2="{num(left)}" y2="{num(y)}"/>')  # fmt: skip
        out.append("</g>")
        out.append('<g class="xticklabels" fill="#333333" text-anchor="middle">')
        for x, s in xpos:
            out.append(f'<text x="{num(x)}" y="{num(bottom + 6 + TICK_FONT)}">{escape(s)}</text>')
        out.append("</g>")
        out.append('<g class="yticklabels" fill="#333333" text-anchor="end">')
        for y, s in ypos:
            out.append(f'<text x="{num(left - 7)}" y="{num(y)}" dy="0.35em">{escape(s)}</text>')
        out.append("</g>")

        # data
        for b in self._bands:
            lo = b["lo"]
            if yaxis.log:
                lo = np.where(np.isfinite(lo) & (lo <= 0), yaxis.lo, lo)
            bx = xaxis.to_px(b["x"], left, right)
            bhi, blo = yaxis.to_px(b["hi"], bottom, top), yaxis.to_px(lo, bottom, top)
            ok = ~(np.isnan(bx) | np.isnan(bhi) | np.isnan(blo))
            for r in _runs(ok):
                if r.stop - r.start < 2:
                    continue
                pts = _points(
                    np.concatenate((bx[r], bx[r][::-1])), np.concatenate((bhi[r], blo[r][::-1]))
                )
                out.append(
                    f'<polygon class="band" points="{pts}" fill="{escape(b["color"])}" '
                    f'fill-opacity="{num(b["opacity"])}" stroke="none"/>'
                )
        for v in self._vlines:
            x = float(xaxis.to_px(v["x"], left, right))
            if math.isnan(x):
                continue
            dash = ' stroke-dasharray="6 4"' if v["dash"] else ""
            out.append(
                f'<line class="vline" x1="{num(x)}" y1="{num(top)}" x2="{num(x)}" '
                f'y2="{num(bottom)}" stroke="{escape(v["color"])}" stroke-width="1.5"{dash}/>'
            )
        for ln in self._lines:
            lx, ly = xaxis.to_px(ln["x"], left, right), yaxis.to_px(ln["y"], bottom, top)
            ok = ~(np.isnan(lx) | np.isnan(ly))
            color = escape(ln["color"])
            dash = ' stroke-dasharray="6 4"' if ln["dash"] else ""
            for r in _runs(ok):
                if r.stop - r.start < 2:
                    continue
                out.append(
                    f'<polyline class="line" points="{_points(lx[r], ly[r])}" fill="none" '
                    f'stroke="{color}" stroke-width="{num(ln["width"])}" '
                    f'stroke-linejoin="round" stroke-linecap="round"{dash}/>'
                )
            if ln["marker"] and ok.any():
                out.append(f'<g class="markers" fill="{color}">')
                for x, y in zip(lx[ok], ly[ok]):
                    out.append(f'<circle cx="{num(x)}" cy="{num(y)}" r="3"/>')
                out.append("</g>")
        for m in self._marks:
            mx, my = xaxis.to_px(m["x"], left, right), yaxis.to_px(m["y"], bottom, top)
            ok = ~(np.isnan(mx) | np.isnan(my))
            if ok.any():
                out.append(_symbols(m["symbol"], mx[ok], my[ok], m["color"], 4.5, "marks"))

        # frame, labels, title
        out.append(
            f'<rect class="frame" x="{num(left)}" y="{num(top)}" width="{num(right - left)}" '
            f'height="{num(bottom - top)}" fill="none" stroke="#333333" stroke-width="1"/>'
        )
        if self.xlabel:
            out.append(
                f'<text class="xlabel" x="{num((left + right) / 2)}" y="{num(self.height - 10)}" '
                f'text-anchor="middle" font-size="{LABEL_FONT}">{escape(self.xlabel)}</text>'
            )
        if self.ylabel:
            cx, cy = 10 + LABEL_FONT * 0.8, (top + bottom) / 2
            out.append(
                f'<text class="ylabel" transform="translate({num(cx)},{num(cy)}) rotate(-90)" '
                f'text-anchor="middle" font-size="{LABEL_FONT}">{escape(self.ylabel)}</text>'
            )
        if self.title:
            cx = max((left + right) / 2, _text_w(self.title, TITLE_FONT) / 2 + 8)
            out.append(
                f'<text class="title" x="{num(cx)}" y="{num(12 + TITLE_FONT)}" '
                f'text-anchor="middle" font-size="{TITLE_FONT}">{escape(self.title)}</text>'
            )

        # legend, right of the plot
        if legend:
            lx0, ly0 = self.width + 10 - 6, top
            out.append('<g class="legend">')
            out.append(
                f'<rect x="{num(lx0)}" y="{num(ly0)}" width="{num(leg_w)}" '
                f'height="{num(len(legend) * row_h + 10)}" fill="white" stroke="#cccccc"/>'
            )
            for i, e in enumerate(legend):
                y = ly0 + 5 + row_h * (i + 0.5)
                x0, x1 = lx0 + 10, lx0 + 38
                color = escape(e["color"])
                if e["kind"] in ("line", "vline"):
                    dash = ' stroke-dasharray="6 4"' if e["dash"] else ""
                    w = e["width"] if e["kind"] == "line" else 1.5
                    out.append(
                        f'<line x1="{num(x0)}" y1="{num(y)}" x2="{num(x1)}" y2="{num(y)}" '
                        f'stroke="{color}" stroke-width="{num(w)}"{dash}/>'
                    )
                    if e["kind"] == "line" and e["marker"]:
                        out.append(
                            f'<circle cx="{num((x0 + x1) / 2)}" cy="{num(y)}" r="3" '
                            f'fill="{color}"/>'
                        )
                else:
                    mid = np.array([(x0 + x1) / 2])
                    out.append(_symbols(e["symbol"], mid, np.array([y]), e["color"], 4.5, ""))
                out.append(
                    f'<text x="{num(x1 + 6)}" y="{num(y)}" dy="0.35em" '
                    f'font-size="{LEGEND_FONT}">{escape(e["label"])}</text>'
                )
            out.append("</g>")
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_svg` to ``path`` (UTF-8); return the path."""
        path = Path(path)
        path.write_text(self.to_svg(), encoding="utf-8")
        return path


def _symbols(symbol: str, xs: np.ndarray, ys: np.ndarray, color: str, r: float, cls: str) -> str:
    c = escape(color)
    klass = f' class="{cls}"' if cls else ""
    if symbol == "o":
        circles = "".join(
            f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(r)}"/>' for x, y in zip(xs, ys)
        )
        return f'<g{klass} fill="none" stroke="{c}" stroke-width="1.5">{circles}</g>'
    if symbol == "x":
        d = " ".join(
            f"M{num(x - r)} {num(y - r)}L{num(x + r)} {num(y + r)}"
            f"M{num(x - r)} {num(y + r)}L{num(x + r)} {num(y - r)}"
            for x, y in zip(xs, ys)
        )
    else:
        d = " ".join(
            f"M{num(x - r)} {num(y)}H{num(x + r)}M{num(x)} {num(y - r)}V{num(y + r)}"
            for x, y in zip(xs, ys)
        )
    return f'<path{klass} d="{d}" fill="none" stroke="{c}" stroke-width="1.8"/>'
