"""What a sweep's results say: run outcomes, seed aggregates, best learning rate, sensitivity.

A *run* is one :class:`RunResult`. A *cell* is all seeds of one (task, optimizer + params,
schedule + params, lr). A *row* is all lrs of one (task, optimizer + params, schedule + params):
a learning-rate sensitivity curve. Data in, data out: the rules here compute the frozen
dataclasses of :mod:`lrbench.sweep.findings` (:class:`RunMetrics`, :class:`Cell`,
:class:`BestRow`, :class:`Analysis`; numpy only), which the report renders.

A run's ``status`` is decided in this order:

- ``diverged``: the engine stopped it (non-finite loss, or above ``divergence_factor`` x initial).
- ``unstable``: its full-batch training loss spiked or oscillated (:func:`classify_unstable`).
- ``slow``: stable, but far from its row's best at a smaller lr (:func:`mark_slow`).
- ``ok``: otherwise.

The types are in :mod:`lrbench.sweep.findings`. With a target (``analysis.target``) and two
or more tasks, :func:`analyze` also scores each row label across tasks with AlgoPerf's
performance profile (:mod:`lrbench.sweep.profile`) on the steps to target at its best lr.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lrbench.errors import ConfigError
from lrbench.spec import RunResult, RunSpec, differs, part_label, registry_defaults, row_label  # noqa: F401 - re-exported
from lrbench.sweep.findings import (  # noqa: F401 - re-exported: the types this module computes
    RUN_COLUMNS,
    STATUSES,
    SUMMARY_COLUMNS,
    Analysis,
    BestRow,
    Cell,
    RowKey,
    RunMetrics,
    StatusCounts,
    summary_rows,
)
from lrbench.sweep.gaps import GAP_METRICS, cell_gaps, final_index, run_gaps
from lrbench.sweep.pivot import pivot
from lrbench.sweep.profile import performance_profile, profile_times
from lrbench.sweep.runinfo import annotate
from lrbench.sweep.student import t975

if TYPE_CHECKING:
    from lrbench.spec import TaskSpec

#: Metric name -> direction ("min": lower is better, "max": higher is better).
METRICS = {
    "final_val_loss": "min",
    "best_val_loss": "min",
    "final_train_loss": "min",
    "final_val_accuracy": "max",
    "best_val_accuracy": "max",
    "steps_to_target": "min",
    **GAP_METRICS,
}
#: The value at step 0 each metric starts from (used by :func:`mark_slow`).
INITIAL = {
    "final_val_loss": "initial_val_loss",
    "best_val_loss": "initial_val_loss",
    "final_train_loss": "initial_train_loss",
    "final_val_accuracy": "initial_val_accuracy",
    "best_val_accuracy": "initial_val_accuracy",
}

SPIKE_RATIO = 1.5  # unstable: loss > 1.5 x its running minimum ...
NOISE_REL = 1e-3  # ... and rises by more than 0.1 % of the initial loss (the noise floor)
NOISE_ABS = 1e-10  # noise floor when the initial loss is ~0
OSC_REL = 0.2  # oscillation: a move counts if > 20 % of the lower of its two points
OSC_MIN_REVERSALS = 3  # ... and the counted moves change direction at least 3 times
SLOW_REL = 0.25  # slow: left more than 25 % of the initial-to-best gap unclosed
TOL_REL = 0.05  # sensitivity band, "min" metrics: within max(5 % of |best|, TOL_ABS)
TOL_ABS = 1e-3
ACC_TOL_ABS = 0.01  # sensitivity band, accuracies: within 1 percentage point


def direction(metric: str) -> str:
    """``"min"`` or ``"max"`` for a metric name of :data:`METRICS`."""
    if metric not in METRICS:
        raise ConfigError("analysis.metric", metric, "one of " + ", ".join(METRICS))
    return METRICS[metric]


# ---------------------------------------------------------------- rows and labels
def row_key(spec: RunSpec) -> RowKey:
    """``(task, (optimizer, params), (schedule, params), early stopping, batch_size)``: what
    every lr of a row shares (the early-stopping setting is None when off; the batch size tells
    rows of a batch-size grid apart)."""
    return (
        spec.task,
        (spec.optimizer, spec.optimizer_params),
        (spec.schedule, spec.schedule_params),
        spec.train.early_stopping,
        spec.train.batch_size,
    )


def schedule_label(spec: RunSpec, defaults: Mapping[str, Mapping[str, Any]] | None) -> str:
    """The schedule's label (:func:`part_label`), with `` + early_stop(patience=5)`` when the run
    stops early: rows with and without early stopping then differ in every table and CSV that
    names a row by task, optimizer and schedule."""
    text = part_label(spec.schedule, spec.schedule_params, defaults)
    stopping = spec.train.early_stopping
    return text if stopping is None else f"{text} + {stopping.label}"


def _labels(x: RunMetrics | Cell) -> dict[str, Any]:
    """The fields that name a row, copied from a run or a cell of it."""
    return {k: getattr(x, k) for k in ("row", "task", "optimizer", "schedule", "row_label")}


# ---------------------------------------------------------------- one run
def classify_unstable(eval_loss: np.ndarray) -> bool:
    """Whether a loss curve (full-batch training loss at the evaluation points) is unstable.

    Non-finite points are dropped; fewer than two points are stable. With ``x_0..x_n`` the curve,
    ``floor = max(NOISE_REL * |x_0|, NOISE_ABS)`` and ``m_i = min(x_0..x_{i-1})``, it is unstable if

    - **spike**: some ``x_i > SPIKE_RATIO * m_i`` (1.5) and ``x_i - m_i > floor``; or
    - **oscillation**: keeping only the moves ``d_i = x_{i+1} - x_i`` with
      ``|d_i| > max(OSC_REL * min(|x_i|, |x_{i+1}|), floor)`` (20 %), their sign changes at least
      ``OSC_MIN_REVERSALS`` (3) times: down-up-down-up, at least two marked rises.

    The floor ignores floating-point wiggles near convergence (a loss of 1e-12 doubling is not a
    spike). Losses are taken to be >= 0 (cross-entropy, squared error). A minibatch loss is noisy
    by design, so :func:`run_metrics` judges the full-batch training loss.
    """
    x = np.asarray(eval_loss, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return False
    floor = max(NOISE_REL * abs(x[0]), NOISE_ABS)
    run_min = np.minimum.accumulate(x)[:-1]
    rise = x[1:] - run_min
    if np.any((x[1:] > SPIKE_RATIO * run_min) & (rise > floor)):
        return True
    d = np.diff(x)
    scale = np.minimum(np.abs(x[:-1]), np.abs(x[1:]))
    moves = np.sign(d[np.abs(d) > np.maximum(OSC_REL * scale, floor)])
    return int(np.count_nonzero(moves[1:] != moves[:-1])) >= OSC_MIN_REVERSALS


def run_metrics(
    result: RunResult,
    target_loss: float | None = None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunMetrics:
    """One run's outcome and metrics (status is ``diverged``, ``unstable`` or ``ok`` here).

    ``initial_*`` are at step 0; ``final_*`` at the last evaluation point, or with early
    stopping's ``restore_best`` at its best one (NaN for a diverged run, which has no final
    state); ``best_val_loss``/``best_step``/``best_val_accuracy`` over the finite evaluation
    points (for a diverged run: before it diverged). ``steps_to_target`` is the
    first evaluation step with val loss <= ``target_loss``; ``None`` if never reached, if the run
    diverged (a diverged run counts as a miss) or if ``target_loss`` is ``None``.
    Accuracies are NaN for regression. The generalization gaps: :mod:`lrbench.sweep.gaps`.
    """
    s = result.spec
    diverged = result.status == "diverged"
    step = np.asarray(result.eval_step)
    tr = np.asarray(result.eval_train_loss, dtype=float)
    va = np.asarray(result.eval_val_loss, dtype=float)
    acc = np.asarray(result.eval_val_accuracy, dtype=float)
    status = "diverged" if diverged else "unstable" if classify_unstable(tr) else "ok"
    fin = final_index(result)
    opt, sched = part_label(s.optimizer, s.optimizer_params, defaults), schedule_label(s, defaults)
    ok_va, ok_acc = np.isfinite(va), np.isfinite(acc)
    best_i = int(np.argmin(np.where(ok_va, va, np.inf))) if ok_va.any() else None
    reached = None
    if target_loss is not None and not diverged:
        hits = np.flatnonzero(va <= target_loss)
        reached = int(step[hits[0]]) if hits.size else None
    return RunMetrics(
        run_id=s.run_id,
        row=row_key(s),
        task=s.task.label,
        optimizer=opt,
        schedule=sched,
        row_label=f"{opt} / {sched}",  # spec.row_label, with early stopping
        lr=s.lr,
        seed=s.seed,
        status=status,
        steps_done=result.steps_done,
        diverged_at=result.diverged_at,
        initial_train_loss=_at(tr, 0),
        initial_val_loss=_at(va, 0),
        initial_val_accuracy=_at(acc, 0),
        final_train_loss=math.nan if diverged else _at(tr, fin),
        final_val_loss=math.nan if diverged else _at(va, fin),
        final_val_accuracy=math.nan if diverged else _at(acc, fin),
        best_val_loss=math.nan if best_i is None else float(va[best_i]),
        best_step=None if best_i is None else int(step[best_i]),
        best_val_accuracy=float(acc[ok_acc].max()) if ok_acc.any() else math.nan,
        steps_to_target=reached,
        wall_s=result.wall_s,
        **run_gaps(result, best_i),
    )


def _at(a: np.ndarray, i: int) -> float:
    return float(a[i]) if a.size else math.nan


def mark_slow(runs: Sequence[RunMetrics], metric: str = "final_val_loss") -> list[RunMetrics]:
    """``runs`` with ``ok`` turned into ``slow`` for stable runs that fell far short at too small
    an lr (a new list; the runs are immutable).

    Runs are compared within a row and a seed (same task, optimizer, schedule and seed: common
    initialisation and batch order, so a paired comparison), among its ``ok``/``slow`` runs only.
    With ``best`` the best ``metric`` there (reached at lr ``lr_best``, the smallest on ties), and
    ``initial`` the run's value at step 0 (:data:`INITIAL`), a run is slow if ``lr < lr_best`` and
    it closed less than ``1 - SLOW_REL`` (75 %) of the gap the best run closed: for a "min" metric
    ``m - best > SLOW_REL * (initial - best)`` (mirrored for "max").

    Only smaller lrs: too small an lr makes slow progress, while too large an lr shows up as
    ``unstable`` or ``diverged`` (the LR-range-test reading); a larger lr that ends worse but
    stable stays ``ok``. Calling it again on its result gives the same result.
    """
    if metric not in INITIAL:
        raise ConfigError("analysis.metric", metric, "one of " + ", ".join(INITIAL))
    sign = 1.0 if direction(metric) == "min" else -1.0
    out = [replace(m, status="ok") if m.status == "slow" else m for m in runs]
    groups: dict[tuple[RowKey, int], list[int]] = {}
    for i, m in enumerate(out):
        if m.status == "ok":
            groups.setdefault((m.row, m.seed), []).append(i)
    for members in groups.values():
        scored = [
            (sign * out[i].value(metric), out[i].lr, i)
            for i in members
            if math.isfinite(out[i].value(metric))
        ]
        if not scored:
            continue
        _, lr_best, i_best = min(scored, key=lambda x: (x[0], x[1]))
        best = out[i_best].value(metric)
        for _, lr, i in scored:
            m = out[i]
            total = sign * (m.value(INITIAL[metric]) - best)
            if lr < lr_best and total > 0 and sign * (m.value(metric) - best) > SLOW_REL * total:
                out[i] = replace(m, status="slow")
    return out


# ---------------------------------------------------------------- cells (seeds aggregated)
def aggregate_cells(metrics: Sequence[RunMetrics], metric: str = "final_val_loss") -> list[Cell]:
    """One :class:`Cell` per (row, lr), rows in order of first appearance, lrs ascending.

    The statistics are over the cell's non-diverged seeds with a finite value (``n_used``):
    ``mean``, ``std`` (ddof=1; 0 for one value), ``ci95`` = t975(n-1) * std / sqrt(n) (the
    half-width of the Student t 95 % interval; NaN for one value), ``median``, ``min``, ``max``.
    For ``steps_to_target`` every seed is used and a miss (or a diverged seed) is +inf, so one
    miss makes ``mean`` inf (std, ci95 NaN) and ``median`` is AlgoPerf's statistic.
    ``score`` ranks cells: the median for ``steps_to_target``, the mean otherwise. The
    generalization means come from :func:`lrbench.sweep.gaps.cell_gaps`, whatever ``metric``.

    ``status``: ``diverged`` when every seed diverged (then the statistics are NaN); otherwise the
    worst status of the other seeds (ok < slow < unstable). ``partial_diverged`` flags a cell where
    some, not all, seeds diverged: its statistics cover the rest. ``statuses`` counts each status.
    """
    direction(metric)
    rows: dict[RowKey, dict[float, list[RunMetrics]]] = {}
    for m in metrics:
        rows.setdefault(m.row, {}).setdefault(m.lr, []).append(m)
    cells = []
    for by_lr in rows.values():
        for lr in sorted(by_lr):
            runs = by_lr[lr]
            counts = StatusCounts.of(r.status for r in runs)
            live = [r.status for r in runs if r.status != "diverged"]
            if metric == "steps_to_target":
                vals = [math.inf if r.status == "diverged" or r.steps_to_target is None
                        else float(r.steps_to_target) for r in runs]  # fmt: skip
            else:
                vals = [v for r in runs
                        if r.status != "diverged" and math.isfinite(v := r.value(metric))]  # fmt: skip
            stats = _stats(np.array(vals, dtype=float))
            cells.append(Cell(
                **_labels(runs[0]), lr=lr, metric=metric, n_seeds=len(runs),
                n_used=len(vals), n_finite=sum(math.isfinite(v) for v in vals),
                n_diverged=counts.diverged, statuses=counts,
                status=max(live, key=STATUSES.index) if live else "diverged",
                partial_diverged=0 < counts.diverged < len(runs),
                score=stats.median if metric == "steps_to_target" else stats.mean,
                **stats._asdict(), **cell_gaps(runs),
            ))  # fmt: skip
    return cells


class _Stats(NamedTuple):
    mean: float
    std: float
    ci95: float
    median: float
    min: float
    max: float


def _stats(v: np.ndarray) -> _Stats:
    """The statistics of :func:`aggregate_cells` over the values ``v`` (see there)."""
    n = v.size
    if n == 0:
        return _Stats(*[math.nan] * 6)
    median, lo, hi = float(np.median(v)), float(v.min()), float(v.max())
    if not np.isfinite(v).all():
        return _Stats(math.inf, math.nan, math.nan, median, lo, hi)
    std = float(np.std(v, ddof=1)) if n > 1 else 0.0
    ci = t975(n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return _Stats(float(np.mean(v)), std, ci, median, lo, hi)


# ---------------------------------------------------------------- rows: best lr, sensitivity
def tolerance(best: float, metric: str) -> float:
    """How far from the best a cell's score may be and still count as good.

    "min" metrics (losses, steps): ``max(TOL_REL * |best|, TOL_ABS)`` = max(5 % of it, 1e-3);
    accuracies: ``ACC_TOL_ABS`` = 0.01 (one percentage point).
    """
    if direction(metric) == "max":
        return ACC_TOL_ABS
    return max(TOL_REL * abs(best), TOL_ABS)


def best_per_row(cells: Sequence[Cell], metric: str) -> list[BestRow]:
    """Per row: the best lr, its statistics, and how sensitive the row is to the lr.

    Eligible cells have a finite ``score`` (:func:`aggregate_cells`) and no diverged seed; only
    when no cell qualifies are cells with diverged seeds considered (``fallback`` true). The best
    is the eligible cell with the lowest score (highest for accuracies), the smaller lr on ties;
    ``best_lr`` is ``None`` when nothing is eligible (every cell diverged, or missed the target).

    Sensitivity: a cell is ``within`` tolerance if eligible and its score is at most
    ``best + tolerance(best)`` (at least ``best - tolerance`` for accuracies): ``n_within`` counts
    them (``within_lrs`` lists them). The band ``[band_lo, band_hi]`` is the contiguous run of
    within-tolerance grid points around the best; ``band_points`` counts them, ``band_decades`` =
    log10(hi / lo) and ``band_x3`` = log(hi / lo) / log(3) measure its width (the 3x grid is not
    log-uniform, so widths are computed from the lrs, not from point counts).
    ``edge`` is ``"low"``/``"high"`` when the best lr is the smallest/largest of the row's grid
    (diverged cells included), ``"both"`` for a one-point grid, else ``None``: extend the grid.
    ``separated`` is whether the 95 % intervals of the best and the runner-up are disjoint
    (``None`` without intervals, e.g. one seed).
    """
    sign = 1.0 if direction(metric) == "min" else -1.0
    rows: dict[RowKey, list[Cell]] = {}
    for c in cells:
        rows.setdefault(c.row, []).append(c)
    out = []
    for row_cells in rows.values():
        row_cells = sorted(row_cells, key=lambda c: c.lr)
        finite = [c for c in row_cells if math.isfinite(c.score)]
        eligible = [c for c in finite if c.n_diverged == 0] or finite
        head = BestRow(
            **_labels(row_cells[0]), metric=metric, direction=METRICS[metric],
            n_lrs=len(row_cells), fallback=bool(eligible) and eligible[0].n_diverged > 0,
        )  # fmt: skip
        out.append(_best(head, row_cells, eligible, sign) if eligible else head)
    return out


def _best(head: BestRow, row_cells: list[Cell], eligible: list[Cell], sign: float) -> BestRow:
    """``head`` completed with the best cell among ``eligible`` and its band (see
    :func:`best_per_row`); ``row_cells`` is the whole row, lrs ascending."""
    ranked = sorted(eligible, key=lambda c: (sign * c.score, c.lr))
    best = ranked[0]
    tol = tolerance(best.score, head.metric)
    ok = {id(c) for c in eligible if sign * (c.score - best.score) <= tol}
    i = next(k for k, c in enumerate(row_cells) if c is best)
    lo = hi = i
    while lo > 0 and id(row_cells[lo - 1]) in ok:
        lo -= 1
    while hi < len(row_cells) - 1 and id(row_cells[hi + 1]) in ok:
        hi += 1
    band_lo, band_hi = row_cells[lo].lr, row_cells[hi].lr
    ratio = band_hi / band_lo
    edges = ["low"] * (i == 0) + ["high"] * (i == len(row_cells) - 1)
    runner = ranked[1] if len(ranked) > 1 else None
    return replace(
        head, best_lr=best.lr, best_score=best.score, best_mean=best.mean, best_std=best.std,
        best_ci95=best.ci95, best_n=best.n_used, best_status=best.status, tolerance=tol,
        n_within=len(ok), within_lrs=tuple(c.lr for c in row_cells if id(c) in ok),
        band_lo=band_lo, band_hi=band_hi, band_points=hi - lo + 1,
        band_decades=math.log10(ratio), band_x3=math.log(ratio) / math.log(3),
        edge={0: None, 1: edges[0] if edges else None, 2: "both"}[len(edges)],
        runner_up_lr=runner.lr if runner else None, separated=_separated(best, runner),
    )  # fmt: skip


def _separated(a: Cell, b: Cell | None) -> bool | None:
    if b is None or not (math.isfinite(a.ci95) and math.isfinite(b.ci95)):
        return None
    return abs(a.mean - b.mean) > a.ci95 + b.ci95


def analyze(
    results: Iterable[RunResult],
    metric: str = "final_val_loss",
    target_loss: float | None = None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    rows: Sequence[str] | None = None,
    bounds: Mapping[TaskSpec, float] | None = None,
) -> Analysis:
    """Run metrics, slow marks (by ``metric``, or final val loss for the others), cells, best
    lrs. Task labels, batch sizes, base lrs and the descent check (against ``bounds``, each
    task's 2/L) as :func:`lrbench.sweep.runinfo.annotate` adds them; ``rows``
    (``analysis.rows``) then names and orders the rows (:func:`pivot`)."""
    direction(metric)
    results = list(results)
    runs = [run_metrics(r, target_loss, defaults) for r in results]
    runs = annotate(runs, results, bounds)
    title = Analysis.row_title
    if rows is not None:
        runs, title, rank = pivot(runs, rows, defaults)
    runs = mark_slow(runs, metric if metric in INITIAL else "final_val_loss")
    cells = aggregate_cells(runs, metric)
    if rows is not None:
        cells.sort(key=lambda c: rank[c.row])  # stable: lrs stay ascending within a row
    best = best_per_row(cells, metric)
    profile = {}  # with a target and two or more tasks: from the best rows by steps to target
    if target_loss is not None and len({c.task for c in cells}) > 1:
        steps = best if metric == "steps_to_target" else best_per_row(
            aggregate_cells(runs, "steps_to_target"), "steps_to_target")  # fmt: skip
        profile = performance_profile(profile_times(steps))
    return Analysis(metric, tuple(runs), tuple(cells), tuple(best), title, profile)
