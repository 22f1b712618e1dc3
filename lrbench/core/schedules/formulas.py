"""Each schedule's closed form, over the schedule's own clock (after warmup).

A schedule is a function ``(p, lr, t, n, w) -> lr values``: its resolved parameters ``p``, the
swept learning rate ``lr``, the steps ``t = t' = 0 .. n-1`` as float64, the post-warmup length
``n`` and the warmup length ``w``. Each docstring gives the formula and torch's equivalent;
:data:`LR` and :data:`MOMENTUM` hold them by name. The conventions (durations, warmup, the value
at ``t = 0``): :mod:`lrbench.core.schedules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lrbench.params import to_steps

Params = Mapping[str, Any]
# One onecycle phase: (end, lr at its start, lr at its end, momentum at its start, at its end).
Phase = tuple[float, float, float, float, float]


# Each schedule: (params, lr, t' as float64 0..n-1, n, w) -> lr values.
Schedule = Callable[[Params, float, np.ndarray, int, int], np.ndarray]
# Each cycled momentum: (params, t' as float64 0..n-1, n) -> momentum values.
Momentum = Callable[[Params, np.ndarray, int], np.ndarray]


def _steps(value: int | float, n: int) -> int:
    """A positive duration in steps: fractions of ``n``, at least 1."""
    return max(1, to_steps(value, n))


def _constant(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """``lr``. Torch: no scheduler (or ``ConstantLR(factor=1)``)."""
    return np.full(t.shape, lr)


def _step(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """MultiStepLR: ``lr * gamma ** #{milestones <= t'}``; a repeated milestone applies twice."""
    ms = np.sort([_steps(m, n) for m in p["milestones"]])
    return lr * p["gamma"] ** np.searchsorted(ms, t, side="right")


def _exponential(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """ExponentialLR: ``lr * gamma ** t'``.

    Torch has no default; a null ``gamma`` is ``0.01 ** (1/n)``: lr/100 at ``t' = n``, whatever
    the run length (like the cosine, one step after the last update).
    """
    gamma = p["gamma"] if p["gamma"] is not None else 0.01 ** (1.0 / n)
    return lr * gamma**t


def _cosine(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """CosineAnnealingLR: ``eta_min + (lr - eta_min) * (1 + cos(pi t'/T_max)) / 2``.

    Not clamped (as torch): after ``T_max`` it climbs back, period ``2 T_max``. With the default
    ``T_max = n`` the last update uses ``t' = n-1``, one step before ``eta_min``.
    """
    T = _steps(p["T_max"], n) if p["T_max"] is not None else n
    eta = p["eta_min"]
    return eta + (lr - eta) * (1 + np.cos(np.pi * t / T)) / 2


def _cosine_restarts(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """CosineAnnealingWarmRestarts: ``eta_min + (lr - eta_min)(1 + cos(pi T_cur/T_i))/2``.

    ``T_cur`` counts steps since the last restart; cycle ``i`` lasts ``T_0 * T_mult**i`` steps,
    so restarts happen at ``t' = T_0, T_0(1 + T_mult), ...`` and ``eta_min`` is never reached.
    """
    T0, mult, eta = _steps(p["T_0"], n), p["T_mult"], p["eta_min"]
    k = t.astype(np.int64)
    if mult == 1:
        cur, period = k % T0, np.full(k.shape, T0)
    else:
        cur, period = np.empty_like(k), np.empty_like(k)
        start, Ti = 0, T0
        while start < k.size:
            cur[start : start + Ti] = k[start : start + Ti] - start
            period[start : start + Ti] = Ti
            start, Ti = start + Ti, Ti * mult
    return eta + (lr - eta) * (1 + np.cos(np.pi * cur / period)) / 2


def _linear(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """LinearLR: ``lr * (s + (e - s) * min(t', total_iters) / total_iters)``; defaults s=1, e=0."""
    T = _steps(p["total_iters"], n) if p["total_iters"] is not None else n
    s, e = p["start_factor"], p["end_factor"]
    return lr * (s + (e - s) * np.minimum(t, T) / T)


def _polynomial(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """PolynomialLR: ``lr * (1 - min(t', total_iters)/total_iters) ** power`` (0 at the end)."""
    T = _steps(p["total_iters"], n) if p["total_iters"] is not None else n
    return lr * (1.0 - np.minimum(t, T) / T) ** p["power"]


def _inverse_sqrt(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """``lr / sqrt(1 + t'/tau)``, tau = ``timescale``.

    Null ``timescale`` = the warmup length ``w``: then for ``t >= w`` this is exactly the
    fairseq ``inverse_sqrt`` / flax WMT rsqrt decay ``lr * sqrt(w / t)``. Without warmup it is
    1 step: ``lr / sqrt(t + 1)``. Torch has no equivalent (``LambdaLR`` with this formula).
    """
    tau = _steps(p["timescale"], n) if p["timescale"] is not None else max(w, 1)
    return lr / np.sqrt(1.0 + t / tau)


def _inverse_time(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """Keras InverseTimeDecay: ``lr / (1 + decay_rate * t'/decay_steps)``.

    With ``staircase`` the ratio ``t'/decay_steps`` is floored. Torch: ``LambdaLR`` of this.
    """
    ratio = t / _steps(p["decay_steps"], n)
    if p["staircase"]:
        ratio = np.floor(ratio)
    return lr / (1 + p["decay_rate"] * ratio)


def _cyclic_shape(p: Params, t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CyclicLR's position ``s`` in [0, 1] and amplitude scale at each ``t'``."""
    up = float(_steps(p["step_size_up"], n))
    down = float(_steps(p["step_size_down"], n)) if p["step_size_down"] is not None else up
    total = up + down
    ratio = up / total
    cycle = np.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    s = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    if p["mode"] == "triangular":
        scale = np.ones_like(t)
    elif p["mode"] == "triangular2":
        scale = 1 / 2.0 ** (cycle - 1)
    else:
        scale = p["gamma"] ** t
    return s, scale


def _cyclic(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """CyclicLR: ``base_lr + (max_lr - base_lr) * s * scale``; ``max_lr`` = the swept lr.

    ``cycle = floor(1 + t'/(up+down))``, ``x = 1 + t'/(up+down) - cycle``, ``s = x/r`` while
    ``x <= r = up/(up+down)`` else ``(x-1)/(r-1)``; scale = 1 (triangular), ``2**(1-cycle)``
    (triangular2), ``gamma**t'`` (exp_range). Null ``base_lr`` = the swept lr / 4; a base_lr
    above the swept lr inverts the cycle, as in torch. Momentum: ``max_m - (max_m-base_m)*s*scale``.
    """
    s, scale = _cyclic_shape(p, t, n)
    base = p["base_lr"] if p["base_lr"] is not None else lr / 4
    return base + (lr - base) * s * scale


def _cyclic_momentum(p: Params, t: np.ndarray, n: int) -> np.ndarray:
    s, scale = _cyclic_shape(p, t, n)
    top = p["max_momentum"]
    return top - (top - p["base_momentum"]) * s * scale


def _onecycle_phases(
    p: Params, n: int, top: float, init: float, low: float, m_hi: float, m_lo: float
) -> list[Phase]:
    pct = p["pct_start"]
    if p["three_phase"]:
        return [
            (float(pct * n) - 1, init, top, m_hi, m_lo),
            (float(2 * pct * n) - 2, top, init, m_lo, m_hi),
            (n - 1, init, low, m_hi, m_hi),
        ]
    return [(float(pct * n) - 1, init, top, m_hi, m_lo), (n - 1, top, low, m_lo, m_hi)]


def _onecycle_eval(p: Params, t: np.ndarray, n: int, top: float, momentum: bool) -> np.ndarray:
    """Torch's phase search: the first phase with ``t' <= end`` (else the last) interpolates
    from its start to its end, ``pct = (t' - previous end)/(end - previous end)``.
    Where torch divides 0 by 0 (``pct_start * n == 1`` at ``t' = 0``) we take ``pct = 1``."""
    init = top / p["div_factor"]
    low = init / p["final_div_factor"]
    phases = _onecycle_phases(p, n, top, init, low, p["max_momentum"], p["base_momentum"])
    which = np.full(t.shape, len(phases) - 1)
    for i in reversed(range(len(phases) - 1)):
        which[t <= phases[i][0]] = i
    out = np.empty_like(t)
    for i, (end, a_lr, b_lr, a_m, b_m) in enumerate(phases):
        start = phases[i - 1][0] if i else 0.0
        sel = which == i
        span = end - start
        pct = (t[sel] - start) / span if span != 0 else np.ones(int(sel.sum()))
        a, b = (a_m, b_m) if momentum else (a_lr, b_lr)
        if p["anneal_strategy"] == "cos":
            out[sel] = b + (a - b) / 2.0 * (np.cos(np.pi * pct) + 1)
        else:
            out[sel] = (b - a) * pct + a
    return out


def _onecycle(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """OneCycleLR with ``max_lr`` = the swept lr and ``total_steps = n``.

    ``init = lr/div_factor``, ``min = init/final_div_factor``; phase ends are floats
    ``e1 = pct_start*n - 1``, ``e2 = n - 1`` (three-phase: ``e2 = 2*pct_start*n - 2``,
    ``e3 = n - 1``).
    Up init->lr for ``t' <= e1``, then lr->min (three-phase: lr->init->min), each by
    ``cos``: ``b + (a-b)(1 + cos(pi pct))/2`` or ``linear``: ``a + (b-a) pct``. The peak is at
    ``t' = pct_start*n - 1``; ``min`` at the last step. Momentum runs max_m->base_m->max_m.
    """
    return _onecycle_eval(p, t, n, lr, momentum=False)


def _onecycle_momentum(p: Params, t: np.ndarray, n: int) -> np.ndarray:
    """OneCycleLR's momentum: ``max_momentum`` -> ``base_momentum`` -> ``max_momentum``."""
    return _onecycle_eval(p, t, n, 1.0, momentum=True)


def _plateau(p: Params, lr: float, t: np.ndarray, n: int, w: int) -> np.ndarray:
    """ReduceLROnPlateau before any reduction: ``lr`` (see :class:`PlateauTracker`)."""
    return np.full(t.shape, lr)


LR: dict[str, Schedule] = {
    "constant": _constant,
    "step": _step,
    "exponential": _exponential,
    "cosine": _cosine,
    "cosine_restarts": _cosine_restarts,
    "linear": _linear,
    "polynomial": _polynomial,
    "inverse_sqrt": _inverse_sqrt,
    "inverse_time": _inverse_time,
    "cyclic": _cyclic,
    "onecycle": _onecycle,
    "plateau": _plateau,
}
MOMENTUM: dict[str, Momentum] = {
    "cyclic": _cyclic_momentum,
    "onecycle": _onecycle_momentum,
}
