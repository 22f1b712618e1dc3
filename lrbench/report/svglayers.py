"""The layers of an SVG chart, each a function from a :class:`Layout` (and its items) to SVG
elements: grid, ticks, bands, vertical lines, lines, marks, frame and labels, legend.

Every coordinate is written with at most two decimals (:func:`num`) and nothing depends on the
clock or the platform, so the same layout gives the same text byte for byte. A point with a
non-finite coordinate, or a non-positive one on a log axis, is not drawn: it splits its line
(or band) into separate segments, and a segment of a single point draws no line (or band), only
its marker. On a log y axis a band's lower edge at or below zero is clipped to the bottom.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrbench.report.svgaxes import Axis

TICK_FONT = 11
LABEL_FONT = 12
TITLE_FONT = 14
LEGEND_FONT = 11
ROW_H = LEGEND_FONT + 6  # a legend row
CHAR_W = 0.6  # estimated average glyph width of a sans-serif font, in em
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


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of ``text`` at font ``size``."""
    return len(text) * size * CHAR_W


def _runs(ok: np.ndarray) -> list[slice]:
    """Maximal runs of True in a boolean vector, as slices."""
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [slice(int(a), int(b)) for a, b in zip(starts, stops)]


def _points(px: np.ndarray, py: np.ndarray) -> str:
    # Python floats: formatting a numpy scalar takes 1.4x as long (the loss figures of W1
    # draw 15,000 points)
    return " ".join(f"{num(x)},{num(y)}" for x, y in zip(px.tolist(), py.tolist()))


@dataclass(frozen=True)
class Layout:
    """Where a chart's parts go, in pixels (y grows downwards): the plot area
    ``left..right`` x ``top..bottom``, the axes, their ticks as ``(pixel, label)``, the legend
    (its entries, width and left edge) and the size of the whole chart, legend included."""

    xaxis: Axis
    yaxis: Axis
    left: float
    top: float
    right: float
    bottom: float
    xticks: list[tuple[float, str]]
    yticks: list[tuple[float, str]]
    legend: list[dict[str, Any]]
    legend_w: float
    legend_x: float
    width: float
    height: float

    def xpx(self, values: Any) -> np.ndarray:
        return self.xaxis.to_px(values, self.left, self.right)

    def ypx(self, values: Any) -> np.ndarray:
        return self.yaxis.to_px(values, self.bottom, self.top)


def document(width: float, height: float, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width)}" '
        f'height="{num(height)}" viewBox="0 0 {num(width)} {num(height)}" '
        f'font-family="sans-serif" font-size="{TICK_FONT}">'
    )
    return "\n".join([head, *body, "</svg>"]) + "\n"


def grid_layer(lay: Layout) -> list[str]:
    """A light line across the plot area at every major tick."""
    top, bottom, left, right = num(lay.top), num(lay.bottom), num(lay.left), num(lay.right)
    out = ['<g class="grid" stroke="#e6e6e6" stroke-width="1">']
    out += [f'<line x1="{num(x)}" y1="{top}" x2="{num(x)}" y2="{bottom}"/>' for x, _ in lay.xticks]
    out += [f'<line x1="{left}" y1="{num(y)}" x2="{right}" y2="{num(y)}"/>' for y, _ in lay.yticks]
    return [*out, "</g>"]


def tick_layer(lay: Layout) -> list[str]:
    """Tick marks outside the frame and their labels (x centred below, y right-aligned left)."""
    b, left = lay.bottom, lay.left
    out = ['<g class="ticks" stroke="#333333" stroke-width="1">']
    out += [f'<line x1="{num(x)}" y1="{num(b)}" x2="{num(x)}" y2="{num(b + 4)}"/>' for x, _ in lay.xticks]  # fmt: skip
    out += [f'<line x1="{num(left - 4)}" y1="{num(y)}" x2="{num(left)}" y2="{num(y)}"/>' for y, _ in lay.yticks]  # fmt: skip
    out += ["</g>", '<g class="xticklabels" fill="#333333" text-anchor="middle">']
    out += [f'<text x="{num(x)}" y="{num(b + 6 + TICK_FONT)}">{escape(s)}</text>' for x, s in lay.xticks]  # fmt: skip
    out += ["</g>", '<g class="yticklabels" fill="#333333" text-anchor="end">']
    out += [f'<text x="{num(left - 7)}" y="{num(y)}" dy="0.35em">{escape(s)}</text>' for y, s in lay.yticks]  # fmt: skip
    return [*out, "</g>"]


def band_layer(bands: list[dict[str, Any]], lay: Layout) -> list[str]:
    """One polygon per run of drawable points (two or more); on a log y axis a lower edge at or
    below zero is clipped to the bottom of the axis."""
    out = []
    for b in bands:
        lo = b["lo"]
        if lay.yaxis.log:
            lo = np.where(np.isfinite(lo) & (lo <= 0), lay.yaxis.lo, lo)
        bx, bhi, blo = lay.xpx(b["x"]), lay.ypx(b["hi"]), lay.ypx(lo)
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
    return out


def vline_layer(vlines: list[dict[str, Any]], lay: Layout) -> list[str]:
    out = []
    for v in vlines:
        x = float(lay.xpx(v["x"]))
        if math.isnan(x):
            continue
        out.append(
            f'<line class="vline" x1="{num(x)}" y1="{num(lay.top)}" x2="{num(x)}" '
            f'y2="{num(lay.bottom)}" stroke="{escape(v["color"])}" '
            f'stroke-width="{num(v["width"])}"{_stroke_style(v)}/>'
        )
    return out


def line_layer(lines: list[dict[str, Any]], lay: Layout) -> list[str]:
    """One polyline per run of drawable points (two or more), then a dot at every drawable
    point when the line has markers."""
    out = []
    for ln in lines:
        lx, ly = lay.xpx(ln["x"]), lay.ypx(ln["y"])
        ok = ~(np.isnan(lx) | np.isnan(ly))
        color = escape(ln["color"])
        for r in _runs(ok):
            if r.stop - r.start < 2:
                continue
            out.append(
                f'<polyline class="line" points="{_points(lx[r], ly[r])}" fill="none" '
                f'stroke="{color}" stroke-width="{num(ln["width"])}" '
                f'stroke-linejoin="round" stroke-linecap="round"{_stroke_style(ln)}/>'
            )
        if ln["marker"] and ok.any():
            out.append(f'<g class="markers" fill="{color}">')
            out += [f'<circle cx="{num(x)}" cy="{num(y)}" r="3"/>' for x, y in zip(lx[ok], ly[ok])]
            out.append("</g>")
    return out


def mark_layer(marks: list[dict[str, Any]], lay: Layout) -> list[str]:
    out = []
    for m in marks:
        mx, my = lay.xpx(m["x"]), lay.ypx(m["y"])
        ok = ~(np.isnan(mx) | np.isnan(my))
        if ok.any():
            out.append(_symbols(m["symbol"], mx[ok], my[ok], m["color"], 4.5, "marks"))
    return out


def clipped(body: list[str], lay: Layout, clip_id: str) -> list[str]:
    """``body`` drawn only inside the plot area (a ``clipPath`` named ``clip_id``)."""
    w, h = lay.right - lay.left, lay.bottom - lay.top
    rect = f'<rect x="{num(lay.left)}" y="{num(lay.top)}" width="{num(w)}" height="{num(h)}"/>'
    return [f'<clipPath id="{clip_id}">{rect}</clipPath>', f'<g clip-path="url(#{clip_id})">', *body, "</g>"]  # fmt: skip


def frame_layer(lay: Layout, title: str, xlabel: str, ylabel: str, height: float) -> list[str]:
    """The frame around the plot area, the axis labels (the x label 10 px above ``height``, the
    y label rotated) and the title."""
    left, top, right, bottom = lay.left, lay.top, lay.right, lay.bottom
    out = [
        f'<rect class="frame" x="{num(left)}" y="{num(top)}" width="{num(right - left)}" '
        f'height="{num(bottom - top)}" fill="none" stroke="#333333" stroke-width="1"/>'
    ]
    if xlabel:
        out.append(
            f'<text class="xlabel" x="{num((left + right) / 2)}" y="{num(height - 10)}" '
            f'text-anchor="middle" font-size="{LABEL_FONT}">{escape(xlabel)}</text>'
        )
    if ylabel:
        cx, cy = 10 + LABEL_FONT * 0.8, (top + bottom) / 2
        out.append(
            f'<text class="ylabel" transform="translate({num(cx)},{num(cy)}) rotate(-90)" '
            f'text-anchor="middle" font-size="{LABEL_FONT}">{escape(ylabel)}</text>'
        )
    if title:
        cx = max((left + right) / 2, text_width(title, TITLE_FONT) / 2 + 8)
        out.append(
            f'<text class="title" x="{num(cx)}" y="{num(12 + TITLE_FONT)}" '
            f'text-anchor="middle" font-size="{TITLE_FONT}">{escape(title)}</text>'
        )
    return out


def legend_layer(lay: Layout) -> list[str]:
    """A boxed list right of the plot: a short sample of each labelled item, then its label."""
    if not lay.legend:
        return []
    lx0, ly0 = lay.legend_x, lay.top
    out = [
        '<g class="legend">',
        f'<rect x="{num(lx0)}" y="{num(ly0)}" width="{num(lay.legend_w)}" '
        f'height="{num(len(lay.legend) * ROW_H + 10)}" fill="white" stroke="#cccccc"/>',
    ]
    for i, e in enumerate(lay.legend):
        y = ly0 + 5 + ROW_H * (i + 0.5)
        x0, x1 = lx0 + 10, lx0 + 38
        out += _legend_key(e, x0, x1, y)
        out.append(
            f'<text x="{num(x1 + 6)}" y="{num(y)}" dy="0.35em" '
            f'font-size="{LEGEND_FONT}">{escape(e["label"])}</text>'
        )
    return [*out, "</g>"]


def _legend_key(e: dict[str, Any], x0: float, x1: float, y: float) -> list[str]:
    """The sample of one legend entry from ``x0`` to ``x1`` at height ``y``."""
    if e["kind"] == "marks":
        mid = np.array([(x0 + x1) / 2])
        return [_symbols(e["symbol"], mid, np.array([y]), e["color"], 4.5, "")]
    color = escape(e["color"])
    out = [
        f'<line x1="{num(x0)}" y1="{num(y)}" x2="{num(x1)}" y2="{num(y)}" '
        f'stroke="{color}" stroke-width="{num(e["width"])}"{_stroke_style(e)}/>'
    ]
    if e["kind"] == "line" and e["marker"]:
        out.append(f'<circle cx="{num((x0 + x1) / 2)}" cy="{num(y)}" r="3" fill="{color}"/>')
    return out


def _stroke_style(item: dict[str, Any]) -> str:
    """Optional stroke attributes: a 6-4 dash and an opacity below 1."""
    dash = ' stroke-dasharray="6 4"' if item["dash"] else ""
    fade = f' stroke-opacity="{num(item["opacity"])}"' if item["opacity"] < 1 else ""
    return dash + fade


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
