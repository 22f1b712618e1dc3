"""Generalization: the gap between training and validation, per run and per cell.

The engine records, at every evaluation point, the loss and the accuracy on the full training
split and on the validation split (:class:`lrbench.spec.RunResult`). From them, per run:

- ``final_gap_loss = final_val_loss - final_train_loss`` and ``final_gap_accuracy =
  final_train_accuracy - final_val_accuracy``, at the evaluation whose metrics are final
  (:func:`final_index`: the last one, or with early stopping's ``restore_best`` the best one);
- ``best_gap_loss`` and ``best_gap_accuracy``, the same differences at the evaluation with the
  lowest validation loss (``best_step``, the first such step on ties).

Both gaps are positive when the model does better on the rows it trained on. A diverged run
has no final state (final gaps NaN); accuracies are NaN for regression and for run files
written before training accuracy was recorded. Per cell (:func:`cell_gaps`): the mean of each
over the cell's non-diverged seeds with a finite value, whatever the table's metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lrbench.spec import RunResult
from lrbench.sweep.findings import RunMetrics

#: Per-run metrics of this module that ``analysis.metric`` may choose, with their direction.
#: A smaller gap is better; a later best step means the validation loss kept improving longer.
GAP_METRICS = {
    "final_gap_loss": "min",
    "final_gap_accuracy": "min",
    "best_gap_loss": "min",
    "best_gap_accuracy": "min",
    "best_step": "max",
}
CELL_MEANS = ("final_gap_loss", "final_gap_accuracy", "best_gap_loss", "best_gap_accuracy",
              "best_step")  # fmt: skip
#: A cell's generalization fields, as in ``summary.csv`` and the JSON summary's cells.
GAP_COLUMNS = (*CELL_MEANS, "n_stopped_early")


def final_index(result: RunResult) -> int:
    """The index of the evaluation whose metrics are the run's final ones: the restored best
    evaluation (early stopping with ``restore_best``), else the last."""
    if result.restored_step is None:
        return -1
    hits = np.flatnonzero(np.asarray(result.eval_step) == result.restored_step)
    return int(hits[0]) if hits.size else -1


def train_accuracy(result: RunResult) -> np.ndarray:
    """The training accuracy at the evaluation points (NaN where not recorded)."""
    if result.eval_train_accuracy is None:
        return np.full(len(result.eval_step), np.nan)
    return np.asarray(result.eval_train_accuracy, dtype=float)


def run_gaps(result: RunResult, best_i: int | None) -> dict[str, Any]:
    """The generalization fields of :class:`RunMetrics` for one run; ``best_i`` is the index of
    its best validation loss (None: no finite one)."""
    tr = np.asarray(result.eval_train_loss, dtype=float)
    va = np.asarray(result.eval_val_loss, dtype=float)
    acc = np.asarray(result.eval_val_accuracy, dtype=float)
    tr_acc = train_accuracy(result)
    out: dict[str, Any] = {
        "stopped_early": bool(result.stopped_early),
        "restored_step": result.restored_step,
    }
    if result.status == "diverged" or not va.size:
        out.update(final_train_accuracy=math.nan, final_gap_loss=math.nan,
                   final_gap_accuracy=math.nan)  # fmt: skip
    else:
        i = final_index(result)
        out.update(
            final_train_accuracy=float(tr_acc[i]),
            final_gap_loss=float(va[i] - tr[i]),
            final_gap_accuracy=float(tr_acc[i] - acc[i]),
        )
    if best_i is None:
        out.update(best_gap_loss=math.nan, best_gap_accuracy=math.nan)
    else:
        out.update(
            best_gap_loss=float(va[best_i] - tr[best_i]),
            best_gap_accuracy=float(tr_acc[best_i] - acc[best_i]),
        )
    return out


def cell_gaps(runs: Sequence[RunMetrics]) -> dict[str, Any]:
    """The generalization fields of a :class:`Cell` from its runs (all seeds of one row and lr):
    each of :data:`CELL_MEANS` averaged over the non-diverged runs with a finite value (NaN when
    none), and how many runs stopped early."""
    out: dict[str, Any] = {"n_stopped_early": sum(bool(r.stopped_early) for r in runs)}
    for name in CELL_MEANS:
        values = [v for r in runs if r.status != "diverged"
                  and (v := _number(getattr(r, name))) is not None]  # fmt: skip
        out[name] = float(np.mean(values)) if values else math.nan
    return out


def _number(v: Any) -> float | None:
    """``v`` as a finite float, or None (a missing step, NaN, infinity)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None
