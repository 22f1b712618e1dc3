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

- ``status_fraction``: selected runs with a status in ``status`` / selected runs; the interval
  as for ``diverged_fraction``.
- ``metric_difference``: ``a``'s and ``b``'s best cells by ``metric`` (``at: same_lr``: ``a``'s
  best cell at ``b``'s best lr); the value is the mean over the seeds both cells have of
  ``a - b`` (``relative``: ``(a - b) / |b|``), with the Student t interval of those paired
  differences.
- ``diverged_fraction_difference``: ``a``'s diverged fraction minus ``b``'s; the interval is the
  t interval of the per-seed differences.
- ``best_lr_slope``: per (task, optimizer, schedule) trained at several batch sizes and per seed,
  the slope of log(best lr) on log(batch size) (:func:`lrbench.sweep.theory.seed_slopes`; a
  batch counts as its effective size, ``min(B, n_train)``); the value is the mean of these slopes, with
  their t interval.

``lr: lowest`` / ``highest`` keeps each row's smallest / largest learning rate; a number keeps
that grid value (the grid's, before ``lr_scaling``).

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
from lrbench.expect import COMPARISONS, Expectation, part_names, task_names
from lrbench.spec import registry_defaults
from lrbench.sweep.cells import STEPS, Cell, RunFact, best_cell, cells, mean_interval
from lrbench.sweep.findings import Analysis
from lrbench.sweep.theory import effective_batch, seed_best_lr, seed_slopes

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
    defaults = registry_defaults(MODELS, OPTIMIZERS, SCHEDULES)
    out = []
    sizes: dict[Any, int] = {}
    for m in analysis.runs:
        task, (oname, oparams), (sname, sparams), _stopping, batch = m.row
        names = (task_names(task), part_names(oname, oparams, defaults),
                 part_names(sname, sparams, defaults))  # fmt: skip
        values = {
            k: math.nan if getattr(m, k) is None else float(getattr(m, k)) for k in RUN_VALUES
        }
        values["batch_size"] = float(effective_batch(task, batch, sizes))
        values["base_lr"] = m.lr if m.base_lr is None else m.base_lr
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
    def verdict(self) -> str:
        """``holds`` / ``does not hold`` for a claim, ``pass`` / ``FAIL`` otherwise."""
        if self.expectation.claim:
            return "holds" if self.passed else "does not hold"
        return "pass" if self.passed else "FAIL"

    @property
    def near_bound(self) -> bool:
        """Whether the interval contains an end of the bound (the verdict is within noise)."""
        if self.interval is None:
            return False
        return any(self.interval[0] <= x <= self.interval[1] for x in self.expectation.limits())

    def measured(self) -> str:
        """``0.953216 (95% CI 0.941 to 0.965)``, or ``no value``: the value in six significant
        digits (which side of a bound), its interval in three (a negative end stays readable)."""
        if self.value is None:
            return "no value"
        text = show(self.value)
        if self.interval is not None:
            lo, hi = self.interval
            text += f" (95% CI {lo:.3g} to {hi:.3g})"
        return text

    def to_json(self) -> dict[str, Any]:
        e = self.expectation
        return {
            "name": e.title,
            "what": e.what,
            "expect": e.to_dict(),
            "bound": e.bound,
            "passed": self.passed,
            "verdict": self.verdict,
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
    chosen = at_lr([r for r in runs if e.selects(r.names)], e.lr)
    if e.what in COMPARISONS:
        assert e.a is not None and e.b is not None
        a = at_lr([r for r in chosen if e.a.selects(r.names)], e.a.lr)
        b = at_lr([r for r in chosen if e.b.selects(r.names)], e.b.lr)
        value, interval, n, detail = _COMPARE[e.what](e, a, b)
    else:
        value, interval, n, detail = _MEASURES[e.what](e, chosen)
    return ExpectationResult(e, e.holds(value), value, interval, n, detail)


def at_lr(runs: Sequence[RunFact], lr: float | str | None) -> list[RunFact]:
    """The runs at one lr of each row: ``lowest``, ``highest``, or a grid value (the grid's,
    ``base_lr``, before any lr scaling); all of them for ``None``."""
    if lr is None:
        return list(runs)
    if isinstance(lr, str):
        grids: dict[tuple[str, str, str], set[float]] = {}
        for r in runs:
            grids.setdefault(r.row, set()).add(r.lr)
        pick = {row: (min if lr == "lowest" else max)(lrs) for row, lrs in grids.items()}
        return [r for r in runs if r.lr == pick[r.row]]
    return [r for r in runs if math.isclose(r.values.get("base_lr", r.lr), lr, rel_tol=1e-12)]


Measured = tuple[float | None, tuple[float, float] | None, int, str]


def _where(c: Cell) -> str:
    task, opt, sched = c.row[:3]
    return f"{task} {opt} / {sched} at lr {c.lr:g}"


def _best(e: Expectation, runs: Sequence[RunFact]) -> Measured:
    metric = STEPS if e.what == STEPS else e.metric
    assert metric is not None  # parsing fills the config's metric in
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


def _fraction(runs: Sequence[RunFact], hit: Any, what: str) -> Measured:
    """The fraction of ``runs`` for which ``hit(run)`` holds, with the t interval of the
    per-seed fractions (cut to [0, 1])."""
    if not runs:
        return None, None, 0, "no runs selected"
    k = sum(bool(hit(r)) for r in runs)
    iv = mean_interval(list(_per_seed(runs, hit).values()))
    if iv is not None:
        iv = (max(iv[0], 0.0), min(iv[1], 1.0))
    return k / len(runs), iv, len(runs), f"{k} of {len(runs)} runs {what}"


def _per_seed(runs: Sequence[RunFact], hit: Any) -> dict[int, float]:
    per: dict[int, list[bool]] = {}
    for r in runs:
        per.setdefault(r.seed, []).append(bool(hit(r)))
    return {s: sum(v) / len(v) for s, v in per.items()}


def _status_fraction(e: Expectation, runs: Sequence[RunFact]) -> Measured:
    return _fraction(runs, lambda r: r.status in e.status, "/".join(e.status))


def _best_lr_slope(e: Expectation, runs: Sequence[RunFact]) -> Measured:
    assert e.metric is not None
    groups: dict[tuple[str, str, str], dict[float, list[RunFact]]] = {}
    for r in runs:
        key = (r.names[0][0], r.row[1], r.row[2])  # the task's label without its batch size
        groups.setdefault(key, {}).setdefault(r.values["batch_size"], []).append(r)
    slopes, shown = [], []
    for key, by_size in groups.items():
        sizes = sorted(by_size)
        seeds = sorted({r.seed for rs in by_size.values() for r in rs})
        best = [[seed_best_lr([r for r in by_size[b] if r.seed == s], e.metric) for b in sizes]
                for s in seeds]  # fmt: skip
        slopes += seed_slopes(sizes, best)
        shown.append(f"{key[0]} {key[1]} / {key[2]} at batch " + ", ".join(f"{b:g}" for b in sizes))
    if not slopes:
        return None, None, 0, "fewer than two batch sizes with a best lr"
    value = sum(slopes) / len(slopes)
    return value, mean_interval(slopes), len(slopes), "; ".join(shown)


def _seed_values(runs: Sequence[RunFact], cell: Cell, metric: str) -> dict[int, float]:
    return {r.seed: r.value(metric) for r in runs if r.row == cell.row and r.lr == cell.lr
            and math.isfinite(r.value(metric))}  # fmt: skip


def _metric_difference(e: Expectation, a: Sequence[RunFact], b: Sequence[RunFact]) -> Measured:
    assert e.metric is not None
    best_b = best_cell(cells(b, e.metric))
    if best_b is None:
        return None, None, 0, "b: no cell with a value"
    candidates = cells(a, e.metric)
    if e.at == "same_lr":
        candidates = [c for c in candidates if c.lr == best_b.lr]
    best_a = best_cell(candidates)
    if best_a is None:
        return None, None, 0, f"a: no cell with a value at lr {best_b.lr:g}"
    va, vb = _seed_values(a, best_a, e.metric), _seed_values(b, best_b, e.metric)
    diffs = [(va[s] - vb[s]) / (abs(vb[s]) if e.relative else 1.0) for s in sorted(va)
             if s in vb and (vb[s] != 0 or not e.relative)]  # fmt: skip
    detail = f"a: {_where(best_a)}; b: {_where(best_b)}; {len(diffs)} paired seeds"
    if not diffs:
        return None, None, 0, detail
    return sum(diffs) / len(diffs), mean_interval(diffs), len(diffs), detail


def _diverged_difference(e: Expectation, a: Sequence[RunFact], b: Sequence[RunFact]) -> Measured:
    if not a or not b:
        return None, None, 0, f"no runs selected for {'a' if not a else 'b'}"
    fa, fb = _per_seed(a, lambda r: r.diverged), _per_seed(b, lambda r: r.diverged)
    diffs = [fa[s] - fb[s] for s in sorted(fa) if s in fb]
    iv = mean_interval(diffs)
    if iv is not None:
        iv = (max(iv[0], -1.0), min(iv[1], 1.0))
    ka, kb = sum(r.diverged for r in a), sum(r.diverged for r in b)
    detail = f"a: {ka} of {len(a)} runs diverged; b: {kb} of {len(b)}"
    return ka / len(a) - kb / len(b), iv, len(diffs), detail


_MEASURES = {
    "metric": _best,
    "best_lr": _best,
    STEPS: _best,
    "diverged_fraction": _diverged_fraction,
    "max_stable_lr": _max_stable_lr,
    "status_fraction": _status_fraction,
    "best_lr_slope": _best_lr_slope,
}
_COMPARE = {
    "metric_difference": _metric_difference,
    "diverged_fraction_difference": _diverged_difference,
}
