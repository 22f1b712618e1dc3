"""What a sweep found, as typed values: runs, cells, best rows, the analysis (frozen dataclasses).

:mod:`lrbench.sweep.analysis` computes them (its docstrings give the rules: ``run_metrics``,
``mark_slow``, ``aggregate_cells``, ``best_per_row``, ``analyze``); the report, the CSV files
and the command line read them. A *row* is all lrs of one (task, optimizer + params,
schedule + params): its ``row`` field is a hashable grouping key (:data:`RowKey`); show
``task``, ``optimizer``, ``schedule`` and ``row_label`` instead. Each CSV's columns are listed
once: ``runs.csv``'s are :class:`RunMetrics`'s fields (:data:`RUN_COLUMNS`), ``summary.csv``'s
:data:`SUMMARY_COLUMNS`. Columns added later come at the end of both (the generalization
columns, :mod:`lrbench.sweep.gaps`), so older columns keep their places.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

STATUSES = ("ok", "slow", "unstable", "diverged")  # from best to worst


# ---------------------------------------------------------------- statuses
@dataclass(frozen=True)
class StatusCounts:
    """How many runs have each status of :data:`STATUSES` (the one status count)."""

    ok: int = 0
    slow: int = 0
    unstable: int = 0
    diverged: int = 0

    @classmethod
    def of(cls, statuses: Iterable[str]) -> StatusCounts:
        """Count ``statuses``; a name outside :data:`STATUSES` is a bug (``TypeError``)."""
        return cls(**Counter(statuses))

    def as_dict(self, nonzero: bool = False) -> dict[str, int]:
        """``{status: count}`` in :data:`STATUSES` order (best to worst); ``nonzero``: only the
        statuses that occur."""
        return {s: n for s in STATUSES if (n := getattr(self, s)) or not nonzero}


# ---------------------------------------------------------------- runs, cells, rows
#: A row's grouping key, ``(task, (optimizer, params), (schedule, params), early stopping,
#: batch_size)`` (``row_key``; the early-stopping setting is None when off).
RowKey = tuple[Any, ...]

#: Field metadata of a grouping or naming field that is not a CSV column.
_NOT_A_COLUMN = {"column": False}
#: Field metadata of a column written only when some run has a value (:func:`optional_columns`).
_OPTIONAL = {"column": False, "optional": True}


def _columns(cls: type) -> tuple[str, ...]:
    """The CSV columns of a result type: its fields in order, grouping fields left out."""
    return tuple(f.name for f in fields(cls) if f.metadata.get("column", True))


@dataclass(frozen=True)
class RunMetrics:
    """One run's outcome and metrics (``analysis.run_metrics``, ``mark_slow``); a ``runs.csv``
    row without the spec's parts. ``row`` groups and ``row_label`` names; the other fields are
    the columns :data:`RUN_COLUMNS`, in order. ``status`` is one of :data:`STATUSES`. The
    generalization fields (``final_train_accuracy`` on) are :func:`lrbench.sweep.gaps.run_gaps`'s.
    """

    run_id: str
    row: RowKey = field(metadata=_NOT_A_COLUMN)
    task: str
    optimizer: str
    schedule: str
    row_label: str = field(metadata=_NOT_A_COLUMN)
    lr: float
    seed: int
    status: str
    steps_done: int
    diverged_at: int | None
    initial_train_loss: float
    initial_val_loss: float
    initial_val_accuracy: float
    final_train_loss: float
    final_val_loss: float
    final_val_accuracy: float
    best_val_loss: float
    best_step: int | None
    best_val_accuracy: float
    steps_to_target: int | None
    wall_s: float
    final_train_accuracy: float = math.nan
    final_gap_loss: float = math.nan
    final_gap_accuracy: float = math.nan
    best_gap_loss: float = math.nan
    best_gap_accuracy: float = math.nan
    stopped_early: bool = False
    restored_step: int | None = None
    # Optional columns (:data:`OPTIONAL_RUN_COLUMNS`), set by lrbench.sweep.runinfo:
    batch_size: int | str | None = field(default=None, metadata=_OPTIONAL)  # "full"; with a grid
    base_lr: float | None = field(default=None, metadata=_OPTIONAL)  # the grid's lr (lr_scaling)
    descent_violations: int | None = field(default=None, metadata=_OPTIONAL)  # None: not checked
    first_rise_step: int | None = field(default=None, metadata=_OPTIONAL)

    def value(self, metric: str) -> Any:
        """A metric (``analysis.METRICS``) or an ``initial_*`` value, by name (a missing
        ``best_step`` as NaN; ``steps_to_target`` as it is, None when missed)."""
        v = getattr(self, metric)
        return math.nan if v is None and metric != "steps_to_target" else v

    def csv_row(self) -> dict[str, Any]:
        """``{column: value}`` for :data:`RUN_COLUMNS`."""
        return {c: getattr(self, c) for c in RUN_COLUMNS}


#: Columns of ``runs.csv`` that come from :class:`RunMetrics` (every field but ``row`` and
#: ``row_label``).
RUN_COLUMNS = _columns(RunMetrics)
#: Columns of ``runs.csv`` written after :data:`RUN_COLUMNS` only when some run has a value:
#: ``batch_size`` (a batch-size grid or ``lr_scaling``), ``base_lr`` (``lr_scaling``: the grid's
#: lr; ``lr`` is the one used), ``descent_violations`` and ``first_rise_step`` (the descent check
#: of full-batch gradient descent below 2/L, :mod:`lrbench.sweep.runinfo`).
OPTIONAL_RUN_COLUMNS = tuple(f.name for f in fields(RunMetrics) if f.metadata.get("optional"))


def optional_columns(runs: Iterable[RunMetrics]) -> tuple[str, ...]:
    """The :data:`OPTIONAL_RUN_COLUMNS` some run of ``runs`` has a value for, in order."""
    runs = list(runs)
    return tuple(c for c in OPTIONAL_RUN_COLUMNS if any(getattr(m, c) is not None for m in runs))


@dataclass(frozen=True)
class Cell:
    """All seeds of one (row, lr), aggregated (``analysis.aggregate_cells``): how many seeds
    (``n_seeds``), how many the statistics use (``n_used``), the statistics of ``metric`` over
    them and ``score``, the value that ranks cells (mean, or median for steps to target). The
    generalization fields (``final_gap_loss`` on) are means over the cell's non-diverged seeds
    whatever the metric, and the count of runs stopped early (:func:`lrbench.sweep.gaps.cell_gaps`).
    """

    row: RowKey
    task: str
    optimizer: str
    schedule: str
    row_label: str
    lr: float
    metric: str
    n_seeds: int
    n_used: int
    n_finite: int
    n_diverged: int
    statuses: StatusCounts
    status: str
    partial_diverged: bool
    mean: float
    std: float
    ci95: float
    median: float
    min: float
    max: float
    score: float
    final_gap_loss: float = math.nan
    final_gap_accuracy: float = math.nan
    best_gap_loss: float = math.nan
    best_gap_accuracy: float = math.nan
    best_step: float = math.nan
    n_stopped_early: int = 0


@dataclass(frozen=True)
class BestRow:
    """One row's best lr and its sensitivity to the lr (``analysis.best_per_row``).

    Without an eligible cell (every cell diverged or missed the target) ``best_lr`` and the
    fields after it are ``None`` (``n_within`` and ``band_points`` 0, ``within_lrs`` empty).
    """

    row: RowKey
    task: str
    optimizer: str
    schedule: str
    row_label: str
    metric: str
    direction: str
    n_lrs: int
    fallback: bool
    best_lr: float | None = None
    best_score: float | None = None
    best_mean: float | None = None
    best_std: float | None = None
    best_ci95: float | None = None
    best_n: int | None = None
    best_status: str | None = None
    tolerance: float | None = None
    n_within: int = 0
    within_lrs: tuple[float, ...] = ()
    band_lo: float | None = None
    band_hi: float | None = None
    band_points: int = 0
    band_decades: float | None = None
    band_x3: float | None = None
    edge: str | None = None
    runner_up_lr: float | None = None
    separated: bool | None = None


# ---------------------------------------------------------------- summary.csv and the whole
#: Columns of ``summary.csv`` (:func:`summary_rows`): a cell's fields, its status counts and how
#: it ranks in its row.
SUMMARY_COLUMNS = (
    "task", "optimizer", "schedule", "lr", "metric", "n_seeds", "n_used", "n_diverged", "n_ok",
    "n_slow", "n_unstable", "status", "partial_diverged", "mean", "std", "ci95", "median", "min",
    "max", "is_best", "within_tolerance",
    "final_gap_loss", "final_gap_accuracy", "best_gap_loss", "best_gap_accuracy", "best_step",
    "n_stopped_early",
)  # fmt: skip


def summary_rows(cells: Sequence[Cell], best: Sequence[BestRow]) -> list[dict[str, Any]]:
    """``summary.csv`` rows, one per cell, ``{column: value}`` for :data:`SUMMARY_COLUMNS`."""
    by_row = {b.row: b for b in best}
    out = []
    for c in cells:
        b = by_row.get(c.row)
        derived = {
            "n_ok": c.statuses.ok,
            "n_slow": c.statuses.slow,
            "n_unstable": c.statuses.unstable,
            "is_best": b is not None and b.best_lr == c.lr,
            "within_tolerance": b is not None and c.lr in b.within_lrs,
        }
        out.append({k: derived[k] if k in derived else getattr(c, k) for k in SUMMARY_COLUMNS})
    return out


@dataclass(frozen=True)
class ProfileScore:
    """One row label's performance profile across tasks (:mod:`lrbench.sweep.profile`)."""

    ratios: dict[str, float]  # task -> steps to target / the fastest row's (inf: a miss)
    score: float  # 1: the fastest on every task; 0: 4x slower than the fastest, or a miss


@dataclass(frozen=True)
class Analysis:
    """Everything ``analysis.analyze`` derives from a sweep's results (runs in the order given;
    cells and best rows by row in order of first appearance, or in the order of
    ``analysis.rows`` (:mod:`lrbench.sweep.pivot`), cells by lr ascending; ``row_title`` names
    the parts of a row label)."""

    metric: str
    runs: tuple[RunMetrics, ...]
    cells: tuple[Cell, ...]
    best: tuple[BestRow, ...]
    row_title: str = "optimizer / schedule"  # what a row label names (analysis.rows)
    #: with a target and two or more tasks: each row label's performance profile across tasks
    #: (AlgoPerf's score from the steps to target at its best lr), best score first
    profile: dict[str, ProfileScore] = field(default_factory=dict)

    @property
    def summary(self) -> list[dict[str, Any]]:
        """``summary.csv``'s rows (:func:`summary_rows`)."""
        return summary_rows(self.cells, self.best)

    @property
    def statuses(self) -> StatusCounts:
        """How many runs ended with each status."""
        return StatusCounts.of(r.status for r in self.runs)

    @property
    def tasks(self) -> list[str]:
        """Task labels in order of first appearance."""
        return list(dict.fromkeys(c.task for c in self.cells))
