"""The schedules' registry: every name with its parameters, defaults and allowed values (as
``lrbench list schedules`` shows them), the checks of a configured schedule, and the split of a
run into warmup and the schedule's own clock. The conventions: :mod:`lrbench.core.schedules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def filled(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` over the registry defaults of schedule ``name`` (no validation)."""
    entry = SCHEDULES[name]
    p = {q.name: q.default for q in entry.params}
    unknown = set(params) - set(p)
    if unknown:
        raise ValueError(f"unknown {name} parameters {sorted(unknown)}")
    p.update(params)
    return p


def split_warmup(p: Mapping[str, Any], total: int) -> tuple[int, int]:
    """Warmup steps ``w`` (fraction of the whole run) and the post-warmup length ``n``."""
    w = min(to_steps(p["warmup"], total), total)
    return w, total - w
