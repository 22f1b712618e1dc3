"""Runs as plain facts, and the seed statistics that expectations and ``compare`` share.

A :class:`RunFact` is one run reduced to what a check needs: its row (task, optimizer and
schedule labels), learning rate, seed, status and metric values. Expectations make them from a
sweep's analysis (:func:`lrbench.sweep.expect.runs_from`), ``compare`` from a ``runs.csv``
(:mod:`lrbench.sweep.compare`), so both read results the same way.

A :class:`Cell` is the seeds of one (row, lr); :func:`best_cell` picks the best of any set of
cells with the analysis's rule (:func:`lrbench.sweep.analysis.best_per_row`): among cells with a
finite score and no diverged seed (cells with diverged seeds only when none qualifies), the best
score, then the smaller learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lrbench.sweep.analysis import METRICS
from lrbench.sweep.student import t975

STEPS = "steps_to_target"


@dataclass(frozen=True)
class RunFact:
    """One run: ``values`` maps metric names to floats (NaN when missing; ``steps_to_target``
    NaN when the target was not reached); ``names`` are what expectation filters may say."""

    row: tuple[str, str, str]
    lr: float
    seed: int
    status: str
    values: Mapping[str, float] = field(default_factory=dict)
    names: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())
    run_id: str = ""

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def value(self, metric: str) -> float:
        """The run's ``metric``: NaN for a diverged run, except ``steps_to_target``, where a
        diverged run or a miss counts as +inf (as in the analysis)."""
        v = float(self.values.get(metric, math.nan))
        if metric == STEPS:
            return math.inf if self.diverged or math.isnan(v) else v
        return math.nan if self.diverged else v


@dataclass(frozen=True)
class Cell:
    """The seeds of one (row, lr). ``values`` are the seeds the statistics use, in seed order:
    the non-diverged seeds with a finite value, or for ``steps_to_target`` every seed (a miss is
    +inf). ``score`` ranks cells: the median for ``steps_to_target``, the mean otherwise."""

    row: tuple[str, str, str]
    lr: float
    metric: str
    n_seeds: int
    n_diverged: int
    values: tuple[float, ...]

    @property
    def n_used(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        """Mean of ``values`` (NaN without any; +inf when one is infinite)."""
        if not self.values:
            return math.nan
        v = np.array(self.values)
        return float(np.mean(v)) if np.isfinite(v).all() else math.inf

    @property
    def median(self) -> float:
        return float(np.median(np.array(self.values))) if self.values else math.nan

    @property
    def score(self) -> float:
        return self.median if self.metric == STEPS else self.mean

    def interval(self) -> tuple[float, float] | None:
        """The 95 % interval of ``score``: Student t for a mean (:func:`mean_interval`),
        order statistics for a median (:func:`median_interval`)."""
        if self.metric == STEPS:
            return median_interval(self.values)
        return mean_interval(self.values)


def cells(runs: Iterable[RunFact], metric: str) -> list[Cell]:
    """One :class:`Cell` per (row, lr), rows in order of first appearance, lrs ascending."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    groups: dict[tuple[str, str, str], dict[float, list[RunFact]]] = {}
    for r in runs:
        groups.setdefault(r.row, {}).setdefault(r.lr, []).append(r)
    out = []
    for row, by_lr in groups.items():
        for lr in sorted(by_lr):
            seeds = by_lr[lr]
            vals = [r.value(metric) for r in seeds]
            used = vals if metric == STEPS else [v for v in vals if math.isfinite(v)]
            n_div = sum(r.diverged for r in seeds)
            out.append(Cell(row, lr, metric, len(seeds), n_div, tuple(used)))
    return out


def best_cell(candidates: Sequence[Cell]) -> Cell | None:
    """The best cell of any set (the analysis's rule, see the module docstring), or ``None``
    when no cell has a finite score."""
    finite = [c for c in candidates if math.isfinite(c.score)]
    eligible = [c for c in finite if c.n_diverged == 0] or finite
    if not eligible:
        return None
    sign = 1.0 if METRICS[eligible[0].metric] == "min" else -1.0
    return min(eligible, key=lambda c: (sign * c.score, c.lr))


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The Student t 95 % interval of the mean: ``mean ± t975(n-1) * std / sqrt(n)`` (std with
    ddof 1); ``None`` for fewer than two values or a non-finite one."""
    v = np.asarray(values, dtype=float)
    if v.size < 2 or not np.isfinite(v).all():
        return None
    half = t975(v.size - 1) * float(np.std(v, ddof=1)) / math.sqrt(v.size)
    m = float(np.mean(v))
    return (m - half, m + half)


def median_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """A distribution-free interval for the median with coverage >= 95 %: the order statistics
    ``[x_(k), x_(n+1-k)]`` (1-based) for the largest k with ``2 * P(Binomial(n, 1/2) < k) <= 0.05``.
    It needs n >= 6 (for n = 5, [min, max] covers only 1 - 2/32 = 93.75 %): ``None`` below."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    k, tail = 0, 0.0  # tail = P(Binomial(n, 1/2) < k + 1) as k grows
    while True:
        tail += math.comb(n, k) / 2.0**n
        if 2 * tail > 0.05:
            break
        k += 1
    if k == 0:
        return None
    return (float(x[k - 1]), float(x[n - k]))


def t_half_width(values: Sequence[float]) -> float | None:
    """``t975(n-1) * std / sqrt(n)`` of finite values, or ``None`` for fewer than two."""
    iv = mean_interval(values)
    return None if iv is None else (iv[1] - iv[0]) / 2
