"""The scales of an SVG chart: axis limits from data, major ticks and their labels, and the
mapping from data values to pixels (linear or base-10 logarithmic).

- Limits span every drawable value, padded by 5 % of the range on a linear axis and by 5 % of
  the range in decades on a log axis. A degenerate range (one value, or all equal) is widened
  (``v +- 10 %``, ``v +- 1`` for 0, or a factor ``sqrt(10)`` on a log axis); no data at all
  gives ``0..1`` (``1..10`` on a log axis).
- A value is drawable when it is finite, and positive on a log axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PAD = 0.05  # data padding, as a fraction of the range (of decades on a log axis)
MAX_TICKS = 8
_EPS = 1e-9


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
