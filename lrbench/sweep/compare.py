"""``lrbench compare``: what changed between a baseline results folder and a new one.

Reads only ``runs.csv``, ``manifest.json`` and ``summary.csv`` of each folder, so a baseline is
those three small files, committed. Runs are matched by ``run_id`` (the hash of the run's full
spec); statistics are recomputed on the matched runs only (:mod:`lrbench.sweep.cells`), so a grid
that grew or shrank compares what both sides ran. Per row (task, optimizer, schedule):

- the best learning rate and the best cell's mean of the baseline's metric, and the change;
- runs whose status changed (ok -> unstable, ok -> diverged, ...);
- runs present on one side only (listed, never a regression).

A row **regresses** when (1) its best mean got worse by more than the tolerance and by more
than the seeds' noise, (2) it had a best cell and now has none (every cell diverged), or (3) a
run in the baseline's good band (``within_tolerance`` in its ``summary.csv``) became
``unstable`` or ``diverged``. The tolerance (:class:`Tolerance`) defaults to the analysis's own
(:func:`lrbench.sweep.analysis.tolerance`): ``max(5 % of |best|, 0.001)`` for losses, 0.01 for
accuracies, the width of a good band. The seeds' noise is the paired Student t 95 % half-width of
the per-seed differences between the two best cells (same seed = same initialisation and batch
order on both sides): ``t975(k-1) * std(d) / sqrt(k)`` over the k seeds both have; with fewer
than two such seeds only the tolerance applies.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrbench.errors import LrbenchError
from lrbench.sweep.analysis import METRICS, STATUSES, tolerance
from lrbench.sweep.cells import Cell, RunFact, best_cell, cells, t_half_width

FILES = ("runs.csv", "manifest.json", "summary.csv")
RUN_VALUES = tuple(METRICS)


class NotComparable(LrbenchError):
    """Two results folders of different configs (or not results folders at all)."""


@dataclass(frozen=True)
class Results:
    """What ``compare`` reads of one results folder."""

    path: Path
    name: str
    metric: str
    runs: tuple[RunFact, ...]
    band: frozenset[tuple[str, str, str, float]]  # (task, optimizer, schedule, lr) in tolerance


def load_results(path: str | Path) -> Results:
    """Read ``runs.csv``, ``manifest.json`` and ``summary.csv`` (clear errors when missing)."""
    root = Path(path)
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise NotComparable(f"{root}: not a results folder (missing {', '.join(missing)})")
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        runs = tuple(_run(row) for row in _csv(root / "runs.csv"))
        summary = _csv(root / "summary.csv")
        metric = summary[0]["metric"] if summary else "final_val_loss"
        band = frozenset(
            (s["task"], s["optimizer"], s["schedule"], float(s["lr"]))
            for s in summary
            if s["within_tolerance"] == "true"
        )
    except (KeyError, ValueError, IndexError) as exc:
        raise NotComparable(f"{root}: unreadable results ({type(exc).__name__}: {exc})") from None
    if metric not in METRICS:
        raise NotComparable(f"{root}/summary.csv: unknown metric {metric!r}")
    return Results(root, str(manifest.get("config", root.name)), metric, runs, band)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _run(row: dict[str, str]) -> RunFact:
    values = {k: float(row[k]) if row.get(k) else math.nan for k in RUN_VALUES}
    key = (row["task"], row["optimizer"], row["schedule"])
    return RunFact(key, float(row["lr"]), int(row["seed"]), row["status"], values, ((), (), ()),
                   row["run_id"])  # fmt: skip


@dataclass(frozen=True)
class Tolerance:
    """How much worse a best mean may get: ``max(rel * |baseline|, abs)`` of what is given;
    nothing given: the analysis's tolerance for the metric."""

    rel: float | None = None
    abs: float | None = None

    def allowed(self, base: float, metric: str) -> float:
        if self.rel is None and self.abs is None:
            return tolerance(base, metric)
        return max((self.rel or 0.0) * abs(base), self.abs or 0.0)

    def describe(self, metric: str) -> str:
        if self.rel is None and self.abs is None:
            if METRICS[metric] == "max":
                return "0.01 (default for accuracies)"
            return "max(5% of |baseline|, 0.001) (default for losses)"
        parts = [f"{self.rel * 100:g}% of |baseline|"] if self.rel is not None else []
        parts += [f"{self.abs:g}"] if self.abs is not None else []
        return parts[0] if len(parts) == 1 else f"max({', '.join(parts)})"


def parse_tolerance(text: str | None) -> Tolerance:
    """``5%`` (relative), ``0.002`` (absolute) or both, comma-separated: ``5%,0.002``."""
    if text is None:
        return Tolerance()
    rel = ab = None
    for part in (p.strip() for p in text.split(",")):
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(%?)", part)
        if not m or (m.group(2) and rel is not None) or (not m.group(2) and ab is not None):
            raise LrbenchError(
                f"--tolerance {text!r}: expected a relative tolerance like 5%, an absolute one "
                "like 0.002, or both: 5%,0.002"
            )
        if m.group(2):
            rel = float(m.group(1)) / 100
        else:
            ab = float(m.group(1))
    return Tolerance(rel, ab)


@dataclass(frozen=True)
class StatusChange:
    lr: float
    seed: int
    before: str
    after: str
    in_band: bool  # the baseline had this cell within tolerance of its best

    @property
    def worse(self) -> bool:
        return STATUSES.index(self.after) > STATUSES.index(self.before)

    @property
    def regression(self) -> bool:
        return self.in_band and self.worse and self.after in ("unstable", "diverged")


@dataclass(frozen=True)
class RowChange:
    """One row's comparison. ``delta`` = new - baseline best mean; ``worse_by`` is that delta
    signed so that positive is worse; ``noise`` the paired t half-width (``None``: no seeds)."""

    row: tuple[str, str, str]
    base_lr: float | None
    new_lr: float | None
    base_value: float | None
    new_value: float | None
    worse_by: float | None
    allowed: float | None
    noise: float | None
    statuses: tuple[StatusChange, ...]
    reasons: tuple[str, ...]

    @property
    def delta(self) -> float | None:
        if self.base_value is None or self.new_value is None:
            return None
        return self.new_value - self.base_value

    @property
    def regression(self) -> bool:
        return bool(self.reasons)

    @property
    def changed(self) -> bool:
        return self.base_lr != self.new_lr or bool(self.statuses) or bool(self.delta)


@dataclass(frozen=True)
class Comparison:
    """Everything ``compare`` found; ``only_baseline``/``only_new`` are runs without a match."""

    baseline: Path
    new: Path
    name: str
    metric: str
    tolerance: str
    rows: tuple[RowChange, ...]
    only_baseline: tuple[RunFact, ...]
    only_new: tuple[RunFact, ...]
    notes: tuple[str, ...]

    @property
    def regressions(self) -> list[RowChange]:
        return [r for r in self.rows if r.regression]

    def to_json(self) -> dict[str, Any]:
        def side(runs: Sequence[RunFact]) -> list[dict[str, Any]]:
            return [{"task": r.row[0], "optimizer": r.row[1], "schedule": r.row[2], "lr": r.lr,
                     "seed": r.seed, "run_id": r.run_id} for r in runs]  # fmt: skip

        return {
            "baseline": str(self.baseline),
            "new": str(self.new),
            "name": self.name,
            "metric": self.metric,
            "tolerance": self.tolerance,
            "regression": bool(self.regressions),
            "rows": [_row_json(r) for r in self.rows],
            "only_baseline": side(self.only_baseline),
            "only_new": side(self.only_new),
            "notes": list(self.notes),
        }


def _row_json(r: RowChange) -> dict[str, Any]:
    fields = ("base_lr", "new_lr", "base_value", "new_value", "delta", "worse_by", "allowed",
              "noise", "regression")  # fmt: skip
    out: dict[str, Any] = dict(zip(("task", "optimizer", "schedule"), r.row))
    out.update({k: _finite(getattr(r, k)) for k in fields})
    out["reasons"] = list(r.reasons)
    out["status_changes"] = [
        {"lr": s.lr, "seed": s.seed, "before": s.before, "after": s.after, "in_band": s.in_band}
        for s in r.statuses
    ]
    return out


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def compare(baseline: str | Path, new: str | Path, tol: Tolerance | None = None) -> Comparison:
    """Compare two results folders; :class:`NotComparable` for different configs."""
    base, cur = load_results(baseline), load_results(new)
    if base.metric != cur.metric:
        raise NotComparable(
            f"different configs: {base.path} ranks by {base.metric}, {cur.path} by {cur.metric}"
        )
    ids_b = {r.run_id for r in base.runs}
    ids_n = {r.run_id for r in cur.runs}
    common = ids_b & ids_n
    if not common:
        raise NotComparable(_differences(base, cur))
    tol = tol or Tolerance()
    rows = []
    shared_b = [r for r in base.runs if r.run_id in common]
    shared_n = {r.run_id: r for r in cur.runs if r.run_id in common}
    for key in dict.fromkeys(r.row for r in shared_b):
        b_runs = [r for r in shared_b if r.row == key]
        n_runs = [shared_n[r.run_id] for r in b_runs]
        rows.append(_row(key, b_runs, n_runs, base, base.metric, tol))
    notes = []
    if base.name != cur.name:
        notes.append(f"config names differ: {base.name!r} (baseline) and {cur.name!r} (new)")
    return Comparison(
        baseline=base.path,
        new=cur.path,
        name=cur.name,
        metric=base.metric,
        tolerance=tol.describe(base.metric),
        rows=tuple(rows),
        only_baseline=tuple(r for r in base.runs if r.run_id not in common),
        only_new=tuple(r for r in cur.runs if r.run_id not in common),
        notes=tuple(notes),
    )


def _row(
    key: tuple[str, str, str],
    b_runs: list[RunFact],
    n_runs: list[RunFact],
    base: Results,
    metric: str,
    tol: Tolerance,
) -> RowChange:
    """One row: ``n_runs[i]`` is the new run with ``b_runs[i]``'s spec."""
    bb, nb = best_cell(cells(b_runs, metric)), best_cell(cells(n_runs, metric))
    statuses = tuple(
        StatusChange(b.lr, b.seed, b.status, n.status, (*key, b.lr) in base.band)
        for b, n in zip(b_runs, n_runs)
        if b.status != n.status
    )
    reasons = [f"lr {s.lr:g} seed {s.seed}: {s.before} -> {s.after} (in the baseline's good band)"
               for s in statuses if s.regression]  # fmt: skip
    worse_by = allowed = noise = None
    if bb is not None and nb is None:
        reasons.insert(0, "no usable cell any more (every cell diverged)")
    elif bb is not None and nb is not None:
        sign = 1.0 if METRICS[metric] == "min" else -1.0
        worse_by = sign * (nb.score - bb.score)
        allowed = tol.allowed(bb.score, metric)
        noise = _paired_noise(bb, nb, b_runs, n_runs, metric)
        if worse_by > allowed and (noise is None or worse_by > noise):
            reasons.insert(0, f"best {metric} worse by {worse_by:.4g} (tolerance {allowed:.4g}"
                           + (f", seeds' noise {noise:.4g})" if noise is not None else ")"))  # fmt: skip
    return RowChange(
        row=key,
        base_lr=bb.lr if bb else None,
        new_lr=nb.lr if nb else None,
        base_value=bb.score if bb else None,
        new_value=nb.score if nb else None,
        worse_by=worse_by,
        allowed=allowed,
        noise=noise,
        statuses=statuses,
        reasons=tuple(reasons),
    )


def _paired_noise(
    bb: Cell, nb: Cell, b_runs: list[RunFact], n_runs: list[RunFact], metric: str
) -> float | None:
    """The paired t half-width of new(seed) - baseline(seed) between the two best cells."""
    before = {r.seed: r.value(metric) for r in b_runs if r.lr == bb.lr}
    after = {r.seed: r.value(metric) for r in n_runs if r.lr == nb.lr}
    d = [after[s] - before[s] for s in before if s in after]
    return t_half_width([x for x in d if math.isfinite(x)])


def _differences(base: Results, cur: Results) -> str:
    """Why no run matched: the names, axes and seeds that differ."""
    parts = []
    if base.name != cur.name:
        parts.append(f"config {base.name!r} vs {cur.name!r}")
    axes = (("tasks", lambda r: r.row[0]), ("optimizers", lambda r: r.row[1]),
            ("schedules", lambda r: r.row[2]), ("learning rates", lambda r: f"{r.lr:g}"),
            ("seeds", lambda r: str(r.seed)))  # fmt: skip
    for label, get in axes:
        a = list(dict.fromkeys(get(r) for r in base.runs))
        b = list(dict.fromkeys(get(r) for r in cur.runs))
        if set(a) != set(b):
            gone = [x for x in a if x not in b]
            new = [x for x in b if x not in a]
            text = "; ".join(
                f"{side} only: {', '.join(v)}"
                for side, v in (("baseline", gone), ("new", new))
                if v
            )
            parts.append(f"{label} differ ({text})")
    if len(parts) == (base.name != cur.name):  # no axis differs
        parts.append(
            "same tasks, optimizers, schedules, learning rates and seeds, but no run has the "
            "same spec: training settings differ (epochs or steps, batch size, dtype, data "
            "split, hyperparameters)"
        )
    return (
        f"{base.path} and {cur.path} are results of different configs, nothing to compare: "
        + "; ".join(parts)
    )
