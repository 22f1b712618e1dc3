"""The theory report: stability bounds against observed thresholds, the descent check, best lr
against batch size and condition number, and sharpness against 2/lr. Builds; never prints.

Everything here is measured by :mod:`lrbench.sweep.theory` and :mod:`lrbench.sweep.runinfo`;
this module lays it out as tables (:func:`theory_models`, shown after the heatmaps by
:func:`lrbench.report.tables.tables` and :func:`~lrbench.report.tables.markdown`) and the bound
lines of the sensitivity figures (:func:`bound_lines`); its own figures are
:mod:`lrbench.report.theory_plots`'s (registered figure makers).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lrbench.report.table_model import Column, Entry, TableModel
from lrbench.sweep.theory import (
    BoundRow,
    assumption,
    batch_fits,
    bounds_by_task,
    conditioning_rows,
    stability_rows,
)

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome

EXPONENT_RULES = ((1.0, "linear"), (0.5, "sqrt"))  # best lr ~ B**a under each scaling rule


def _g(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def bound_rows(outcome: SweepOutcome) -> list[BoundRow]:
    """The sweep's stability rows (:func:`lrbench.sweep.theory.stability_rows`)."""
    per_epoch = {r.spec.run_id: r.steps_per_epoch for r in outcome.results}
    tasks = bounds_by_task(outcome.analysis, outcome.bounds)
    return stability_rows(outcome.analysis, tasks, per_epoch)


def _observed(b: BoundRow) -> str:
    if not b.full_batch:
        return "- (minibatches: the bound is for full batch)"
    lo, hi = b.largest_stable, b.smallest_diverged
    if hi is None:
        return f"no divergence up to {_g(lo)}"
    if lo is None:
        return f"diverged from the smallest lr, {_g(hi)}"
    return f"stable at {_g(lo)}, diverged at {_g(hi)}"


def _verdict(b: BoundRow) -> Entry:
    agrees = b.agrees
    if agrees is None:
        return Entry("-" if b.full_batch else "not judged")
    if not agrees:
        return Entry("DISAGREES", "bad")
    word = "agrees (within one grid step)" if b.model == "linear" else "consistent (sufficient)"
    return Entry(word, "good")


def bounds_model(outcome: SweepOutcome) -> TableModel | None:
    """Per task with a bound and each SGD-type row: the predicted bound with what it assumes,
    the observed threshold (full batch) and whether they agree; a task without an SGD-type row
    still gets its 2/L. None when no task has a bound."""
    if not outcome.bounds:
        return None
    rows = []
    found = bound_rows(outcome)
    if found and not any(b.full_batch for b in found):
        return _bounds_only(outcome, found)
    for task, two_over_l in outcome.bounds.items():
        mine = [b for b in found if b.task == task]
        for b in mine:
            texts = (task, b.row_label, f"{b.formula} = {_g(b.predicted, 4)}", b.assumption,
                     _observed(b))  # fmt: skip
            rows.append((*(Entry(t) for t in texts), _verdict(b)))
        if not mine:
            model = next(m.row[0].model for m in outcome.analysis.runs if m.task == task)
            alone = (task, "(no SGD-type optimizer)", f"2/L = {_g(two_over_l, 4)}", assumption(model),
                     "-", "-")  # fmt: skip
            rows.append(tuple(Entry(t) for t in alone))
    columns = (Column("task", key=True), Column("optimizer / schedule", key=True),
               *(Column(h) for h in ("predicted bound", "assumes", "observed threshold",
                                     "verdict")))  # fmt: skip
    notes = (
        "L: the largest eigenvalue of the training loss's Hessian (least squares), or an upper "
        "bound on it (logreg). Observed: the largest lr with no diverged seed below the first lr "
        "with one. Only full-batch runs at a constant lr are compared with the bound.",
    )
    return TableModel("stability bounds: predicted and observed", columns, tuple(rows), notes)


def _bounds_only(outcome: SweepOutcome, found: list[BoundRow]) -> TableModel:
    """Every run trained on minibatches, so nothing is compared with a full-batch bound: each
    distinct bound of a task once, with what it assumes (no observed or verdict columns)."""
    seen: dict[tuple[str, str], tuple[str, str, str]] = {}
    for b in found:
        bound = f"{b.formula} = {_g(b.predicted, 4)}"
        seen.setdefault((b.task, bound), (b.task, bound, b.assumption))
    columns = (Column("task", key=True), Column("bound"), Column("assumes"))
    rows = tuple(tuple(Entry(x) for x in texts) for texts in seen.values())
    notes = (
        "L: the largest eigenvalue of the training loss's Hessian (least squares), or an upper "
        "bound on it (logreg). This sweep trains on minibatches, so no run is compared with these "
        "full-batch bounds (batch_size: full runs are).",
    )
    return TableModel("stability bounds (full-batch gradient descent)", columns, rows, notes)


def descent_line(outcome: SweepOutcome) -> str | None:
    """The descent check in one line (None when no run was checked)."""
    checked = [m for m in outcome.analysis.runs if m.descent_violations is not None]
    if not checked:
        return None
    bad = [m for m in checked if m.descent_violations]
    head = (f"descent check: {len(checked)} full-batch gradient-descent runs below 2/L on convex "
            f"tasks; {len(bad)} with a rise of the training loss")  # fmt: skip
    if not bad:
        return head + " (none: as the descent lemma says)"
    shown = "; ".join(f"{m.task} {m.row_label} lr {m.lr:g} seed {m.seed}: {m.descent_violations} "
                      f"rises, first at step {m.first_rise_step}" for m in bad[:5])  # fmt: skip
    return f"{head}: a bug or a wrong bound. {shown}" + (" ..." if len(bad) > 5 else "")


def _rules(exponent: float, half: float | None) -> str:
    """Which scaling rules the fitted exponent's 95 % interval holds (one seed: the nearer)."""
    if not math.isfinite(exponent):
        return "-"
    named = [(a, f"{name} ({a:g})") for a, name in EXPONENT_RULES]
    if half is None:
        return "nearer " + min((abs(exponent - a), text) for a, text in named)[1]
    inside = [text for a, text in named if abs(exponent - a) <= half]
    return "holds " + " and ".join(inside) if inside else "holds neither 1 nor 0.5"


def batch_model(outcome: SweepOutcome) -> TableModel | None:
    """Per task and row trained at several batch sizes: the best lr at each, the fitted exponent
    of best lr ~ B**a with its 95 % interval over seeds, next to the linear (1) and square-root
    (0.5) rules. None without a batch-size grid."""
    fits = batch_fits(outcome.analysis)
    if not fits:
        return None
    rows = []
    for f in fits:
        best = ", ".join(f"{b}: {_g(lr)}" for b, lr in zip(f.batch_sizes, f.best_lrs))
        half = ""
        if f.half_width is not None:  # a spread of round-off (every seed alike) shows as 0
            half = f" ± {_g(f.half_width, 2) if f.half_width > 1e-9 else '0'}"
        fitted = f"{_g(f.exponent)}{half} ({f.n_seeds} seed{'s' * (f.n_seeds != 1)})"
        texts = (f.task, f.row_label, best, fitted, _rules(f.exponent, f.half_width))
        rows.append(tuple(Entry(t) for t in texts))
    columns = (Column("task", key=True), Column("optimizer / schedule", key=True),
               Column("best lr at batch size"),
               Column("exponent a", "right"), Column("95 % interval"))  # fmt: skip
    notes = (
        "best lr ~ B**a: a is the mean over seeds of each seed's least-squares slope of "
        "log(best lr) on log(batch size) (± the 95 % t interval); linear scaling says a = 1, "
        "square-root scaling a = 0.5. A batch counts as min(B, training rows).",
    )
    return TableModel("best learning rate against batch size", columns, tuple(rows), notes)


def conditioning_model(outcome: SweepOutcome) -> TableModel | None:
    """Per task and row, against the condition number: the best lr and the good band's width.
    None when no task has a ``condition_number``."""
    found = conditioning_rows(outcome.analysis)
    if not found:
        return None
    rows = []
    for r in found:
        band = "-" if r.band_decades is None else f"{r.band_decades:.2f} ({r.band_points} lrs)"
        texts = (r.task, r.row_label, f"{r.condition_number:g}", _g(r.best_lr), band)
        rows.append(tuple(Entry(t) for t in texts))
    columns = (Column("task", key=True), Column("optimizer / schedule", key=True),
               Column("condition number", "right", wrap=False),
               Column("best lr", "right", wrap=False), Column("good band, decades", "right"))  # fmt: skip
    notes = (
        "condition number: largest / smallest singular value of the standardised training "
        "design (least squares: the Hessian's is its square). Good band: the contiguous lrs "
        "within tolerance of the best; its width log10(hi/lo) shrinks when the problem is more "
        "sensitive to the learning rate.",
    )
    return TableModel("conditioning: best lr and good band", columns, tuple(rows), notes)


def theory_models(outcome: SweepOutcome) -> list[TableModel | str]:
    """The theory tables and lines that this sweep has something for, in order."""
    parts: list[TableModel | str | None] = [bounds_model(outcome), descent_line(outcome),
                                            batch_model(outcome), conditioning_model(outcome)]  # fmt: skip
    return [p for p in parts if p is not None]


# ---------------------------------------------------------------- figures
def bound_lines(outcome: SweepOutcome, task: str) -> list[tuple[float, str, str]]:
    """Vertical lines for a task's sensitivity figure, ``(lr, label, colour)``: 2/L and each
    heavy-ball or Nesterov bound of its rows, labelled with what they assume."""
    two_over_l = outcome.bounds.get(task)
    if two_over_l is None:
        return []
    model = next(m.row[0].model for m in outcome.analysis.runs if m.task == task)
    exact = "exact" if model == "linear" else "sufficient"
    out = [(two_over_l, f"2/L = {_g(two_over_l)} (full-batch GD, {exact})", "#808080")]
    for b in bound_rows(outcome):
        if b.task == task and b.formula != "2/L" and all(b.predicted != x for x, _, _ in out):
            out.append((b.predicted, f"{b.formula} = {_g(b.predicted)} (full batch)", "#8c564b"))
    return out
