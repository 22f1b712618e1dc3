"""Checking a config's expectations (:mod:`lrbench.expect`) against its sweep's results.

Every kind is measured on the runs its filters select (all runs without filters):

- ``metric``: the best cell (:func:`lrbench.sweep.cells.best_cell`) by ``metric``; the value is
  its mean over seeds, with the Student t 95 % interval when two or more seeds count.
- ``best_lr``: the learning rate of that best cell (a grid point: no interval).
- ``diverged_fraction``: diverged runs / selected runs; the interval is the t interval of the
  per-seed fractions (every seed runs the same grid, so their mean is the fraction).
- ``max_stable_lr``: the largest learning rate at which no selected run diverged (none: no
  value, a failure); a grid point, no interval.
- ``steps_to_target``: the best cell by steps to ``analysis.target`` (a miss counts as +inf);
  the value is its median over seeds, with the order-statistics 95 % interval from six seeds.

A check passes when the value meets the bound; a missing value (nothing eligible) fails. The
interval is reported, not used: ``near_bound`` says when it contains the bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lrbench.core.models import MODELS
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.schedules import SCHEDULES
from lrbench.expect import Expectation, part_names, task_names
from lrbench.spec import registry_defaults
from lrbench.sweep.cells import STEPS, Cell, RunFact, best_cell, cells, mean_interval
from lrbench.sweep.findings import Analysis

#: The per-run values a check may read (every metric of the analysis).
RUN_VALUES = (
    "final_val_loss",
    "best_val_loss",
    "final_train_loss",
    "final_val_accuracy",
    "best_val_accuracy",
    STEPS,
    "final_gap_loss",
    "final_gap_accuracy",
    "best_gap_loss",
    "best_gap_accuracy",
    "best_step",
)


def runs_from(analysis: Analysis) -> list[RunFact]:
    """The one place that reads a sweep's analysis (its per-run records, ``analysis.runs``)."""
    defaults = registry_defaults(OPTIMIZERS, SCHEDULES, MODELS)
    out = []
    for m in analysis.runs:
        task, (oname, oparams), (sname, sparams), *_ = m.row
        names = (task_names(task), part_names(oname, oparams, defaults),
                 part_names(sname, sparams, defaults))  # fmt: skip
        values = {
            k: math.nan if getattr(m, k) is None else float(getattr(m, k)) for k in RUN_VALUES
        }
        row = (m.task, m.optimizer, m.schedule)
        out.append(RunFact(row, m.lr, m.seed, m.status, values, names, m.run_id))
    return out


@dataclass(frozen=True)
class ExpectationResult:
    """One checked expectation: the measured ``value`` (``None``: nothing to measure), its 95 %
    ``interval`` where seeds allow, ``n`` the seeds (or runs, for fractions) behind it and
    ``detail`` where it was measured."""

    expectation: Expectation
    passed: bool
    value: float | None
    interval: tuple[float, float] | None
    n: int
    detail: str

    @property
    def near_bound(self) -> bool:
        """Whether the interval contains an end of the bound (the verdict is within noise)."""
        if self.interval is None:
            return False
        return any(self.interval[0] <= x <= self.interval[1] for x in self.expectation.limits())

    def measured(self) -> str:
        """``0.953216 (95% CI 0.94-0.96, 3 seeds)``, or ``no value``."""
        if self.value is None:
            return "no value"
        text = show(self.value)
        if self.interval is not None:
            lo, hi = self.interval
            text += f" (95% CI {show(lo)}–{show(hi)})"
        return text

    def to_json(self) -> dict[str, Any]:
        e = self.expectation
        return {
            "name": e.title,
            "what": e.what,
            "expect": e.to_dict(),
            "bound": e.bound,
            "passed": self.passed,
            "value": self.value,
            "interval": list(self.interval) if self.interval else None,
            "near_bound": self.near_bound,
            "n": self.n,
            "detail": self.detail,
        }


def show(x: float) -> str:
    """A measured value in six significant digits (enough to see which side of a bound)."""
    return f"{x:.6g}"


def check(e: Expectation, runs: Sequence[RunFact]) -> ExpectationResult:
    """Measure one expectation on the runs its filters select and compare with its bound."""
    chosen = [r for r in runs if e.selects(r.names)]
    measure = _MEASURES[e.what]
    value, interval, n, detail = measure(e, chosen)
    return ExpectationResult(e, e.holds(value), value, interval, n, detail)


Measured = tuple[float | None, tuple[float, float] | None, int, str]


def _where(c: Cell) -> str:
    task, opt, sched = c.row
    return f"{task} {opt} / {sched} at lr {c.lr:g}"


def _best(e: Expectation, runs: Sequence[RunFact]) -> Measured:
    metric = STEPS if e.what == STEPS else e.metric
    best = best_cell(cells(runs, metric))
    if best is None:
        reason = "no cell reached the target" if metric == STEPS else "every selected run diverged"
        return None, None, 0, reason
    detail = f"best cell by {metric}: {_where(best)}"
    if e.what == "best_lr":
        return best.lr, None, best.n_used, f"{detail}, {metric} {show(best.score)}"
    if best.n_diverged:
        detail += f" ({best.n_diverged} of {best.n_seeds} seeds diverged)"
    iv = best.interval()
    if iv is not None and "accuracy" in metric:  # an accuracy lies in [0, 1]
        iv = (max(iv[0], 0.0), min(iv[1], 1.0))
    return best.score, iv, best.n_used, detail


def _diverged_fraction(e: Expectation, runs: Sequence[RunFact]) -> Measured:
    if not runs:
        return None, None, 0, "no runs selected"
    k = sum(r.diverged for r in runs)
    per_seed: dict[int, list[bool]] = {}
    for r in runs:
        per_seed.setdefault(r.seed, []).append(r.diverged)
    iv = mean_interval([sum(d) / len(d) for d in per_seed.values()])
    if iv is not None:
        iv = (max(iv[0], 0.0), min(iv[1], 1.0))
    return k / len(runs), iv, len(runs), f"{k} of {len(runs)} runs diverged"


def _max_stable_lr(e: Expectation, runs: Sequence[RunFact]) -> Measured:
    lrs = sorted({r.lr for r in runs})
    unstable = {r.lr for r in runs if r.diverged}
    stable = [lr for lr in lrs if lr not in unstable]
    first = min(unstable) if unstable else None
    detail = f"first lr with a diverged run: {first:g}" if first else "no run diverged"
    if not stable:
        return None, None, 0, "a run diverged at every learning rate"
    return stable[-1], None, len({r.seed for r in runs}), detail


_MEASURES = {
    "metric": _best,
    "best_lr": _best,
    STEPS: _best,
    "diverged_fraction": _diverged_fraction,
    "max_stable_lr": _max_stable_lr,
}
