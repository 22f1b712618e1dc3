"""The textbook statements about the learning rate, measured on a sweep's results.

- **Stability bounds** (:func:`stability_rows`). Full-batch gradient descent on a loss whose
  Hessian has largest eigenvalue ``L`` is stable for ``lr < 2/L``; heavy-ball momentum ``mu``
  for ``lr < 2(1+mu)/L`` (:func:`lrbench.core.tasks.optimizer_bound`). For ``linear`` (least
  squares) ``L`` is the Hessian's exact top eigenvalue, so the bound is the threshold; for
  ``logreg`` it is an upper bound on the curvature, so the bound is sufficient and divergence
  sets in at or above it. The *observed threshold* of a row is the bracket ``[largest lr
  without a diverged seed, smallest lr with one]`` (lrs below the first diverged one). A row
  *agrees* when the bound lies in that bracket (``linear``: within one grid step) or, for
  ``logreg``, when no run diverged at or below it. Only full-batch rows are judged, and only
  constant learning rates (``constant`` without warmup) are compared with the bound.
- **Batch size** (:func:`batch_fits`). Per task, optimizer and schedule, the best learning rate
  at each batch size and the fitted exponent ``a`` of ``best_lr ~ B**a``: for every seed, its own
  best lr at each batch size (by the analysis metric, among its runs that did not diverge; the
  smaller lr on ties), the least-squares slope of ``log best_lr`` on ``log B``; the exponent is
  the mean of the seeds' slopes with its Student t 95 % half-width (:func:`fit_exponent`), next to
  the linear rule's 1 and the square-root rule's 0.5. A batch counts as its effective size,
  ``min(B, n_train)`` (a full batch is the training set).
- **Conditioning** (:func:`conditioning_rows`). For tasks that differ by ``condition_number``:
  each row's best learning rate and the width of its good band (``band_decades``) against the
  condition number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrbench.core.tasks import stability_bound
from lrbench.spec import TaskSpec
from lrbench.sweep.analysis import METRICS
from lrbench.sweep.findings import Analysis, BestRow, RowKey, RunMetrics
from lrbench.sweep.student import t975


def task_bounds(tasks: Iterable[TaskSpec], dtype: str = "float64") -> dict[TaskSpec, float]:
    """``2/L`` of each task that has one (``linear``, ``logreg``): the one stability bound,
    :func:`lrbench.core.tasks.stability_bound`."""
    out = {}
    for task in tasks:
        bound = stability_bound(task, dtype)
        if bound is not None:
            out[task] = bound
    return out


def bounds_by_label(analysis: Analysis, bounds: Mapping[TaskSpec, float]) -> dict[str, float]:
    """``{task label: 2/L}`` for the analysis's task labels (a task at several batch sizes has
    several labels, each with the task's bound)."""
    out: dict[str, float] = {}
    for m in analysis.runs:
        task = m.row[0]
        if task in bounds:
            out.setdefault(m.task, bounds[task])
    return out


def bounds_by_task(analysis: Analysis, by_label: Mapping[str, float]) -> dict[TaskSpec, float]:
    """The inverse of :func:`bounds_by_label`: ``{task: 2/L}`` from the labels' bounds."""
    return {m.row[0]: by_label[m.task] for m in analysis.runs if m.task in by_label}


def assumption(model: str) -> str:
    """What a task's bound assumes, in words."""
    if model == "linear":
        return "full batch; least squares: exact (L = the Hessian's top eigenvalue)"
    return "full batch; convex logreg: sufficient (L bounds the curvature from above)"


def bound_formula(optimizer: str, params: Mapping[str, object]) -> str | None:
    """``2/L``, ``2(1+mu)/L (mu=0.9)``, ... for an SGD-type optimizer; None otherwise."""
    if optimizer not in ("sgd", "momentum", "nesterov"):
        return None
    mu = float(params.get("momentum", 0.0) or 0.0)  # type: ignore[arg-type]
    wd = float(params.get("weight_decay", 0.0) or 0.0)  # type: ignore[arg-type]
    L = "(L+wd)" if wd else "L"
    if params.get("nesterov"):
        return f"2(1+mu)/((1+2mu){L}), mu={mu:g} (Nesterov)"
    if mu:
        damp = float(params.get("dampening", 0.0) or 0.0)  # type: ignore[arg-type]
        return f"2(1+mu)/{'((1-d)' + L + ')' if damp else L}, mu={mu:g} (heavy ball)"
    return f"2/{L}"


@dataclass(frozen=True)
class BoundRow:
    """One row's predicted stability bound and, for full batch, its observed threshold."""

    task: str
    row_label: str
    model: str
    formula: str
    predicted: float
    full_batch: bool
    constant_lr: bool
    largest_stable: float | None
    smallest_diverged: float | None

    @property
    def agrees(self) -> bool | None:
        """Whether the observation agrees with the bound (module docstring); None when it is
        not judged (minibatches, a schedule, or no lr of the grid brackets it)."""
        if not (self.full_batch and self.constant_lr):
            return None
        lo, hi = self.largest_stable, self.smallest_diverged
        if self.model != "linear":
            return hi is None or hi > self.predicted
        if lo is None or hi is None:
            return None
        return lo <= self.predicted <= hi

    @property
    def assumption(self) -> str:
        return assumption(self.model)


def stability_rows(
    analysis: Analysis, bounds: Mapping[TaskSpec, float], steps_per_epoch: Mapping[str, int]
) -> list[BoundRow]:
    """A :class:`BoundRow` per row of an SGD-type optimizer on a task with a bound.
    ``steps_per_epoch`` maps run ids to theirs (1: full batch)."""
    from lrbench.core.tasks import optimizer_bound

    rows: dict[RowKey, list[RunMetrics]] = {}
    for m in analysis.runs:
        rows.setdefault(m.row, []).append(m)
    out = []
    for key, runs in rows.items():
        task, (oname, oparams), (sname, sparams), *_ = key
        formula = bound_formula(oname, dict(oparams))
        if task not in bounds or formula is None:
            continue
        predicted = optimizer_bound(bounds[task], oname, dict(oparams))
        if predicted is None:
            continue
        lo, hi = observed_threshold(runs)
        out.append(BoundRow(
            task=runs[0].task, row_label=runs[0].row_label, model=task.model, formula=formula,
            predicted=predicted,
            full_batch=all(steps_per_epoch.get(m.run_id) == 1 for m in runs),
            constant_lr=sname == "constant" and not dict(sparams).get("warmup"),
            largest_stable=lo, smallest_diverged=hi,
        ))  # fmt: skip
    return out


def observed_threshold(runs: Iterable[RunMetrics]) -> tuple[float | None, float | None]:
    """``(largest lr without a diverged run below the first diverged lr, smallest lr with a
    diverged run)``; either None when there is none."""
    by_lr: dict[float, bool] = {}
    for m in runs:
        by_lr[m.lr] = by_lr.get(m.lr, False) or m.status == "diverged"
    diverged = [lr for lr, d in by_lr.items() if d]
    first = min(diverged) if diverged else None
    stable = [lr for lr, d in by_lr.items() if not d and (first is None or lr < first)]
    return (max(stable) if stable else None), first


# ---------------------------------------------------------------- batch size
def fit_exponent(
    batch_sizes: Sequence[float], best_lrs: Sequence[Sequence[float]]
) -> tuple[float, float | None, int]:
    """``(exponent, 95 % half-width, seeds)`` of ``best_lr ~ B**a``: each seed's least-squares
    slope of ``log best_lr`` on ``log B`` (``best_lrs[s][i]`` at ``batch_sizes[i]``; a seed with
    fewer than two finite points is left out), their mean, and ``t975(n-1) * std / sqrt(n)``
    (None for one seed). NaN exponent when no seed has two points."""
    slopes = seed_slopes(batch_sizes, best_lrs)
    if not slopes:
        return math.nan, None, 0
    n = len(slopes)
    half = t975(n - 1) * float(np.std(slopes, ddof=1)) / math.sqrt(n) if n > 1 else None
    return float(np.mean(slopes)), half, n


def seed_slopes(batch_sizes: Sequence[float], best_lrs: Sequence[Sequence[float]]) -> list[float]:
    """Each seed's least-squares slope of ``log best_lr`` on ``log B`` (:func:`fit_exponent`)."""
    x_all = np.log(np.asarray(batch_sizes, dtype=float))
    slopes = []
    for lrs in best_lrs:
        y = np.asarray(lrs, dtype=float)
        ok = np.isfinite(y) & (y > 0)
        if ok.sum() < 2 or np.ptp(x_all[ok]) == 0:
            continue
        x, ly = x_all[ok], np.log(y[ok])
        dx = x - x.mean()
        slopes.append(float(np.sum(dx * (ly - ly.mean())) / np.sum(dx * dx)))
    return slopes


@dataclass(frozen=True)
class BatchFit:
    """Best lr against batch size for one (task, optimizer, schedule)."""

    task: str
    row_label: str
    batch_sizes: tuple[int, ...]
    best_lrs: tuple[float | None, ...]  # the analysis's best lr (seeds pooled) at each size
    exponent: float
    half_width: float | None
    n_seeds: int


def seed_best_lr(runs: Iterable[Any], metric: str) -> float:
    """The best lr of one seed's runs by ``metric`` (not diverged, finite; smaller lr on ties);
    ``runs`` are :class:`RunMetrics` or :class:`lrbench.sweep.cells.RunFact` (``status``,
    ``lr``, ``value(metric)``)."""
    sign = 1.0 if METRICS[metric] == "min" else -1.0
    scored = [(sign * float(m.value(metric)), m.lr) for m in runs
              if m.status != "diverged" and m.value(metric) is not None
              and math.isfinite(float(m.value(metric)))]  # fmt: skip
    return min(scored)[1] if scored else math.nan


def batch_fits(analysis: Analysis) -> list[BatchFit]:
    """A :class:`BatchFit` per (task, optimizer, schedule, early stopping) trained at two or
    more effective batch sizes (:func:`effective_batch`)."""
    groups: dict[RowKey, dict[int, list[RunMetrics]]] = {}
    sizes: dict[TaskSpec, int] = {}
    for m in analysis.runs:
        task, opt, sched, stopping, batch = m.row
        size = effective_batch(task, batch, sizes)
        groups.setdefault((task, opt, sched, stopping), {}).setdefault(size, []).append(m)
    best = {b.row: b for b in analysis.best}
    out = []
    for (task, *_), by_size in groups.items():
        if len(by_size) < 2:
            continue
        bsizes = sorted(by_size)
        seeds = sorted({m.seed for runs in by_size.values() for m in runs})
        per_seed = [[seed_best_lr([m for m in by_size[b] if m.seed == s], analysis.metric)
                     for b in bsizes] for s in seeds]  # fmt: skip
        exponent, half, n = fit_exponent(bsizes, per_seed)
        pooled = tuple(_best_lr(best, by_size[b][0].row) for b in bsizes)
        first = by_size[bsizes[0]][0]
        out.append(BatchFit(task.label, first.row_label, tuple(bsizes), pooled, exponent, half, n))
    return out


def effective_batch(task: TaskSpec, batch: int | None, sizes: dict[TaskSpec, int]) -> int:
    """``min(batch, n_train)``; a full batch (None) is ``n_train``
    (:func:`lrbench.core.tasks.train_size`, remembered in ``sizes``)."""
    from lrbench.core.tasks import train_size

    if task not in sizes:
        sizes[task] = train_size(task)
    return sizes[task] if batch is None else min(batch, sizes[task])


def _best_lr(best: Mapping[RowKey, BestRow], row: RowKey) -> float | None:
    b = best.get(row)
    return None if b is None else b.best_lr


# ---------------------------------------------------------------- conditioning
@dataclass(frozen=True)
class ConditioningRow:
    """One row (optimizer / schedule) on a task of one condition number."""

    task: str  # the task's label without the condition number
    row_label: str
    condition_number: float
    best_lr: float | None
    band_decades: float | None
    band_points: int
    n_lrs: int


def conditioning_rows(analysis: Analysis) -> list[ConditioningRow]:
    """Per row of a task with a ``condition_number``, its best lr and good band, ordered by
    task, row and condition number (empty when no task has one)."""
    out = []
    for b in analysis.best:
        task = b.row[0]
        kappa = dict(task.dataset_params).get("condition_number")
        if kappa is None:
            continue
        out.append(ConditioningRow(task.label, b.row_label, float(kappa), b.best_lr,
                                   b.band_decades, b.band_points, b.n_lrs))  # fmt: skip
    out.sort(key=lambda r: (r.task, r.row_label, r.condition_number))
    return out
