"""``plateau``: ReduceLROnPlateau on the validation loss, the one schedule with state."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrbench.core.schedules.registry import filled, split_warmup


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
        ps = [filled("plateau", q) for q in params]

        def col(key: str, dtype: Any = np.float64) -> np.ndarray:
            return np.array([q[key] for q in ps], dtype=dtype)

        self._base = np.array(base_lrs, dtype=np.float64).reshape(len(ps))
        self._lr = self._base.copy()
        self._warmup = np.array([split_warmup(q, total_steps)[0] for q in ps], dtype=np.int64)
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
