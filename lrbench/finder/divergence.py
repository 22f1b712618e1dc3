"""The range test's stop rule: where a curve diverges (the raw loss and its EMA), pure numpy.

A range test stops at the first step whose loss is non-finite, whose causal EMA rises above
``div_factor`` times its best, or whose raw loss stays above ``div_factor`` times its running
minimum (:func:`detect_divergence`). :mod:`lrbench.finder.suggest` reads the curve up to that
step. The spec is ``reference/lr-finder.md`` §8; ``ValueError`` here means a bug in the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

NON_FINITE = "non-finite loss"
ROSE = "loss rose above div_factor x best"
RAW_ROSE = "raw loss above div_factor x its running minimum"
NO_DIVERGENCE = "no divergence in range"
RAW_CONFIRM = 2  # the raw rule needs this many consecutive high steps
RAW_EPS = 1e-9  # ... each a rise of more than 1e-9 x |loss_0 - floor| (float round-off)


def as_1d(values: Any) -> np.ndarray:
    """``values`` as a 1-D float64 array (``ValueError`` for any other shape)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {x.shape}")
    return x


def ema(losses: np.ndarray, beta: float) -> np.ndarray:
    """Causal EMA seeded with the first value: ``s_0 = x_0``, ``s_t = beta*s_{t-1} + (1-beta)*x_t``.

    torch-lr-finder's smoothing with ``smooth_f = 1 - beta`` (no debiasing needed: the seed is a
    real loss, not 0 as in fastai/Lightning). A non-finite ``x_j`` makes every ``s_t``, ``t >= j``,
    non-finite.
    """
    x = as_1d(losses)
    out = np.empty_like(x)
    if x.size:
        s = float(x[0])
        out[0] = s
        keep = 1.0 - beta
        for t in range(1, x.size):  # Python floats: IEEE results, no numpy overflow warnings
            s = beta * s + keep * float(x[t])
            out[t] = s
    return out


@dataclass(frozen=True)
class Divergence:
    """Where the range test stops. ``stop_step`` is the step whose loss triggered the stop."""

    stopped: bool
    stop_step: int | None
    reason: str  # NON_FINITE, ROSE, RAW_ROSE or NO_DIVERGENCE


def detect_divergence(
    losses: np.ndarray,
    *,
    beta: float = 0.95,
    div_factor: float | None = 4.0,
    loss_floor: float = 0.0,
    skip_start: int = 10,
    momentum: bool = False,
) -> Divergence:
    """Stop after the first step ``t`` at which one of three rules fires:

    1. ``losses[t]`` is non-finite (any ``t``);
    2. **smoothed** (``t >= skip_start``), on the EMA ``s`` (:func:`ema`) with
       ``best_t = min(s_0..s_t)``: ``(s_t - floor) > div_factor * (best_t - floor)`` and
       ``s_t > s_0``;
    3. **raw** (``t >= skip_start``, :func:`raw_rise_steps`): the raw loss is more than
       ``div_factor`` x its running minimum (measured from the floor), by a rise more than
       ``div_factor`` x any rise the curve made before it reached that minimum, at
       ``RAW_CONFIRM`` (2) consecutive steps ending at ``t``; with ``momentum`` (the optimizer
       has a momentum term: heavy ball, Nesterov, Adam's beta1, RMSprop's momentum), also above
       its starting value ``x_0``.

    fastai stops at ``s > 4*best`` (torch-lr-finder ``5*best``): a ratio that misfires on negative
    losses (fastai #962) and on losses that go to ~0 (any noise is "4x best"), and that never
    sees a NaN. ``loss_floor`` (a known lower bound of the loss: 0 for log-loss and MSE) fixes the
    first; ``s_t > s_0`` stops rule 2 firing while the loss is still below where it started, and
    comparing with the curve's own earlier rises does the same for rule 3 (noise near a loss
    floor rises as much at every step, a blow-up rises more and more). Rule 3 exists because
    the EMA lags: after a fast descent on a short ramp it still carries the starting plateau
    (issue 21: least squares, the loss falls from 1494 to 0.005 and rises to 0.56, 56, 8224 in
    the last three steps while the EMA is near 300, far below ``s_0``), so a blow-up at the end
    of the ramp never crosses rule 2. Two consecutive steps, not one, so that a single spike the
    run recovers from is not a divergence (rule 2 still sees a large one). Without momentum a
    k-fold rise is instability (full-batch gradient descent below 2/L never raises the loss:
    the descent lemma); with momentum the loss swings far below its start while stable (heavy
    ball on an ill-conditioned least squares, momentum 0.9: from 0.2 to 12 and back, every
    ten steps, start 22, until the lr passes 2(1+mu)/L), so there only a rise above the start
    counts, as in rule 2.
    ``div_factor=None`` keeps only the non-finite check (``--no-stop-div``). Causal: the result
    on ``losses[:t+1]`` is the same as on the whole curve whenever it stops at ``t``. The reason
    names the rule that fired (rule 2 wins a tie with rule 3).
    """
    x = as_1d(losses)
    floor = float(loss_floor)
    bad = np.flatnonzero(~np.isfinite(x))
    first_bad = int(bad[0]) if bad.size else x.size
    if div_factor is not None and first_bad > 0:
        s = ema(x[:first_bad], beta)
        best = np.minimum.accumulate(s)
        with np.errstate(over="ignore", invalid="ignore"):
            rose = (s - floor > div_factor * (best - floor)) & (s > s[0])
        rose[:skip_start] = False
        raw = raw_rise_steps(
            x[:first_bad], div_factor=div_factor, loss_floor=floor, above_start=momentum
        )
        raw[:skip_start] = False
        hits = np.flatnonzero(rose | raw)
        if hits.size:
            t = int(hits[0])
            return Divergence(True, t, ROSE if rose[t] else RAW_ROSE)
    if first_bad < x.size:
        return Divergence(True, first_bad, NON_FINITE)
    return Divergence(False, None, NO_DIVERGENCE)


def raw_rise_steps(
    losses: np.ndarray,
    *,
    div_factor: float = 4.0,
    loss_floor: float = 0.0,
    above_start: bool = False,
) -> np.ndarray:
    """Rule 3 of :func:`detect_divergence` at every step of a finite curve ``x`` (booleans).

    With ``m_t = min(x_0..x_t)``, ``r_t = x_t - m_t`` (the rise above the running minimum),
    ``j_t`` the last step ``<= t`` with ``x_j = m_t`` (where the minimum was reached) and
    ``B_t = max(r_0..r_{j_t - 1})`` (0 if ``j_t = 0``; the largest rise before it), step ``t`` is
    *high* when

        (x_t - floor) > div_factor * (m_t - floor)   and   r_t > div_factor * B_t
        and   r_t > RAW_EPS * |x_0 - floor|,

    (with ``above_start`` also ``x_t > x_0``), and the result at ``t`` is true when steps
    ``t - RAW_CONFIRM + 1 .. t`` are all high.
    Scale-free: multiplying the curve's distance to the floor by a constant changes nothing.
    A curve that fell monotonically (full-batch gradient descent below 2/L) has ``B = 0``, so a
    k-fold rise counts however small the minimum; a curve jittering around its floor has made
    rises as large before, so its next one does not count.
    """
    x = as_1d(losses)
    out = np.zeros(x.size, dtype=bool)
    if x.size == 0:
        return out
    start = float(x[0])
    eps = RAW_EPS * abs(start - loss_floor)
    low = math.inf
    biggest = before_min = 0.0  # max rise so far; max rise before the last minimum
    run = 0
    for t, v in enumerate(x.tolist()):
        if v <= low:
            low, before_min = v, biggest
        rise = v - low
        high = (
            v - loss_floor > div_factor * (low - loss_floor)
            and rise > div_factor * before_min
            and rise > eps
            and (v > start or not above_start)
        )
        biggest = max(biggest, rise)
        run = run + 1 if high else 0
        out[t] = run >= RAW_CONFIRM
    return out
