"""Learning-rate schedules: closed-form tables of the step, matching ``torch.optim.lr_scheduler``.

Steps are ``t = 0 .. T-1``; ``lr_table(...)[t]`` is the learning rate used by update ``t``: the
value PyTorch's optimizer holds at its ``t``-th ``step()`` when the scheduler is stepped once
after every ``optimizer.step()`` (so ``table[t]`` = the lr after ``t`` scheduler steps). Torch
computes most schedules recursively (each step multiplies the current lr); the closed forms here
agree with it to ~1e-13 relative. ``lr`` below is the swept learning rate: the base lr of every
schedule, the peak (``max_lr``) of ``cyclic`` and ``onecycle``.

Warmup (every schedule, ``warmup: w``, default 0): for ``t < w`` the lr is ``lr * (t+1)/w``
(torch: ``LambdaLR(lambda t: (t+1)/w)``, or ``SequentialLR([LinearLR(1/w, 1, w-1), X], [w])``),
so it reaches ``lr`` at ``t = w-1``. From ``t = w`` the schedule runs on its own clock
``t' = t - w`` over the remaining ``n = T - w`` steps, starting again from its own ``t' = 0``
(as SequentialLR restarts its second scheduler).

Durations are an int (steps) or a float in (0, 1] (a fraction, rounded to the nearest step):
``warmup`` is a fraction of the whole run ``T``; every other duration (``milestones``, ``T_max``,
``T_0``, ``total_iters``, ``timescale``, ``decay_steps``, ``step_size_up/down``) is a fraction of
the post-warmup length ``n = T - w``, and a fraction that rounds to 0 counts as 1 step. A null
``T_max``/``total_iters`` means ``n``; ``onecycle`` always spans ``n`` (torch ``total_steps``).

``cyclic`` and ``onecycle`` cycle the momentum (SGD ``momentum``, Adam-family ``beta1``) only
with ``cycle_momentum: true`` (torch's default is true; ours is false, so the lr alone varies);
then :func:`momentum_table` gives torch's values, holding the value at ``t' = 0`` during warmup.

``plateau`` (ReduceLROnPlateau) depends on the validation loss: :class:`PlateauTracker`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lrbench.errors import ConfigError
from lrbench.params import Entry, Param, lookup, resolve, to_steps

_DUR = "a number of steps >= 1 or a fraction of the run in (0, 1]"


def _dur(name: str, default: Any, help: str) -> Param:
    """A duration; a null default means "the post-warmup run" (or as the help says)."""
    return Param(name, default, "duration", help, nullable=default is None)


def _num(name: str, default: Any, help: str, high: float | None = None, **bounds: Any) -> Param:
    """A float >= 0 (``high``, ``low_open``, ``high_open``, ``nullable`` as in Param)."""
    return Param(name, default, "float", help, low=0.0, high=high, **bounds)


def _choice(name: str, choices: tuple[str, ...], help: str) -> Param:
    return Param(name, choices[0], "choice", help, choices=choices)


def _momentum(base: float, top: float) -> tuple[Param, ...]:
    return (
        Param("cycle_momentum", False, "bool", "also cycle momentum/beta1 inversely to the lr"),
        _num("base_momentum", base, "momentum at the lr peak", 1.0, high_open=True),
        _num("max_momentum", top, "momentum at the lr low", 1.0, high_open=True),
    )


WARMUP = _dur("warmup", 0, "linear warmup lr*(t+1)/w for t < w (steps or fraction of the run)")
ETA_MIN = _num("eta_min", 0.0, "lowest lr, absolute (torch eta_min)")
TOTAL_ITERS = _dur("total_iters", None, "length of the decay; null: the run")


def _entry(name: str, doc: str, *params: Param) -> Entry:
    return Entry(name, doc, (*params, WARMUP))


SCHEDULES: dict[str, Entry] = {
    e.name: e
    for e in (
        _entry("constant", "the swept lr at every step"),
        _entry(
            "step",
            "MultiStepLR: multiply by gamma at each milestone",
            Param(
                "milestones", (0.5, 0.75), "durations", "steps where the lr is multiplied by gamma"
            ),
            _num("gamma", 0.1, "factor per milestone", 1.0, low_open=True),
        ),
        _entry(
            "exponential",
            "ExponentialLR: lr * gamma^t",
            _num(
                "gamma",
                None,
                "factor per step; null: 0.01^(1/n)",
                1.0,
                low_open=True,
                nullable=True,
            ),
        ),
        _entry(
            "cosine",
            "CosineAnnealingLR: half a cosine from lr to eta_min over T_max (not clamped after)",
            _dur("T_max", None, "half-period; null: the run"),
            ETA_MIN,
        ),
        _entry(
            "cosine_restarts",
            "CosineAnnealingWarmRestarts (SGDR): cosines restarting at lr",
            _dur("T_0", 0.25, "length of the first cycle"),
            Param("T_mult", 1, "int", "cycle length factor after each restart", low=1),
            ETA_MIN,
        ),
        _entry(
            "linear",
            "LinearLR: lr*start_factor to lr*end_factor over total_iters, then constant",
            _num("start_factor", 1.0, "factor at t'=0", 1.0, low_open=True),
            _num("end_factor", 0.0, "factor from t'=total_iters", 1.0),
            TOTAL_ITERS,
        ),
        _entry(
            "polynomial",
            "PolynomialLR: lr*(1 - t/total_iters)^power, 0 after total_iters",
            TOTAL_ITERS,
            _num("power", 1.0, "exponent"),
        ),
        _entry(
            "inverse_sqrt",
            "lr / sqrt(1 + t/timescale) (rsqrt decay)",
            _dur("timescale", None, "tau; null: the warmup length (fairseq), or 1 step"),
        ),
        _entry(
            "inverse_time",
            "Keras InverseTimeDecay: lr / (1 + decay_rate * t/decay_steps)",
            _num("decay_rate", 1.0, "rate per decay_steps"),
            _dur("decay_steps", 0.1, "time unit of the decay"),
            Param("staircase", False, "bool", "floor t/decay_steps (decay in discrete jumps)"),
        ),
        _entry(
            "cyclic",
            "CyclicLR: triangles between base_lr and the swept lr (max_lr)",
            _num(
                "base_lr",
                None,
                "low end, absolute; null: the swept lr / 4",
                low_open=True,
                nullable=True,
            ),
            _dur("step_size_up", 0.1, "steps from base_lr up to max_lr"),
            _dur("step_size_down", None, "steps back down; null: step_size_up"),
            _choice(
                "mode",
                ("triangular", "triangular2", "exp_range"),
                "amplitude: 1, 2^(1-cycle), gamma^t",
            ),
            _num("gamma", 1.0, "exp_range factor per step", 1.0, low_open=True),
            *_momentum(0.8, 0.9),
        ),
        _entry(
            "onecycle",
            "OneCycleLR: from lr/div_factor up to the swept lr, then down to lr/div/final_div",
            _num("pct_start", 0.3, "fraction of the run spent increasing", 1.0),
            _choice("anneal_strategy", ("cos", "linear"), "interpolation"),
            _num("div_factor", 25.0, "initial lr = lr / div_factor", low_open=True),
            _num(
                "final_div_factor", 1e4, "final lr = initial lr / final_div_factor", low_open=True
            ),
            Param("three_phase", False, "bool", "up, back down to the initial lr, then annihilate"),
            *_momentum(0.85, 0.95),
        ),
        _entry(
            "plateau",
            "ReduceLROnPlateau on the validation loss (stateful)",
            _choice("mode", ("min", "max"), "min: lower is better; max: higher is better"),
            _num("factor", 0.1, "new lr = lr * factor", 1.0, high_open=True),
            Param("patience", 10, "int", "evaluations without improvement tolerated", low=0),
            _num("threshold", 1e-4, "how much better counts as better"),
            _choice("threshold_mode", ("rel", "abs"), "rel: best*(1-thr); abs: best-thr"),
            Param("cooldown", 0, "int", "evaluations ignored after a reduction", low=0),
            _num("min_lr", 0.0, "lower bound, absolute"),
            _num("eps", 1e-8, "reductions smaller than this are skipped"),
        ),
    )
}

_POSITIVE = "milestones T_max T_0 total_iters timescale decay_steps step_size_up step_size_down"


def resolve_schedule(name: str, given: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    """Validate a schedule's parameters and fill defaults; bad values raise :class:`ConfigError`."""
    entry = lookup(SCHEDULES, name, path, "schedule")
    p = resolve(entry.params, given, path)
    for key in _POSITIVE.split():
        values = p.get(key)
        items = values if isinstance(values, tuple) else (values,)
        for i, v in enumerate(items):
            if v == 0 and isinstance(v, int):
                where = f"{path}.{key}" + (f"[{i}]" if isinstance(values, tuple) else "")
                raise ConfigError(where, v, _DUR)
    if "max_momentum" in p and p["base_momentum"] > p["max_momentum"]:
        raise ConfigError(
            f"{path}.base_momentum",
            p["base_momentum"],
            f"a number <= max_momentum ({p['max_momentum']})",
        )
    if name == "onecycle" and p["three_phase"] and p["pct_start"] > 0.5:
        raise ConfigError(
            f"{path}.pct_start", p["pct_start"], "a number in [0, 0.5] with three_phase: true"
        )
    return p


def is_stateful(name: str) -> bool:
    """True for schedules that depend on training (``plateau``)."""
    return name == "plateau"


def _filled(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = SCHEDULES[name]
    p = {q.name: q.default for q in entry.params}
    unknown = set(params) - set(p)
    if unknown:
        raise ValueError(f"unknown {name} parameters {sorted(unknown)}")
    p.update(params)
    return p


def _split(p: Mapping[str, Any], total: int) -> tuple[int, int]:
    """Warmup steps ``w`` (fraction of the whole run) and the post-warmup length ``n``."""
    w = min(to_steps(p["warmup"], total), total)
    return w, total - w


def _steps(value: int | float, n: int) -> int:
    """A positive duration in steps: fractions of ``n``, at least 1."""
    return max(1, to_steps(value, n))


# Each schedule: (params, lr, t' as float64 0..n-1, n, w) -> lr values.
_Fn = Callable[[Mapping[str, Any], float, np.ndarray, int, int], np.ndarray]


def _constant(p, lr, t, n, w):
    """``lr``. Torch: no scheduler (or ``ConstantLR(factor=1)``)."""
    return np.full(t.shape, lr)


def _step(p, lr, t, n, w):
    """MultiStepLR: ``lr * gamma ** #{milestones <= t'}``; a repeated milestone applies twice."""
    ms = np.sort([_steps(m, n) for m in p["milestones"]])
    return lr * p["gamma"] ** np.searchsorted(ms, t, side="right")


def _exponential(p, lr, t, n, w):
    """ExponentialLR: ``lr * gamma ** t'``.

    Torch has no default; a null ``gamma`` is ``0.01 ** (1/n)``: lr/100 at ``t' = n``, whatever
    the run length (like the cosine, one step after the last update).
    """
    gamma = p["gamma"] if p["gamma"] is not None else 0.01 ** (1.0 / n)
    return lr * gamma**t


def _cosine(p, lr, t, n, w):
    """CosineAnnealingLR: ``eta_min + (lr - eta_min) * (1 + cos(pi t'/T_max)) / 2``.

    Not clamped (as torch): after ``T_max`` it climbs back, period ``2 T_max``. With the default
    ``T_max = n`` the last update uses ``t' = n-1``, one step before ``eta_min``.
    """
    T = _steps(p["T_max"], n) if p["T_max"] is not None else n
    eta = p["eta_min"]
    return eta + (lr - eta) * (1 + np.cos(np.pi * t / T)) / 2


def _cosine_restarts(p, lr, t, n, w):
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


def _linear(p, lr, t, n, w):
    """LinearLR: ``lr * (s + (e - s) * min(t', total_iters) / total_iters)``; defaults s=1, e=0."""
    T = _steps(p["total_iters"], n) if p["total_iters"] is not None else n
    s, e = p["start_factor"], p["end_factor"]
    return lr * (s + (e - s) * np.minimum(t, T) / T)


def _polynomial(p, lr, t, n, w):
    """PolynomialLR: ``lr * (1 - min(t', total_iters)/total_iters) ** power`` (0 at the end)."""
    T = _steps(p["total_iters"], n) if p["total_iters"] is not None else n
    return lr * (1.0 - np.minimum(t, T) / T) ** p["power"]


def _inverse_sqrt(p, lr, t, n, w):
    """``lr / sqrt(1 + t'/tau)``, tau = ``timescale``.

    Null ``timescale`` = the warmup length ``w``: then for ``t >= w`` this is exactly the
    fairseq ``inverse_sqrt`` / flax WMT rsqrt decay ``lr * sqrt(w / t)``. Without warmup it is
    1 step: ``lr / sqrt(t + 1)``. Torch has no equivalent (``LambdaLR`` with this formula).
    """
    tau = _steps(p["timescale"], n) if p["timescale"] is not None else max(w, 1)
    return lr / np.sqrt(1.0 + t / tau)


def _inverse_time(p, lr, t, n, w):
    """Keras InverseTimeDecay: ``lr / (1 + decay_rate * t'/decay_steps)``.

    With ``staircase`` the ratio ``t'/decay_steps`` is floored. Torch: ``LambdaLR`` of this.
    """
    ratio = t / _steps(p["decay_steps"], n)
    if p["staircase"]:
        ratio = np.floor(ratio)
    return lr / (1 + p["decay_rate"] * ratio)


def _cyclic_shape(p, t, n):
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


def _cyclic(p, lr, t, n, w):
    """CyclicLR: ``base_lr + (max_lr - base_lr) * s * scale``; ``max_lr`` = the swept lr.

    ``cycle = floor(1 + t'/(up+down))``, ``x = 1 + t'/(up+down) - cycle``, ``s = x/r`` while
    ``x <= r = up/(up+down)`` else ``(x-1)/(r-1)``; scale = 1 (triangular), ``2**(1-cycle)``
    (triangular2), ``gamma**t'`` (exp_range). Null ``base_lr`` = the swept lr / 4; a base_lr
    above the swept lr inverts the cycle, as in torch. Momentum: ``max_m - (max_m-base_m)*s*scale``.
    """
    s, scale = _cyclic_shape(p, t, n)
    base = p["base_lr"] if p["base_lr"] is not None else lr / 4
    return base + (lr - base) * s * scale


def _cyclic_momentum(p, t, n):
    s, scale = _cyclic_shape(p, t, n)
    top = p["max_momentum"]
    return top - (top - p["base_momentum"]) * s * scale


def _onecycle_phases(p, n, top, init, low, m_hi, m_lo):
    pct = p["pct_start"]
    if p["three_phase"]:
        return [
            (float(pct * n) - 1, init, top, m_hi, m_lo),
            (float(2 * pct * n) - 2, top, init, m_lo, m_hi),
            (n - 1, init, low, m_hi, m_hi),
        ]
    return [(float(pct * n) - 1, init, top, m_hi, m_lo), (n - 1, top, low, m_lo, m_hi)]


def _onecycle_eval(p, t, n, top, momentum):
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


def _onecycle(p, lr, t, n, w):
    """OneCycleLR with ``max_lr`` = the swept lr and ``total_steps = n``.

    ``init = lr/div_factor``, ``min = init/final_div_factor``; phase ends are floats
    ``e1 = pct_start*n - 1``, ``e2 = n - 1`` (three-phase: ``e2 = 2*pct_start*n - 2``,
    ``e3 = n - 1``).
    Up init->lr for ``t' <= e1``, then lr->min (three-phase: lr->init->min), each by
    ``cos``: ``b + (a-b)(1 + cos(pi pct))/2`` or ``linear``: ``a + (b-a) pct``. The peak is at
    ``t' = pct_start*n - 1``; ``min`` at the last step. Momentum runs max_m->base_m->max_m.
    """
    return _onecycle_eval(p, t, n, lr, momentum=False)


def _plateau(p, lr, t, n, w):
    """ReduceLROnPlateau before any reduction: ``lr`` (see :class:`PlateauTracker`)."""
    return np.full(t.shape, lr)


_LR: dict[str, _Fn] = {
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
_MOMENTUM = {
    "cyclic": _cyclic_momentum,
    "onecycle": lambda p, t, n: _onecycle_eval(p, t, n, 1.0, momentum=True),
}


def lr_table(name: str, params: Mapping[str, Any], base_lr: float, total_steps: int) -> np.ndarray:
    """The lr used by each update ``t = 0 .. total_steps-1`` (float64): warmup, then the schedule.

    ``params`` are resolved parameters (missing keys take their defaults). For ``plateau`` this is
    the warmup ramp then ``base_lr``, before any reduction.
    """
    p = _filled(name, params)
    w, n = _split(p, total_steps)
    out = np.empty(total_steps, dtype=np.float64)
    out[:w] = base_lr * ((np.arange(w) + 1) / w)
    if n:
        out[w:] = _LR[name](p, float(base_lr), np.arange(n, dtype=np.float64), n, w)
    return out


def momentum_table(name: str, params: Mapping[str, Any], total_steps: int) -> np.ndarray | None:
    """Momentum (or beta1) per update of ``cyclic``/``onecycle`` with ``cycle_momentum``, or None.

    During warmup it holds the schedule's value at ``t' = 0`` (``max_momentum``), as torch does
    when the cycling scheduler follows a warmup in ``SequentialLR``.
    """
    p = _filled(name, params)
    if name not in _MOMENTUM or not p["cycle_momentum"]:
        return None
    w, n = _split(p, total_steps)
    m = max(n, 1)
    local = _MOMENTUM[name](p, np.arange(m, dtype=np.float64), m)
    out = np.empty(total_steps, dtype=np.float64)
    out[:w] = local[0]
    out[w:] = local[:n]
    return out


class PlateauTracker:
    """ReduceLROnPlateau, vectorised over the ``plateau`` configurations of a group.

    Per :meth:`observe` (one torch ``step(metric)`` per configuration):

    1. better if ``a < best*(1-threshold)`` (min, rel), ``a < best - threshold`` (min, abs),
       ``a > best*(threshold+1)`` (max, rel), ``a > best + threshold`` (max, abs); ``best``
       starts at +inf (min) or -inf (max), so the first finite metric is better. Non-finite
       metrics are never better (torch agrees for NaN; it would accept -inf in min mode).
    2. better: ``best = a``, ``bad = 0``; else ``bad += 1``.
    3. in cooldown (``cooldown_counter > 0``): ``cooldown_counter -= 1``, ``bad = 0``.
    4. ``bad > patience`` (the (patience+1)-th bad evaluation): ``new = max(lr*factor, min_lr)``,
       applied only if ``lr - new > eps``; then ``cooldown_counter = cooldown``, ``bad = 0``.

    Warmup: ``lr(t)`` is ``base_lr*(t+1)/w`` while ``t < w``; observations made while ``t < w``
    (fewer than ``w`` updates done) are ignored, so the plateau logic starts after warmup.
    """

    def __init__(
        self, params: Sequence[Mapping[str, Any]], base_lrs: np.ndarray, total_steps: int
    ) -> None:
        ps = [_filled("plateau", q) for q in params]

        def col(key: str, dtype: Any = np.float64) -> np.ndarray:
            return np.array([q[key] for q in ps], dtype=dtype)

        self._base = np.array(base_lrs, dtype=np.float64).reshape(len(ps))
        self._lr = self._base.copy()
        self._warmup = np.array([_split(q, total_steps)[0] for q in ps], dtype=np.int64)
        self._max = np.array([q["mode"] == "max" for q in ps], dtype=bool)
        self._rel = np.array([q["threshold_mode"] == "rel" for q in ps], dtype=bool)
        self._factor, self._threshold = col("factor"), col("threshold")
        self._min_lr, self._eps = col("min_lr"), col("eps")
        self._patience, self._cooldown = col("patience", np.int64), col("cooldown", np.int64)
        self._best = np.where(self._max, -math.inf, math.inf)
        self._bad = np.zeros(len(ps), dtype=np.int64)
        self._cool = np.zeros(len(ps), dtype=np.int64)

    def lr(self, t: int) -> np.ndarray:
        """The lr of each configuration for update ``t``."""
        ramp = self._base * ((t + 1) / np.maximum(self._warmup, 1))
        return np.where(t < self._warmup, ramp, self._lr)

    def observe(self, metrics: np.ndarray, t: int) -> None:
        """One ``ReduceLROnPlateau.step(metric)`` per configuration, after ``t`` updates."""
        a = np.asarray(metrics, dtype=np.float64)
        on = t >= self._warmup
        best, thr = self._best, self._threshold
        with np.errstate(invalid="ignore", over="ignore"):
            better_min = np.where(self._rel, a < best * (1.0 - thr), a < best - thr)
            better_max = np.where(self._rel, a > best * (thr + 1.0), a > best + thr)
        better = np.where(self._max, better_max, better_min) & np.isfinite(a) & on
        self._best = np.where(better, a, best)
        self._bad = np.where(better, 0, np.where(on, self._bad + 1, self._bad))
        cooling = on & (self._cool > 0)
        self._cool = np.where(cooling, self._cool - 1, self._cool)
        self._bad = np.where(cooling, 0, self._bad)
        reduce = on & (self._bad > self._patience)
        new = np.maximum(self._lr * self._factor, self._min_lr)
        self._lr = np.where(reduce & (self._lr - new > self._eps), new, self._lr)
        self._cool = np.where(reduce, self._cooldown, self._cool)
        self._bad = np.where(reduce, 0, self._bad)

    def keep(self, idx: np.ndarray) -> None:
        """Keep only configurations ``idx`` (in that order)."""
        for key, value in list(vars(self).items()):
            setattr(self, key, value[idx])
