"""Expectations: their validation at load time, and each kind measured on runs whose values are
set by hand, so the expected numbers are computed here by hand (and, for the interval formulas,
from a t table and the binomial distribution)."""

from __future__ import annotations

import math

import pytest

from lrbench.config import validate
from lrbench.errors import ConfigError
from lrbench.expect import Expectation
from lrbench.sweep.cells import RunFact, best_cell, cells, mean_interval, median_interval
from lrbench.sweep.expect import check

BASE = {
    "name": "t",
    "seeds": 2,
    "tasks": [{"dataset": "iris", "model": "logreg"}, {"dataset": "moons", "model": "mlp", "hidden": [8]}],
    "train": {"steps": 10},
    "lr": [0.01, 0.1],
    "optimizers": ["sgd", {"adam": {"betas": [0.9, 0.99]}}],
    "schedules": ["constant", "cosine"],
    "analysis": {"target": 0.5},
}  # fmt: skip


def load(*items) -> tuple[Expectation, ...]:
    return validate({**BASE, "expect": list(items)}).expect


def error_of(*items) -> str:
    with pytest.raises(ConfigError) as info:
        load(*items)
    return str(info.value)


# ---------------------------------------------------------------- declarations
def test_the_six_issue_examples_load_with_their_defaults():
    got = load(
        {"what": "metric", "metric": "final_val_accuracy", "at_least": 0.9},
        {"what": "metric", "task": "moons/mlp[8]", "optimizer": "adam", "at_least": 0.95,
         "name": "adam learns moons"},
        {"what": "best_lr", "optimizer": "adam", "between": [0.0001, 0.01]},
        {"what": "diverged_fraction", "optimizer": "sgd", "at_most": 0.25},
        {"what": "max_stable_lr", "optimizer": "sgd", "at_least": 0.1},
        {"what": "steps_to_target", "optimizer": "adam", "at_most": 400},
    )  # fmt: skip
    assert [e.what for e in got] == ["metric", "metric", "best_lr", "diverged_fraction",
                                     "max_stable_lr", "steps_to_target"]  # fmt: skip
    assert got[0].metric == "final_val_accuracy"
    assert got[2].metric == "final_val_loss"  # the config's analysis metric
    assert got[3].metric is None
    assert got[1].title == "adam learns moons"
    assert got[2].title == "best_lr by final_val_loss (optimizer=adam) in [0.0001, 0.01]"
    assert got[5].at_most == 400.0 and got[5].bound == "<= 400"


def test_filters_take_names_labels_and_dataset_model():
    got = load(
        {"what": "metric", "task": "iris", "at_most": 1},
        {"what": "metric", "task": "moons/mlp", "at_most": 1},
        {"what": "metric", "optimizer": "adam(betas=[0.9,0.99])", "at_most": 1},  # spaces free
        {"what": "metric", "schedule": "cosine", "at_most": 1},
    )
    assert len(got) == 4


def test_the_saved_config_keeps_the_expectations():
    cfg = validate({**BASE, "expect": [{"what": "best_lr", "between": [0.01, 1]}]})
    assert cfg.raw["expect"] == [
        {"what": "best_lr", "metric": "final_val_loss", "between": [0.01, 1.0]}
    ]
    assert validate(cfg.raw).expect == cfg.expect
    assert "expect" not in validate(BASE).raw  # no key added to configs without expectations


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"what": "metric", "optimizer": "adamm", "at_least": 0.1},
         "expect[0].optimizer: got 'adamm'; expected an optimizer of this config: sgd, adam, adam(betas=[0.9, 0.99]) (did you mean 'adam'?)"),
        ({"what": "metric", "task": "digits", "at_least": 0.1}, "expect[0].task: got 'digits'"),
        ({"what": "metric", "schedule": "step", "at_least": 0.1}, "expected a schedule of this config: constant, cosine"),
        ({"what": "best_lr"}, "expected exactly one of at_least, at_most, between"),
        ({"what": "best_lr", "at_least": 0.1, "at_most": 1}, "exactly one of"),
        ({"what": "best_lr", "between": [1, 0.1]}, "expect[0].between: got [1.0, 0.1]; expected [low, high] with low <= high"),
        ({"what": "best_lr", "between": [0.1]}, "expect[0].between"),
        ({"what": "best_lr", "at_least": 0}, "expect[0].at_least: got 0.0; expected a number > 0"),
        ({"what": "diverged_fraction", "at_most": 1.5}, "expected a number in [0, 1]"),
        ({"what": "diverged_fraction", "metric": "final_val_loss", "at_most": 0.5}, "no metric for what: diverged_fraction"),
        ({"what": "metric", "metric": "final_val_acc", "at_least": 0.5}, "did you mean 'final_val_accuracy'?"),
        ({"what": "best", "at_least": 0.5}, "expect[0].what: got 'best'"),
        ({"at_least": 0.5}, "expect[0].what: got null"),
        ({"what": "metric", "at_leest": 0.5}, "did you mean 'at_least'?"),
        ({"what": "metric", "at_least": "high"}, "expect[0].at_least: got 'high'"),
        ("metric >= 0.9", "expect[0]: got 'metric >= 0.9'; expected a mapping"),
    ],
)  # fmt: skip
def test_bad_expectations_name_the_key_value_and_what_is_allowed(item, message):
    assert message in error_of(item)


def test_steps_to_target_needs_a_target():
    raw = {**BASE, "analysis": {}, "expect": [{"what": "steps_to_target", "at_most": 5}]}
    with pytest.raises(ConfigError, match=r"expect\[0\].what: .*set analysis.target"):
        validate(raw)


def test_expect_must_be_a_list():
    with pytest.raises(ConfigError, match="expect: got"):
        validate({**BASE, "expect": {"what": "metric", "at_least": 0.1}})


def test_bounds_are_inclusive_and_a_missing_value_fails():
    e = Expectation("metric", between=(0.1, 0.2))
    assert e.holds(0.1) and e.holds(0.2) and not e.holds(0.2000001)
    assert Expectation("metric", at_least=0.5).holds(0.5)
    assert Expectation("metric", at_most=0.5).holds(0.5)
    assert not Expectation("metric", at_most=0.5).holds(None)
    assert not Expectation("metric", at_least=0.5).holds(math.nan)


# ---------------------------------------------------------------- interval formulas
def test_mean_interval_is_the_student_t_interval():
    # values 1, 2, 3, 6: mean 3, sample std sqrt(14/3); t(0.975, 3) = 3.1824 (t table)
    lo, hi = mean_interval([1.0, 2.0, 3.0, 6.0])
    half = 3.1824 * math.sqrt(14 / 3) / 2
    assert (lo, hi) == pytest.approx((3 - half, 3 + half), rel=1e-12)
    assert mean_interval([4.0]) is None
    assert mean_interval([1.0, math.inf]) is None


def test_median_interval_by_order_statistics():
    # n = 5: [min, max] covers 1 - 2/32 = 93.75 % < 95 %: no interval
    assert median_interval([5, 1, 4, 2, 3]) is None
    # n = 6..8: [min, max] (covers 1 - 2/2^n >= 96.9 %); the next pair covers < 95 %
    assert median_interval([6, 1, 5, 2, 4, 3]) == (1, 6)
    # n = 9: P(Bin(9, 1/2) <= 1) = 10/512, 2x = 0.039 <= 0.05, P(<= 2) = 46/512, 2x = 0.18:
    # [x_(2), x_(8)]
    assert median_interval(list(range(1, 10))) == (2, 8)
    # n = 17: P(<= 4) = 3214/131072, 2x = 0.049 <= 0.05: [x_(5), x_(13)]
    assert median_interval(list(range(1, 18))) == (5, 13)


# ---------------------------------------------------------------- evaluation by hand
ADAM = ("t/logreg", "adam", "constant")
SGD = ("t/logreg", "sgd", "constant")
NAMES = {ADAM: (("t/logreg", "t"), ("adam",), ("constant",)),
         SGD: (("t/logreg", "t"), ("sgd",), ("constant",))}  # fmt: skip


def fact(row, lr, seed, loss, status="ok", steps=math.nan, acc=math.nan) -> RunFact:
    values = {"final_val_loss": loss, "final_val_accuracy": acc, "steps_to_target": steps}
    return RunFact(row, lr, seed, status, values, NAMES[row])


# Two seeds. adam: lr 0.01 -> 0.30, 0.34; lr 0.1 -> 0.20, 0.26 (best); lr 1 -> one seed diverged.
# sgd: lr 0.01 -> 0.50, 0.52; lr 0.1 -> 0.40, 0.44; lr 1 -> both diverged.
RUNS = [
    fact(ADAM, 0.01, 0, 0.30, steps=40), fact(ADAM, 0.01, 1, 0.34, steps=60),
    fact(ADAM, 0.1, 0, 0.20, steps=10), fact(ADAM, 0.1, 1, 0.26, steps=30),
    fact(ADAM, 1.0, 0, 0.05, steps=5), fact(ADAM, 1.0, 1, math.nan, "diverged"),
    fact(SGD, 0.01, 0, 0.50), fact(SGD, 0.01, 1, 0.52),
    fact(SGD, 0.1, 0, 0.40, steps=80), fact(SGD, 0.1, 1, 0.44),
    fact(SGD, 1.0, 0, math.nan, "diverged"), fact(SGD, 1.0, 1, math.nan, "diverged"),
]  # fmt: skip


def run_check(**kw):
    return check(Expectation(**kw), RUNS)


def test_metric_is_the_best_eligible_cell_mean_with_its_t_interval():
    # adam lr 1 has a lower value (0.05) but a diverged seed: not eligible while others are
    r = run_check(what="metric", metric="final_val_loss", at_most=0.25)
    assert r.value == pytest.approx(0.23) and r.passed
    half = 12.7062 * math.sqrt(((0.2 - 0.23) ** 2 + (0.26 - 0.23) ** 2) / 1) / math.sqrt(2)
    assert r.interval == pytest.approx((0.23 - half, 0.23 + half))
    assert r.near_bound  # the interval holds 0.25: pass, but within noise
    assert "adam / constant at lr 0.1" in r.detail
    r = run_check(what="metric", metric="final_val_loss", optimizer="sgd", at_most=0.25)
    assert r.value == pytest.approx(0.42) and not r.passed


def test_best_lr_is_the_lr_of_that_cell():
    assert run_check(what="best_lr", metric="final_val_loss", between=(0.05, 0.2)).value == 0.1
    r = run_check(what="best_lr", metric="final_val_loss", optimizer="sgd", at_least=0.5)
    assert r.value == 0.1 and not r.passed and r.interval is None


def test_diverged_fraction_and_its_interval_over_seeds():
    r = run_check(what="diverged_fraction", at_most=0.25)
    assert r.value == pytest.approx(3 / 12) and r.passed  # 3 of 12 runs
    # per seed: seed 0 has 1 of 6 diverged, seed 1 has 2 of 6: mean 0.25, std sqrt(2)/12
    # (two seeds: t(0.975, 1) = 12.7062), clipped to [0, 1]
    half = 12.7062 * (math.sqrt(2) / 12) / math.sqrt(2)
    assert r.interval == pytest.approx((max(0.25 - half, 0), min(0.25 + half, 1)))
    assert half > 0.75  # so both ends were clipped
    r = run_check(what="diverged_fraction", optimizer="sgd", at_most=0.25)
    assert r.value == pytest.approx(2 / 6) and not r.passed


def test_max_stable_lr_is_the_largest_lr_without_a_diverged_run():
    r = run_check(what="max_stable_lr", at_least=0.1)
    assert r.value == 0.1 and r.passed  # lr 1 has diverged runs (adam seed 1, sgd)
    r = run_check(what="max_stable_lr", at_least=1.0)
    assert r.value == 0.1 and not r.passed
    assert "first lr with a diverged run: 1" in r.detail


def test_steps_to_target_is_the_best_cell_median_a_miss_counting_as_infinite():
    # adam: lr 0.01 median 50, lr 0.1 median 20, lr 1 has a diverged seed (inf) and is
    # not eligible; sgd: lr 0.1 reached by one seed only -> median inf
    r = run_check(what="steps_to_target", at_most=20)
    assert r.value == 20 and r.passed and r.interval is None  # two seeds: no median interval
    r = run_check(what="steps_to_target", optimizer="sgd", at_most=1000)
    assert r.value is None and not r.passed and "no cell reached" in r.detail


def test_a_filter_leaves_the_other_rows_out():
    assert run_check(what="metric", metric="final_val_loss", task="t", optimizer="adam",
                     at_most=1).value == pytest.approx(0.23)  # fmt: skip


def test_every_run_diverged_gives_no_value_and_fails():
    runs = [fact(SGD, 1.0, s, math.nan, "diverged") for s in (0, 1)]
    r = check(Expectation("metric", at_most=10, metric="final_val_loss"), runs)
    assert r.value is None and not r.passed and r.measured() == "no value"
    assert check(Expectation("max_stable_lr", at_least=0.1), runs).value is None


def test_best_cell_agrees_with_the_analysis_on_a_real_sweep(tmp_path):
    """The expectations' best cell is the analysis's best (same rule, same bits)."""
    from lrbench.sweep import run as sweep_run
    from lrbench.sweep.expect import runs_from

    cfg = validate({**BASE, "tasks": [BASE["tasks"][0]], "lr": [0.1, 1.0, 30.0]})
    outcome = sweep_run.run(cfg, out=tmp_path / "r", jobs=1)
    runs = runs_from(outcome.analysis)
    for b in outcome.analysis.best:
        row = (b.task, b.optimizer, b.schedule)
        best = best_cell(cells([r for r in runs if r.row == row], "final_val_loss"))
        assert (best.lr, best.mean) == (b.best_lr, b.best_mean)


def test_measured_text_keeps_six_digits_and_a_readable_interval():
    """The value in six significant digits, the interval in three with 'to' (a negative end of a
    loss's t interval would otherwise read as a range 'a–b' with a minus sign)."""
    from lrbench.sweep.expect import ExpectationResult

    e = Expectation("metric", at_most=0.1, metric="final_val_loss")
    r = ExpectationResult(e, True, 0.0118974123, (-0.000494346, 0.0242892), 3, "")
    assert r.measured() == "0.0118974 (95% CI -0.000494 to 0.0243)"
    assert ExpectationResult(e, True, 0.5, None, 1, "").measured() == "0.5"
