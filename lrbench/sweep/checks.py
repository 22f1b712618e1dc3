"""A finished sweep's checks, for CI: its expectations, its comparison with a baseline, and the
headline numbers of ``lrbench batch``'s combined table. Data only; :mod:`lrbench.report.checks`
and :mod:`lrbench.report.ci` render it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrbench.sweep.cells import best_cell, cells
from lrbench.sweep.compare import Comparison, NotComparable, Tolerance, compare
from lrbench.sweep.expect import ExpectationResult, check, runs_from, show


@dataclass(frozen=True)
class SweepChecks:
    """One config's sweep and what was checked. ``best`` describes the best cell over the whole
    grid by the config's metric (as ``what: metric`` without filters); ``baseline_note`` says why
    there is no comparison when a baseline was asked for."""

    name: str
    source: str
    out_dir: Path
    metric: str
    runs: int
    diverged: int
    trained: int
    best: str
    best_value: float | None
    expectations: tuple[ExpectationResult, ...]
    comparison: Comparison | None
    baseline_note: str | None
    wall_s: float
    baseline_error: bool = False  # the baseline is of another config (bad input, exit 2)

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.expectations if not r.passed]

    @property
    def regressions(self) -> int:
        return len(self.comparison.regressions) if self.comparison else 0

    @property
    def ok(self) -> bool:
        """No failed expectation and no regression."""
        return not self.failed and not self.regressions

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "config": self.source,
            "results": str(self.out_dir),
            "metric": self.metric,
            "runs": self.runs,
            "diverged": self.diverged,
            "trained": self.trained,
            "best": self.best,
            "best_value": self.best_value,
            "expectations": [r.to_json() for r in self.expectations],
            "passed": sum(r.passed for r in self.expectations),
            "failed": len(self.failed),
            "comparison": self.comparison.to_json() if self.comparison else None,
            "baseline_note": self.baseline_note,
            "baseline_error": self.baseline_error,
            "regressions": self.regressions,
            "wall_s": round(self.wall_s, 3),
        }


def baseline_folder(baseline: Path, name: str) -> Path | None:
    """The baseline results of config ``name`` under ``baseline``: the folder itself when it
    holds ``runs.csv``, else ``baseline/<name>/``; ``None`` when neither exists."""
    for candidate in (baseline, baseline / name):
        if (candidate / "runs.csv").is_file():
            return candidate
    return None


def check_sweep(
    outcome: Any,
    source: str = "",
    baseline: Path | None = None,
    tol: Tolerance | None = None,
) -> SweepChecks:
    """Evaluate ``outcome.config.expect`` on a finished sweep and compare its results folder
    with ``baseline`` (see :func:`baseline_folder`); ``outcome`` is a
    :class:`lrbench.sweep.run.SweepOutcome`."""
    config = outcome.config
    metric = config.analysis["metric"]
    runs = runs_from(outcome.analysis)
    top = best_cell(cells(runs, metric))
    best = f"{top.row[0]} {top.row[1]} / {top.row[2]} at lr {top.lr:g}" if top else "-"
    comparison, note, bad = None, None, False
    if baseline is not None:
        folder = baseline_folder(baseline, config.name)
        if folder is None:
            note = f"no baseline for {config.name} in {baseline}"
        else:
            try:
                comparison = compare(folder, outcome.out_dir, tol)
            except NotComparable as exc:
                note, bad = str(exc), True
    return SweepChecks(
        name=config.name,
        source=source,
        out_dir=Path(outcome.out_dir),
        metric=metric,
        runs=len(runs),
        diverged=sum(r.diverged for r in runs),
        trained=outcome.n_trained,
        best=best,
        best_value=top.score if top else None,
        expectations=tuple(check(e, runs) for e in config.expect),
        comparison=comparison,
        baseline_note=note,
        wall_s=outcome.wall_s,
        baseline_error=bad,
    )


def best_text(c: SweepChecks) -> str:
    """``iris/logreg adam / constant at lr 0.1: final_val_loss 0.380878``."""
    if c.best_value is None:
        return "-"
    return f"{c.best}: {c.metric} {show(c.best_value)}"
