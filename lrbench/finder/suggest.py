"""The numbers of the LR range test: ramp, smoothing, suggestions, seed summary.

Pure numpy, no engine: arrays in, data out (no printing, no files). Settings are checked once,
where they come in (:func:`lrbench.finder.settings.resolve`); these functions assume valid
ones. ``ValueError`` here means a bug in the caller, not bad input. The spec is
``reference/lr-finder.md`` §8; where fastai, torch-lr-finder or Lightning differ, the docstring
says how. A range test records one loss per step ``t = 0..N-1`` at learning rate ``lrs[t]``;
:func:`lrbench.finder.divergence.detect_divergence` says where the run stops and
:func:`suggest` turns the curve into a learning rate; :func:`aggregate` summarises one method
across seeds in log space. (Capping a
suggestion at a stability bound is :func:`lrbench.finder.run.cap_suggestion`; whether a curve
had a clear minimum is :func:`lrbench.finder.trust.clear_minimum`.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrbench.finder.divergence import as_1d

METHODS = ("knee", "minimum", "steepest", "valley", "range")
MODES = ("exp", "linear")
RANGE_BASE_DIV = 4.0  # Smith: base_lr = max_lr / 3 to / 4
# knee, minimum = lr at the knee / at the lag-free smoothed minimum, / 4 (Smith's base_lr)
MIN_DIV = 4.0
KNEE_TOL = 0.05  # the knee: first point within 5 % of the minimum, lrbench's "as good" (TOL_REL)


def ramp(start_lr: float, end_lr: float, num_iter: int, mode: str = "exp") -> np.ndarray:
    """The learning rate of each step, ``t = 0..N-1``.

    ``exp``: ``lr_t = start * (end/start)**(t/(N-1))`` (constant ratio); ``linear``:
    ``lr_t = start + (end-start) * t/(N-1)`` (constant step). ``lr[0] == start`` and
    ``lr[-1] == end`` exactly. Same ladder as torch-lr-finder's ``ExponentialLR``/``LinearLR``;
    unlike fastai (never reaches ``end``) and Lightning (first rung doubled).
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    start, end = float(start_lr), float(end_lr)
    frac = np.arange(num_iter, dtype=np.float64) / (num_iter - 1)
    lrs = start * (end / start) ** frac if mode == "exp" else start + (end - start) * frac
    lrs[0], lrs[-1] = start, end
    return lrs


def hann_weights(window: int) -> np.ndarray:
    """Hann weights ``w_k = (1 + cos(pi*k/(h+1)))/2`` for ``k = -h..h``, ``h = window//2``.

    These are the non-zero points of ``np.hanning(window + 2)``: window 5 -> .25 .75 1 .75 .25.
    """
    h = window // 2
    return 0.5 * (1.0 + np.cos(np.pi * np.arange(-h, h + 1) / (h + 1)))


def smooth_centered(losses: np.ndarray, window: int) -> np.ndarray:
    """Zero-phase Hann-weighted moving average: ``s_i = sum_k w_k x_{i+k} / sum_k w_k``.

    Every output is a symmetric average around its own point, so there is no lag (a causal EMA
    shifts a dip right, §7). Near the ends the half-width shrinks to ``min(h, i, n-1-i)`` (the
    end points are unsmoothed) instead of padding or truncating one side: each output stays
    symmetric, a linear trend is reproduced exactly at every point and a constant exactly.
    A symmetric dip at least ``h`` points from both ends keeps its argmin; closer to an end the
    shrunken windows smooth the end side less and the argmin can move towards that end.
    ``window = 1`` is the identity. Non-finite values spread over their window.
    """
    x = as_1d(losses)
    n, h = x.size, window // 2
    if h == 0 or n < 3:
        return x.copy()
    w = hann_weights(window)[h:]  # w_0 .. w_h
    idx = np.arange(n)
    reach = np.minimum(idx, n - 1 - idx)
    acc = np.zeros(n)
    den = np.full(n, w[0])
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, min(h, (n - 1) // 2) + 1):
            i = idx[reach >= k]
            acc[i] += w[k] * (
                (x[i - k] - x[i]) + (x[i + k] - x[i])
            )  # differences: exact for constants
            den[i] += 2.0 * w[k]
        return x + acc / den


def default_window(num_iter: int) -> int:
    """``max(5, odd(round(0.05 * num_iter)))``; round half up, ``odd(n)`` = n, or n + 1 if even."""
    n = math.floor(0.05 * num_iter + 0.5)
    return max(5, n if n % 2 else n + 1)


@dataclass(frozen=True)
class Suggestion:
    """A suggested learning rate, or ``lr=None`` with the reason.

    ``index`` is the step (into the original arrays) the suggestion is read at; for ``minimum``
    ``lr = lrs[index] / min_div``. ``range`` fills ``lr = max_lr`` and ``base_lr = max_lr / 4``.
    ``lower_bound_only``: the run never diverged, so the true minimum may lie beyond ``end_lr``.
    ``capped``: the value was above a known stability bound and was lowered to it
    (:func:`lrbench.finder.run.cap_suggestion`).
    """

    method: str
    lr: float | None
    reason: str = ""
    lower_bound_only: bool = False
    base_lr: float | None = None
    index: int | None = None
    capped: bool = False  # lr lowered to a known stability bound (run.cap_suggestion)


def usable_length(losses: np.ndarray, stop_step: int | None) -> int:
    """Number of leading points a suggestion may use: those before ``stop_step`` and before the
    first non-finite loss."""
    x = as_1d(losses)
    bad = np.flatnonzero(~np.isfinite(x))
    end = int(bad[0]) if bad.size else x.size
    if stop_step is not None:
        if isinstance(stop_step, bool) or not 0 <= stop_step < max(x.size, 1):
            raise ValueError(f"stop_step {stop_step!r} outside 0..{x.size - 1}")
        end = min(end, int(stop_step))
    return end


def smooth_usable(losses: np.ndarray, *, stop_step: int | None, window: int) -> np.ndarray:
    """:func:`smooth_centered` over the usable points (:func:`usable_length`), NaN after them:
    the curve :func:`suggest` reads (the ``loss_smooth`` column of a curve file)."""
    x = as_1d(losses)
    out = np.full(x.size, np.nan)
    end = usable_length(x, stop_step)
    out[:end] = smooth_centered(x[:end], window)
    return out


def suggest(
    lrs: np.ndarray,
    losses: np.ndarray,
    method: str,
    *,
    mode: str = "exp",
    stop_step: int | None,
    window: int | None = None,
    skip_start: int = 10,
    skip_end: int = 3,
    min_div: float = MIN_DIV,
    loss_floor: float = 0.0,
    budget_steps: int | None = None,
    normalized_step: bool = False,
) -> Suggestion:
    """A learning rate from one range-test curve, read off the centred smoothed loss.

    The smoothed curve (:func:`smooth_usable`, ``window`` default :func:`default_window`) is
    restricted to steps ``[skip_start, last usable - skip_end]``, where the last usable step is the
    one before ``stop_step`` and before the first non-finite loss. Methods:

    - ``knee``: ``lr_at(k) / min_div``, ``k`` the first point where the loss has come within
      ``KNEE_TOL`` (5 %) of its minimum, measured from ``loss_floor`` (:func:`knee_index`,
      after Smith's ``max_lr`` where the loss "slows"). With ``normalized_step`` (Adam, RMSprop,
      Adagrad) and a budget of ``budget_steps`` steps, the geometric mean of that and the
      budget's lower bound when it is below (:func:`budget_floor`, :func:`_budget`).
    - ``minimum`` (recommended by ``--suggest auto`` except for the Adam family):
      ``lr_at(argmin) / min_div``, ``min_div`` 4 by default: Smith's
      ``base_lr = max_lr / 3 .. / 4`` ("the optimum is usually within a factor of two of the
      largest lr that converges"). fastai's ``minimum`` divides by 10, but the minimum it
      divides is read off a causal EMA (beta 0.98) that moves it right (by a median factor of
      about 3 on ``make bench-findlr``'s tasks); the centred curve read here has no lag, and
      /10 on it landed below the sweep's best lr on 13 of the 16 design tasks (BENCHMARKS.md).
    - ``steepest``: most negative ``dL/d ln(lr)`` (``linear`` mode: ``dL/d lr``), central
      differences (``np.gradient``), only left of the minimum (ignite). torch-lr-finder uses
      index spacing and Lightning spacing in lr (also in exp mode), over the whole curve.
    - ``valley``: fastai's default, kept for parity. ``lds[i]`` = length of the longest strictly
      decreasing subsequence ending at ``i``; ``e`` = first ``i`` with the largest ``lds``;
      ``L = lds[e]``; index ``e - L + int(L/3) + int(L/6)`` (about the middle of the span, taken
      as contiguous). Caveat: on a monotone (convex) curve the span runs from the first usable
      point to the minimum, so the answer is about their geometric midpoint and tracks
      ``start_lr``, not the problem (§7). A negative index (fastai reads it from the end of the
      array) is clamped to the first point.
    - ``range`` (Smith): ``max_lr = lr_at(argmin)``, ``base_lr = max_lr / 4``; ``lr = max_lr``.

    ``lr=None`` with a reason when fewer than 3 points remain or the loss never falls below its
    first usable value. Without divergence (``stop_step`` None and all losses finite) ``knee``,
    ``minimum`` and ``range`` are ``lower_bound_only``.
    """
    if method not in METHODS or mode not in MODES:
        raise ValueError(f"method {method!r} or mode {mode!r} unknown")
    lr, x = _check_lrs(lrs, losses, mode)
    window = default_window(max(lr.size, 2)) if window is None else window
    end = usable_length(x, stop_step)
    smooth = smooth_centered(x[:end], window)
    bad = np.flatnonzero(~np.isfinite(smooth))  # overflow of huge finite losses
    end = int(bad[0]) if bad.size else end
    lo, hi = skip_start, end - 1 - skip_end
    diverged = stop_step is not None or end < x.size
    if hi - lo + 1 < 3:
        count = max(hi - lo + 1, 0)
        return Suggestion(method, None, f"too few usable points: {count} after trimming (need 3)")
    y = smooth[lo : hi + 1]
    m = int(np.argmin(y))
    if m == 0:
        why = "no descent: the smoothed loss never falls below its first usable value"
        return Suggestion(method, None, why)
    if method == "knee":
        return _knee(lr, y, lo, min_div, loss_floor, budget_steps, normalized_step, diverged)
    if method in ("minimum", "range"):
        return _at_minimum(method, float(lr[lo + m]), lo + m, min_div, diverged)
    if method == "steepest":
        return _steepest(lr, smooth[:end], lo, m, mode)
    j = _valley_index(y)  # y[m] < y[0], so a decreasing pair exists
    why = "fastai valley: middle of the longest descent"
    return Suggestion(method, float(lr[lo + j]), why, index=lo + j)


def _knee(
    lr: np.ndarray,
    y: np.ndarray,
    lo: int,
    min_div: float,
    loss_floor: float,
    budget_steps: int | None,
    normalized_step: bool,
    diverged: bool,
) -> Suggestion:
    """``knee`` on the trimmed smoothed curve ``y`` (which starts at step ``lo``)."""
    k = knee_index(y, loss_floor)
    why = f"lr at the knee (smoothed loss within {KNEE_TOL:.0%} of its minimum) / {min_div:g}"
    upper = float(lr[lo + k]) / min_div
    value, why = _budget(upper, why, lr, lo + k, budget_steps, normalized_step)
    note = "; no divergence in range, the knee may lie beyond end_lr" if not diverged else ""
    return Suggestion("knee", value, why + note, not diverged, index=lo + k)


def _at_minimum(method: str, top: float, index: int, min_div: float, diverged: bool) -> Suggestion:
    """``minimum`` (``top / min_div``) or ``range`` (``max_lr = top``, ``base_lr = top / 4``)
    from ``top``, the lr at the smoothed minimum (step ``index``)."""
    bound = not diverged
    note = "; no divergence in range, the minimum may lie beyond end_lr" if bound else ""
    if method == "minimum":
        why = f"lr at the smoothed minimum / {min_div:g}" + note
        return Suggestion(method, top / min_div, why, bound, index=index)
    why = f"max_lr at the smoothed minimum, base_lr = max_lr / {RANGE_BASE_DIV:g}" + note
    return Suggestion(method, top, why, bound, top / RANGE_BASE_DIV, index)


def _steepest(lr: np.ndarray, smooth: np.ndarray, lo: int, m: int, mode: str) -> Suggestion:
    """``steepest``: the most negative slope of the usable smoothed curve ``smooth`` against
    ln(lr) (``linear`` mode: lr) among steps ``lo .. lo + m - 1``, left of the minimum."""
    axis = np.log(lr[: smooth.size]) if mode == "exp" else lr[: smooth.size]
    with np.errstate(over="ignore", invalid="ignore"):
        slope = np.gradient(smooth, axis)[lo : lo + m]
    j = int(np.argmin(slope))
    if not slope[j] < 0:
        return Suggestion("steepest", None, "no descent: no negative slope left of the minimum")
    why = f"steepest descent of loss vs {'ln(lr)' if mode == 'exp' else 'lr'}"
    return Suggestion("steepest", float(lr[lo + j]), why, index=lo + j)


def knee_index(y: np.ndarray, loss_floor: float = 0.0, tol: float = KNEE_TOL) -> int:
    """First index ``k`` of a (smoothed, finite) curve with ``(y_k - floor) <= (1 + tol) *
    (y_min - floor)``: where the loss has come within ``tol`` of its lowest value, measured from
    its floor. ``k <= argmin(y)``; ``k == argmin`` on a curve with a sharp bottom; a flat bottom
    (values within ``tol`` of the minimum over many points) gives its first point. Scale-free:
    multiplying ``y - floor`` by a constant does not move ``k``. A minimum below the floor (a
    wrong ``--loss-floor``) gives the argmin."""
    m = int(np.argmin(y))
    low = float(y[m])
    threshold = max(loss_floor + (1.0 + tol) * (low - loss_floor), low)
    return int(np.flatnonzero(y[: m + 1] <= threshold)[0])


def budget_floor(lrs: np.ndarray, index: int, steps: int) -> float:
    """``sum(lrs[0..index]) / steps``: the smallest constant learning rate that moves each
    weight as far in ``steps`` steps as the range test could by step ``index``, for an optimizer
    whose step is at most about the learning rate per coordinate whatever the gradient's scale.

    Adam's step is ``lr * m_hat / sqrt(v_hat)`` and "the magnitudes of the steps are
    approximately bounded by the stepsize setting" (Kingma & Ba 2015, §2.1); RMSprop and
    Adagrad also divide the gradient by a running RMS of itself (Adagrad's ``|g_t| /
    sqrt(sum g_s^2) <= 1`` exactly). Up to step ``index`` the range test moved a weight by at most
    ``sum(lrs[0..index])`` (times the same per-step factor); a run of ``steps`` steps at a
    constant ``lr`` moves it at most ``steps * lr``. Below this value the run cannot go as far
    as the test went to reach its knee; far above it the run only adds the jitter of a step
    that does not shrink as the gradient does.
    """
    return float(np.sum(np.asarray(lrs, dtype=np.float64)[: index + 1])) / steps


def _budget(
    upper: float, why: str, lrs: np.ndarray, index: int, steps: int | None, normalized: bool
) -> tuple[float, str]:
    """``upper``, or for a normalised-step optimizer with a known budget the geometric mean of
    ``upper`` and :func:`budget_floor` when that is lower: with only a lower and an upper bound
    for the answer, their geometric mean is the value whose worst-case factor error is the
    smallest (the square root of their ratio)."""
    if not normalized or steps is None:
        return upper, why
    floor = budget_floor(lrs, index, steps)
    if floor >= upper:
        return upper, why + f"; the {steps}-step budget's lower bound {floor:.3g} is above it"
    bound = f"the {steps}-step budget's lower bound {floor:.3g} (a step of about lr per weight)"
    return math.sqrt(upper * floor), f"geometric mean of {why} = {upper:.3g} and {bound}"


def _valley_index(y: np.ndarray) -> int:
    """fastai's ``valley`` index (O(n^2), as in fastai), restated, clamped at 0."""
    n = y.size
    lds = np.ones(n, dtype=int)
    for i in range(1, n):
        earlier = lds[:i][y[:i] > y[i]]
        if earlier.size:
            lds[i] = int(earlier.max()) + 1
    end = int(np.argmax(lds))  # first index with the largest length
    length = int(lds[end])
    return max(end - length + int(length / 3) + int(length / 6), 0)


def mean_curve(curves: np.ndarray) -> np.ndarray:
    """Per-step mean over seeds of a ``(seeds, steps)`` array (the same LR grid for every seed).

    NaN at a step where any seed is non-finite: pad each seed's curve with NaN after it stopped,
    so the mean curve ends where the first seed stopped, and :func:`suggest` on it (with
    ``stop_step=None``) reads only steps every seed reached and counts it as diverged.
    """
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"curves must be 2-D (seeds, steps), got shape {c.shape}")
    out = np.full(c.shape[1], np.nan)
    ok = np.isfinite(c).all(axis=0)
    if c.shape[0]:
        out[ok] = c[:, ok].mean(axis=0)
    return out


def aggregate(
    values: Sequence[float | None], *, unstable_ratio: float = 3.0, unstable_sd: float = 0.25
) -> dict[str, Any]:
    """Summary of one method's suggestions across seeds, in log space; ``None`` = no suggestion.

    ``median``, ``q25``, ``q75``: quantiles of ``log(v)`` (linear interpolation, as
    ``np.quantile``), mapped back; with an odd count the median is the middle value itself, with
    an even count the geometric mean of the middle two. ``iqr_ratio = q75/q25``; ``min``, ``max``;
    ``sd_log10``: sample sd (ddof=1) of ``log10(v)``. ``unstable``: ``max/min > unstable_ratio`` or
    ``sd_log10 > unstable_sd``. With no value every statistic is None; with one value the spread
    statistics (``sd_log10``, ``unstable``) are None: one seed cannot show instability.
    """
    present = [float(v) for v in values if v is not None]
    if any(not (math.isfinite(v) and v > 0) for v in present):
        raise ValueError(f"learning rates must be finite and > 0, got {present}")
    v = np.sort(np.asarray(present, dtype=np.float64))
    n = int(v.size)
    out: dict[str, Any] = {"n": n, "n_missing": len(values) - n}
    keys = ("median", "q25", "q75", "iqr_ratio", "min", "max", "sd_log10", "unstable")
    out.update(dict.fromkeys(keys))
    if n == 0:
        return out
    q25, q75 = _log_quantile(v, 0.25), _log_quantile(v, 0.75)
    out.update(median=_log_quantile(v, 0.5), q25=q25, q75=q75, iqr_ratio=q75 / q25)
    out.update(min=float(v[0]), max=float(v[-1]))
    if n >= 2:
        sd = float(np.std(np.log10(v), ddof=1))
        out.update(sd_log10=sd, unstable=bool(v[-1] / v[0] > unstable_ratio or sd > unstable_sd))
    return out


def _log_quantile(v: np.ndarray, q: float) -> float:
    """Quantile of sorted positive ``v`` in log space; an exact element when no interpolation."""
    pos = q * (v.size - 1)
    i = math.floor(pos)
    f = pos - i
    if f == 0.0:
        return float(v[i])
    return math.exp((1.0 - f) * math.log(v[i]) + f * math.log(v[i + 1]))


def _check_lrs(lrs: Any, losses: Any, mode: str) -> tuple[np.ndarray, np.ndarray]:
    lr, x = as_1d(lrs), as_1d(losses)
    if lr.shape != x.shape:
        raise ValueError(f"lrs and losses differ in length: {lr.size} vs {x.size}")
    if not np.isfinite(lr).all() or (lr.size and lr[0] <= 0) or np.any(np.diff(lr) <= 0):
        raise ValueError("lrs must be finite, > 0 and strictly increasing")
    return lr, x
