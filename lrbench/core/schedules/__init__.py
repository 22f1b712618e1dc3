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

The package: :mod:`~lrbench.core.schedules.registry` (names, parameters, defaults and their
checks), :mod:`~lrbench.core.schedules.formulas` (each schedule's closed form) and
:mod:`~lrbench.core.schedules.plateau` (the stateful one); :func:`lr_table` and
:func:`momentum_table` here join warmup and a schedule into the table of a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lrbench.core.schedules.formulas import LR, MOMENTUM
from lrbench.core.schedules.plateau import PlateauTracker
from lrbench.core.schedules.registry import (
    ETA_MIN,
    SCHEDULES,
    TOTAL_ITERS,
    WARMUP,
    filled,
    is_stateful,
    resolve_schedule,
    split_warmup,
)

__all__ = [
    "ETA_MIN",
    "SCHEDULES",
    "TOTAL_ITERS",
    "WARMUP",
    "PlateauTracker",
    "is_stateful",
    "lr_table",
    "momentum_table",
    "resolve_schedule",
]


def lr_table(name: str, params: Mapping[str, Any], base_lr: float, total_steps: int) -> np.ndarray:
    """The lr used by each update ``t = 0 .. total_steps-1`` (float64): warmup, then the schedule.

    ``params`` are resolved parameters (missing keys take their defaults). For ``plateau`` this is
    the warmup ramp then ``base_lr``, before any reduction.
    """
    p = filled(name, params)
    w, n = split_warmup(p, total_steps)
    out = np.empty(total_steps, dtype=np.float64)
    out[:w] = base_lr * ((np.arange(w) + 1) / w)
    if n:
        out[w:] = LR[name](p, float(base_lr), np.arange(n, dtype=np.float64), n, w)
    return out


def momentum_table(name: str, params: Mapping[str, Any], total_steps: int) -> np.ndarray | None:
    """Momentum (or beta1) per update of ``cyclic``/``onecycle`` with ``cycle_momentum``, or None.

    During warmup it holds the schedule's value at ``t' = 0`` (``max_momentum``), as torch does
    when the cycling scheduler follows a warmup in ``SequentialLR``.
    """
    p = filled(name, params)
    if name not in MOMENTUM or not p["cycle_momentum"]:
        return None
    w, n = split_warmup(p, total_steps)
    m = max(n, 1)
    local = MOMENTUM[name](p, np.arange(m, dtype=np.float64), m)
    out = np.empty(total_steps, dtype=np.float64)
    out[:w] = local[0]
    out[w:] = local[:n]
    return out
