"""Tests of lrbench.sweep.analysis on hand-built results, cells and curves.

Every expected value is computed by hand in the comments, by numpy in the test, or taken from a
standard Student t table (NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2,
"Critical values of the Student's t distribution", column 0.975 / two-sided 95 %).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from lrbench.errors import ConfigError
from lrbench.params import Entry, Param
from lrbench.spec import RunResult, RunSpec, TaskSpec, TrainSpec, freeze
from lrbench.sweep import analysis as an
from lrbench.sweep.profile import performance_profile, profile_times

TASK = TaskSpec("digits", "logreg")
TRAIN = TrainSpec(steps=30, batch_size=32, eval_every=10)
NAN = math.nan


def result(
    lr: float = 0.1,
    seed: int = 0,
    train: list[float] | None = None,
    val: list[float] | None = None,
    acc: list[float] | None = None,
    status: str = "ok",
    optimizer: str = "sgd",
    opt_params: dict | None = None,
    schedule: str = "constant",
) -> RunResult:
    """A RunResult with eval points at steps 0, 10, 20, ... (no minibatch log needed here)."""
    train = [2.0, 1.0, 0.5, 0.4] if train is None else train
    val = list(train) if val is None else val
    acc = [NAN] * len(val) if acc is None else acc
    steps = np.arange(len(val)) * 10
    diverged_at = int(steps[-1]) if status == "diverged" else None
    spec = RunSpec(TASK, TRAIN, optimizer, freeze(opt_params), schedule, (), lr, seed)
    return RunResult(
        spec=spec,
        status=status,
        steps_done=int(steps[-1]),
        diverged_at=diverged_at,
        log_step=np.arange(0),
        log_lr=np.zeros(0),
        log_loss=np.zeros(0),
        eval_step=steps,
        eval_train_loss=np.array(train, dtype=float),
        eval_val_loss=np.array(val, dtype=float),
        eval_val_accuracy=np.array(acc, dtype=float),
        steps_per_epoch=10,
    )


def final_val(lr: float, seed: int, value: float | None, initial: float = 2.0) -> an.RunMetrics:
    """Metrics of a stable run whose val loss goes from ``initial`` to ``value`` (None: diverged)."""
    if value is None:
        return an.run_metrics(result(lr, seed, [initial, 5.0], [initial, NAN], status="diverged"))
    return an.run_metrics(result(lr, seed, [initial, value], [initial, value]))


# ---------------------------------------------------------------- t quantile
@pytest.mark.parametrize(
    ("df", "expected"),
    # standard t table, 0.975 column (NIST e-Handbook 1.3.6.7.2), three decimals
    [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (9, 2.262), (10, 2.228),
     (20, 2.086), (29, 2.045), (30, 2.042), (40, 2.021), (60, 2.000), (100, 1.984), (120, 1.980)],
)  # fmt: skip
def test_t975_matches_standard_table(df: int, expected: float) -> None:
    assert an.t975(df) == pytest.approx(expected, abs=6e-4)


def test_t975_tends_to_normal_and_matches_scipy() -> None:
    assert an.t975(10**6) == pytest.approx(1.959964, abs=1e-5)  # normal 0.975 quantile
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 301):
        assert an.t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=6e-5), df
    with pytest.raises(ValueError, match="degrees of freedom"):
        an.t975(0)


# ---------------------------------------------------------------- run metrics
def test_run_metrics_fields_by_hand() -> None:
    r = result(
        lr=0.03,
        seed=2,
        train=[2.0, 1.0, 0.5, 0.4],
        val=[2.1, 1.2, 0.6, 0.7],
        acc=[0.1, 0.5, 0.8, 0.75],
    )
    m = an.run_metrics(r, target_loss=0.65)
    assert m.status == "ok"  # train loss falls monotonically
    assert (m.lr, m.seed, m.steps_done, m.diverged_at) == (0.03, 2, 30, None)
    assert (m.initial_train_loss, m.initial_val_loss, m.initial_val_accuracy) == (2.0, 2.1, 0.1)
    assert (m.final_train_loss, m.final_val_loss, m.final_val_accuracy) == (0.4, 0.7, 0.75)
    assert (m.best_val_loss, m.best_step, m.best_val_accuracy) == (0.6, 20, 0.8)
    assert m.steps_to_target == 20  # first val loss <= 0.65 is 0.6 at step 20
    assert m.task == "digits/logreg"
    assert m.row_label == "sgd / constant"
    assert list(m.csv_row()) == list(an.RUN_COLUMNS)
    assert an.run_metrics(r).steps_to_target is None  # no target given
    assert an.run_metrics(r, target_loss=0.1).steps_to_target is None  # never reached


def test_run_metrics_diverged_and_regression() -> None:
    r = result(train=[2.0, 1.5], val=[2.1, NAN], status="diverged")
    m = an.run_metrics(r, target_loss=3.0)
    assert m.status == "diverged"
    assert m.diverged_at == 10
    assert math.isnan(m.final_train_loss)
    assert math.isnan(m.final_val_loss)
    assert (m.best_val_loss, m.best_step) == (2.1, 0)  # best before it diverged
    assert m.steps_to_target is None  # 2.1 <= 3.0 at step 0, but a diverged run is a miss
    assert math.isnan(m.best_val_accuracy)
    assert math.isnan(m.final_val_accuracy)


def test_run_metrics_marks_unstable_from_train_loss() -> None:
    m = an.run_metrics(result(train=[2.0, 0.5, 1.2, 0.4], val=[2.0, 0.6, 0.6, 0.5]))
    assert m.status == "unstable"  # 1.2 > 1.5 * 0.5


# ---------------------------------------------------------------- unstable
def test_unstable_rule() -> None:
    assert not an.classify_unstable(np.geomspace(2.3, 0.01, 20))  # monotone decrease
    assert an.classify_unstable(np.array([2.0, 1.0, 0.5, 1.0, 0.4]))  # 2x the running min 0.5
    # a single 1.4x rise (0.5 -> 0.7) is neither a spike (< 1.5x) nor an oscillation
    # (significant moves -, -, +, -: two direction changes < 3)
    assert not an.classify_unstable(np.array([2.0, 1.0, 0.5, 0.7, 0.4]))
    # wiggles at 1e-12 after converging: ratios of 3-4 but rises far below 1e-3 * 1.0
    tiny = [1.0, 1e-3, 1e-9, 1e-12, 3e-12, 1e-12, 4e-12, 1e-12, 2e-12, 1e-12, 3e-12]
    assert not an.classify_unstable(np.array(tiny))
    # oscillation: every move > 20 % of its lower end, 6 direction changes, no 1.5x spike
    # (0.7/0.5 = 1.4, 0.65/0.45 = 1.44, 0.6/0.42 = 1.43)
    osc = [1.0, 0.5, 0.7, 0.45, 0.65, 0.42, 0.6, 0.4]
    assert an.classify_unstable(np.array(osc))
    assert not an.classify_unstable(np.array([2.0, 1.0, NAN]))  # non-finite points dropped
    assert not an.classify_unstable(np.array([2.0]))
    assert an.classify_unstable(np.array([1.0, 1.6]))  # rising from the start


# ---------------------------------------------------------------- slow
def test_slow_rule_on_a_row() -> None:
    # seed 0, initial val loss 2.0; best final 0.5 at lr 0.1, so the gap is 1.5 and a run at a
    # smaller lr is slow if final - 0.5 > 0.25 * 1.5 = 0.375.
    runs = [
        final_val(0.001, 0, 1.8),  # 1.3 > 0.375 -> slow
        final_val(0.01, 0, 0.8),  # 0.3 <= 0.375 (closed 80 % of the gap) -> ok
        final_val(0.1, 0, 0.5),  # the best
        final_val(1.0, 0, 1.9),  # far worse, but a larger lr: stays ok
        final_val(3.0, 0, None),  # diverged, untouched
        # seed 1 is judged on its own: best 1.0 at lr 0.01, gap 1.0, slow if > 1.25
        final_val(0.001, 1, 1.3),  # 0.3 > 0.25 -> slow
        final_val(0.01, 1, 1.0),
        final_val(0.1, 1, 1.1),
    ]
    assert an.SLOW_REL == 0.25
    marked = an.mark_slow(runs)
    assert [r.status for r in marked] == [
        "slow", "ok", "ok", "ok", "diverged", "slow", "ok", "ok",
    ]  # fmt: skip
    assert [r.status for r in runs].count("slow") == 0  # the runs given are left as they were
    assert an.mark_slow(marked) == marked  # idempotent
    with pytest.raises(ConfigError, match="analysis.metric"):
        an.mark_slow(runs, "steps_to_target")


def test_slow_ignores_unstable_runs_for_the_best() -> None:
    # the unstable run has the lowest final loss (0.1) but is not a reference for "best"
    unstable = an.run_metrics(result(1.0, 0, [2.0, 0.5, 1.2, 0.1], [2.0, 0.5, 1.2, 0.1]))
    runs = an.mark_slow([final_val(0.01, 0, 0.6), final_val(0.1, 0, 0.5), unstable])
    # best is 0.5 (lr 0.1): lr 0.01 is 0.1 above it, <= 0.25 * (2.0 - 0.5) = 0.375 -> ok. Had the
    # unstable 0.1 counted as best, lr 0.01 would be slow: 0.5 > 0.25 * (2.0 - 0.1) = 0.475.
    assert [r.status for r in runs] == ["ok", "ok", "unstable"]


# ---------------------------------------------------------------- cells
def test_aggregate_mean_std_ci() -> None:
    vals = [0.31, 0.29, 0.35, 0.30, 0.33]
    metrics = [final_val(0.1, s, v) for s, v in enumerate(vals)] + [final_val(0.01, 0, 0.7)]
    cells = an.aggregate_cells(metrics)
    assert [c.lr for c in cells] == [0.01, 0.1]  # lrs ascending within the row
    one, five = cells
    v = np.array(vals)
    assert five.mean == pytest.approx(v.mean(), rel=1e-12)
    assert five.std == pytest.approx(v.std(ddof=1), rel=1e-12)
    # t table: t_{0.975}(4) = 2.776
    assert five.ci95 == pytest.approx(2.776 * v.std(ddof=1) / math.sqrt(5), rel=2e-4)
    assert (five.min, five.max, five.median) == (0.29, 0.35, 0.31)
    assert (five.n_seeds, five.n_used, five.n_diverged, five.status) == (5, 5, 0, "ok")
    assert five.score == five.mean
    assert (one.mean, one.std, one.n_seeds) == (0.7, 0.0, 1)
    assert math.isnan(one.ci95)  # no interval from one seed


def test_aggregate_partial_and_all_diverged() -> None:
    metrics = [
        final_val(0.1, 0, 0.4),
        final_val(0.1, 1, 0.6),
        final_val(0.1, 2, None),
        final_val(1.0, 0, None),
        final_val(1.0, 1, None),
    ]
    part, dead = an.aggregate_cells(metrics)
    assert part.partial_diverged
    assert part.status == "ok"
    assert (part.n_seeds, part.n_used, part.n_diverged) == (3, 2, 1)
    assert part.mean == pytest.approx(0.5)
    # std of (0.4, 0.6) = sqrt(0.02); t table: t_{0.975}(1) = 12.706
    assert part.ci95 == pytest.approx(12.706 * math.sqrt(0.02) / math.sqrt(2), rel=1e-4)
    assert dead.status == "diverged"
    assert not dead.partial_diverged
    assert dead.n_used == 0
    assert dead.statuses.diverged == 2
    stats = ("mean", "std", "ci95", "median", "min", "max")
    assert all(math.isnan(getattr(dead, k)) for k in stats)


def test_aggregate_status_is_worst_live_seed() -> None:
    unstable = an.run_metrics(result(0.1, 1, [2.0, 0.5, 1.2, 0.4]))
    cell = an.aggregate_cells([final_val(0.1, 0, 0.4), unstable])[0]
    assert cell.status == "unstable"
    assert cell.statuses == an.StatusCounts(ok=1, unstable=1)
    assert cell.statuses.as_dict() == {"ok": 1, "slow": 0, "unstable": 1, "diverged": 0}


def test_aggregate_steps_to_target_counts_misses_as_inf() -> None:
    def run(lr: float, seed: int, hit_at: int | None) -> an.RunMetrics:
        # val loss reaches the target 0.5 at eval index hit_at (steps 10 * hit_at)
        val = [2.0, 1.0, 0.8, 0.6]
        if hit_at is not None:
            val[hit_at] = 0.4
        return an.run_metrics(result(lr, seed, val, val), target_loss=0.5)

    metrics = [run(0.01, 0, 2), run(0.01, 1, None), run(0.01, 2, 3)]
    metrics += [run(0.1, 0, 1), run(0.1, 1, 2), run(0.1, 2, 3)]
    metrics += [run(1.0, 0, None), run(1.0, 1, None)]
    a, b, c = an.aggregate_cells(metrics, "steps_to_target")
    # cell a: 20, inf, 30 -> median 30, mean inf; cell b: 10, 20, 30 -> median 20 = mean
    assert (a.median, a.mean, a.n_finite, a.score) == (30.0, math.inf, 2, 30.0)
    assert math.isnan(a.std)
    assert math.isnan(a.ci95)
    assert (b.median, b.mean, b.std) == (20.0, 20.0, 10.0)
    assert c.score == math.inf
    (best,) = an.best_per_row([a, b, c], "steps_to_target")
    assert best.best_lr == 0.1
    assert best.best_score == 20.0
    assert best.within_lrs == (0.1,)  # tolerance max(5 % of 20, 1e-3) = 1 step


def test_unknown_metric_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="one of final_val_loss"):
        an.aggregate_cells([], "val_los")


# ---------------------------------------------------------------- best lr and sensitivity
def cell(lr: float, mean: float, n_div: int = 0, ci: float = NAN, row: str = "r") -> an.Cell:
    """A hand-made cell of three seeds (best_per_row reads its score, mean, ci95, n_diverged)."""
    return an.Cell(
        row=(row,), task="t", optimizer="sgd", schedule="constant", row_label=row, lr=lr,
        metric="final_val_loss", n_seeds=3, n_used=3 - n_div, n_finite=3 - n_div,
        n_diverged=n_div, statuses=an.StatusCounts(ok=3 - n_div, diverged=n_div),
        status="diverged" if math.isnan(mean) else "ok", partial_diverged=0 < n_div < 3,
        mean=mean, std=NAN, ci95=ci, median=mean, min=mean, max=mean, score=mean,
    )  # fmt: skip


GRID = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]


def test_best_lr_and_band_for_a_loss() -> None:
    means = [0.31, 0.5, 0.305, 0.30, 0.31, 0.36, NAN]  # lr 1.0 diverged on every seed
    cells = [
        cell(lr, m, n_div=3 if math.isnan(m) else 0) for lr, m in zip(GRID, means, strict=True)
    ]
    (b,) = an.best_per_row(cells, "final_val_loss")
    assert (b.best_lr, b.best_mean, b.fallback) == (0.03, 0.30, False)
    # tolerance = max(0.05 * 0.30, 1e-3) = 0.015: within means <= 0.315
    assert b.tolerance == pytest.approx(0.015)
    assert b.within_lrs == (0.001, 0.01, 0.03, 0.1)
    assert b.n_within == 4
    # the contiguous band around 0.03 stops at 0.003 (0.5) and 0.3 (0.36)
    assert (b.band_lo, b.band_hi, b.band_points) == (0.01, 0.1, 3)
    assert b.band_decades == pytest.approx(1.0)
    assert b.band_x3 == pytest.approx(math.log(10) / math.log(3))
    assert b.edge is None  # 1.0 diverged but still belongs to the grid
    assert b.runner_up_lr == 0.01
    assert b.separated is None
    rows = an.summary_rows(cells, [b])
    assert [r["is_best"] for r in rows] == [lr == 0.03 for lr in GRID]
    assert [r["within_tolerance"] for r in rows] == [True, False, True, True, True, False, False]


def test_best_lr_for_accuracy_is_the_maximum() -> None:
    cells = [cell(0.01, 0.80), cell(0.1, 0.95), cell(1.0, 0.945), cell(10.0, 0.90)]
    (b,) = an.best_per_row(cells, "final_val_accuracy")
    assert b.best_lr == 0.1
    assert b.direction == "max"
    assert b.within_lrs == (0.1, 1.0)  # >= 0.95 - 0.01
    assert (b.band_lo, b.band_hi, b.edge) == (0.1, 1.0, None)


def test_edge_flags_and_ties() -> None:
    low = an.best_per_row([cell(0.01, 0.2), cell(0.1, 0.5), cell(1.0, 0.9)], "final_val_loss")
    high = an.best_per_row([cell(0.01, 0.9), cell(0.1, 0.5), cell(1.0, 0.2)], "final_val_loss")
    single = an.best_per_row([cell(0.1, 0.5)], "final_val_loss")
    assert (low[0].edge, high[0].edge, single[0].edge) == ("low", "high", "both")
    tie = an.best_per_row([cell(0.01, 0.9), cell(0.1, 0.4), cell(1.0, 0.4)], "final_val_loss")
    assert tie[0].best_lr == 0.1  # the smaller lr on ties


def test_cells_with_diverged_seeds_are_not_eligible() -> None:
    cells = [cell(0.01, 0.5), cell(0.1, 0.2, n_div=1), cell(1.0, 0.6)]
    (b,) = an.best_per_row(cells, "final_val_loss")
    assert b.best_lr == 0.01
    assert not b.fallback
    assert b.within_lrs == (0.01,)  # 0.2 at lr 0.1 is not counted either
    # ...unless every cell has a diverged seed
    cells = [cell(0.01, 0.5, n_div=1), cell(0.1, 0.2, n_div=2)]
    (b,) = an.best_per_row(cells, "final_val_loss")
    assert b.best_lr == 0.1
    assert b.fallback


def test_all_diverged_row() -> None:
    (b,) = an.best_per_row([cell(0.1, NAN, 3), cell(1.0, NAN, 3)], "final_val_loss")
    assert b.best_lr is None
    assert b.n_within == 0
    assert b.edge is None
    assert not b.fallback
    assert b.n_lrs == 2


def test_separation_of_best_and_runner_up() -> None:
    close = [cell(0.01, 0.30, ci=0.01), cell(0.1, 0.305, ci=0.01)]
    far = [cell(0.01, 0.30, ci=0.01), cell(0.1, 0.40, ci=0.01)]
    assert an.best_per_row(close, "final_val_loss")[0].separated is False  # 0.005 < 0.02
    assert an.best_per_row(far, "final_val_loss")[0].separated is True  # 0.1 > 0.02


def test_rows_are_kept_apart() -> None:
    cells = [cell(0.1, 0.3, row="a"), cell(0.1, 0.9, row="b"), cell(1.0, 0.2, row="b")]
    best = an.best_per_row(cells, "final_val_loss")
    assert [(b.row_label, b.best_lr) for b in best] == [("a", 0.1), ("b", 1.0)]


# ---------------------------------------------------------------- labels
def test_row_label_lists_non_default_params() -> None:
    spec = RunSpec(TASK, TRAIN, "adam", freeze({"betas": [0.9, 0.99], "eps": 1e-8}),
                   "cosine", freeze({"warmup": 0.05}), 0.01, 0)  # fmt: skip
    defaults = {"adam": {"betas": [0.9, 0.999], "eps": 1e-8}, "cosine": {"warmup": 0}}
    assert an.row_label(spec, defaults) == "adam(betas=[0.9, 0.99]) / cosine(warmup=0.05)"
    assert an.row_label(spec) == "adam(betas=[0.9, 0.99], eps=1e-08) / cosine(warmup=0.05)"
    same = RunSpec(TASK, TRAIN, "adam", freeze({"betas": [0.9, 0.999]}), "cosine", (), 0.1, 1)
    assert an.row_label(same, defaults) == "adam / cosine"
    assert an.row_key(spec) != an.row_key(same)
    assert an.row_key(same) == an.row_key(RunSpec(TASK, TRAIN, "adam", same.optimizer_params,
                                                  "cosine", (), 1.0, 7))  # fmt: skip


def test_registry_defaults() -> None:
    reg = {"sgd": Entry("sgd", "doc", (Param("momentum", 0.0), Param("nesterov", False, "bool")))}
    assert an.registry_defaults(reg) == {"sgd": {"momentum": 0.0, "nesterov": False}}


# ---------------------------------------------------------------- profile and end to end
def test_performance_profile_worked_example() -> None:
    # sweep-runners.md section 1.2: steps to target of A, B, C on three tasks, r_max = 4
    inf = math.inf
    times = {"A": {1: 100, 2: 300, 3: inf}, "B": {1: 150, 2: 200, 3: 400}, "C": {1: None, 2: 250, 3: 100}}  # fmt: skip
    prof = performance_profile(times)
    assert prof["A"].ratios == {1: 1.0, 2: 1.5, 3: inf}
    assert prof["B"].ratios == {1: 1.5, 2: 1.0, 3: 4.0}
    assert prof["A"].score == pytest.approx((3 + 2.5 + 0) / 9)
    assert prof["B"].score == pytest.approx((2.5 + 3 + 0) / 9)  # a ratio of exactly 4 earns 0
    assert prof["C"].score == pytest.approx((0 + 2.75 + 3) / 9)


def test_analyze_scores_a_performance_profile_across_tasks() -> None:
    # Hand-built: validation loss at steps 0, 10, 20, 30; target 1.0. Task A: sgd reaches it at
    # step 10, adam at 20; task B: sgd never, adam at 10. Ratios (AlgoPerf, r_max 4): A sgd 1,
    # adam 2; B sgd miss, adam 1. Scores: sgd (3 + 0) / 6 = 0.5, adam (2 + 3) / 6 = 5/6.
    other = TaskSpec("wine", "logreg")
    fast, slow, never = [2.0, 1.0, 0.5, 0.4], [2.0, 1.5, 1.0, 0.9], [2.0, 1.8, 1.6, 1.5]
    results = []
    for seed in (0, 1):
        results += [result(0.1, seed, fast), result(0.1, seed, slow, optimizer="adam")]
        for r in (result(0.1, seed, never), result(0.1, seed, fast, optimizer="adam")):
            results.append(dataclasses.replace(r, spec=dataclasses.replace(r.spec, task=other)))
    out = an.analyze(results, "final_val_loss", target_loss=1.0)
    assert list(out.profile) == ["adam / constant", "sgd / constant"]  # best score first
    adam, sgd = out.profile["adam / constant"], out.profile["sgd / constant"]
    assert sgd.ratios == {"digits/logreg": 1.0, "wine/logreg": math.inf}
    assert adam.ratios == {"digits/logreg": 2.0, "wine/logreg": 1.0}
    assert sgd.score == pytest.approx(0.5) and adam.score == pytest.approx(5 / 6)
    # no profile without a target, or with one task
    assert an.analyze(results, "final_val_loss").profile == {}
    one = [r for r in results if r.spec.task == TASK]
    assert an.analyze(one, "final_val_loss", target_loss=1.0).profile == {}


def test_analyze_end_to_end() -> None:
    results = []
    for seed in (0, 1):
        results += [
            result(0.01, seed, [2.0, 1.9, 1.8], [2.0, 1.9, 1.8 + 0.01 * seed]),  # slow
            result(0.1, seed, [2.0, 1.0, 0.5], [2.0, 1.0, 0.5 + 0.01 * seed]),  # best
            result(1.0, seed, [2.0, 50.0], [2.0, NAN], status="diverged"),
        ]
    out = an.analyze(results, "final_val_loss", target_loss=1.0)
    assert [r.status for r in out.runs] == ["slow", "ok", "diverged"] * 2
    assert [c.lr for c in out.cells] == [0.01, 0.1, 1.0]
    (b,) = out.best
    assert b.best_lr == 0.1
    assert b.best_mean == pytest.approx(0.505)
    assert b.edge is None
    assert b.best_n == 2
    assert out.summary[0]["n_slow"] == 2
    assert out.summary[1]["is_best"]
    assert set(out.summary[0]) == set(an.SUMMARY_COLUMNS)
    steps = an.analyze(results, "steps_to_target", target_loss=1.0)
    assert steps.best[0].best_score == 10.0  # val loss 1.0 at step 10 for lr 0.1
    times = profile_times(steps.best)
    assert times == {"sgd / constant": {"digits/logreg": 10.0}}
