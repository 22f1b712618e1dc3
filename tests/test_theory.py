"""The theory checks against independent references: the stability threshold of full-batch
gradient descent and heavy ball on least squares (2/L and 2(1+mu)/L with L from numpy's
eigvalsh of the explicit Hessian), the descent check on a planted rise, the lr scaling rules
(the formulas written out here), the fitted batch-size exponent (numpy's polyfit on data with a
known slope), the condition number of a generated design (numpy's cond), and the spec's run ids
(the values lrbench gave before these fields existed)."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from lrbench.config import load_config, validate
from lrbench.core.data import load_data
from lrbench.core.engine import train_group
from lrbench.core.models import MODELS
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.schedules import SCHEDULES
from lrbench.core.tasks import load_task_data
from lrbench.report.theory import theory_models
from lrbench.spec import RunSpec, registry_defaults
from lrbench.sweep import run as sweep_run
from lrbench.sweep.analysis import analyze
from lrbench.sweep.runinfo import descent_check
from lrbench.sweep.theory import fit_exponent, stability_rows

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def explicit_L(task) -> float:
    """The largest eigenvalue of the least-squares Hessian A.T A / n, A = [X 1]."""
    X = load_task_data(task).X_train
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    return float(np.linalg.eigvalsh(A.T @ A / A.shape[0])[-1])


@pytest.fixture(scope="module")
def stability():
    config = load_config(CONFIGS / "theory-stability.yaml")
    results = train_group(config.specs())
    task = config.tasks[0]
    two_over_l = 2.0 / explicit_L(task)
    return config, results, task, two_over_l


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_least_squares_threshold_is_the_bound_within_one_grid_step(stability, momentum):
    config, results, _, two_over_l = stability
    predicted = (1.0 + momentum) * two_over_l  # 2(1 + mu)/L, Polyak's heavy-ball bound
    mine = [r for r in results if dict(r.spec.optimizer_params).get("momentum", 0.0) == momentum]
    grid = sorted(r.spec.lr for r in mine)
    diverged = {r.spec.lr for r in mine if r.status == "diverged"}
    below = [lr for lr in grid if lr < predicted]
    above = [lr for lr in grid if lr > predicted]
    assert below and above  # the grid brackets the bound
    assert not diverged & set(below)  # every lr below the bound converges ...
    assert diverged == set(above)  # ... and every lr above it diverges
    # the observed threshold (largest stable, smallest diverged) is one grid step wide
    lo, hi = max(below), min(above)
    assert grid.index(hi) == grid.index(lo) + 1
    assert lo <= predicted <= hi


def test_the_report_states_both_thresholds_and_they_agree(stability):
    config, results, task, two_over_l = stability
    defaults = registry_defaults(MODELS, OPTIMIZERS, SCHEDULES)
    analysis = analyze(results, defaults=defaults, bounds={task: two_over_l})
    rows = stability_rows(analysis, {task: two_over_l}, {r.spec.run_id: 1 for r in results})
    by_label = {b.row_label: b for b in rows}
    assert set(by_label) == {"sgd / constant", "momentum(momentum=0.5) / constant"}
    gd, hb = by_label["sgd / constant"], by_label["momentum(momentum=0.5) / constant"]
    assert gd.predicted == pytest.approx(two_over_l, rel=1e-10)
    assert hb.predicted == pytest.approx(1.5 * two_over_l, rel=1e-10)
    assert (gd.largest_stable, gd.smallest_diverged) == (1.6, 1.62)
    assert (hb.largest_stable, hb.smallest_diverged) == (2.4, 2.42)
    assert gd.agrees and hb.agrees
    assert "exact" in gd.assumption and gd.formula == "2/L"
    assert hb.formula.startswith("2(1+mu)/L, mu=0.5")


def test_descent_check_passes_real_gradient_descent_and_flags_a_planted_rise(stability):
    _, results, _, two_over_l = stability
    gd = [r for r in results if r.spec.optimizer == "sgd"]
    below = [r for r in gd if r.spec.lr < two_over_l]
    assert below and all(descent_check(r, two_over_l) == (0, None) for r in below)
    run = next(r for r in below if r.spec.lr == 1.2)
    loss = run.log_loss.copy()
    loss[500] = loss[499] * 1.01  # the loss rises at step 500, then falls back
    planted = dataclasses.replace(run, log_loss=loss)
    assert descent_check(planted, two_over_l) == (1, 500)
    # checked only where the theory applies: not above the bound, not with momentum
    above = next(r for r in gd if r.spec.lr == 1.62)
    assert descent_check(above, two_over_l) == (None, None)
    hb = next(r for r in results if r.spec.optimizer == "momentum" and r.spec.lr == 1.2)
    assert descent_check(hb, two_over_l) == (None, None)
    # a wrong (too large) bound lets a diverging run be checked: the check flags it
    violations, first = descent_check(above, two_over_l * 1.05)
    assert violations and violations > 0 and first is not None


def test_descent_check_in_runs_csv_and_the_report(tmp_path):
    config = load_config(CONFIGS / "theory-stability.yaml", ["lr=[1.2,1.7]", "train.steps=50"])
    outcome = sweep_run.run(config, out=tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "runs.csv")
    got = {(r["optimizer"], r["lr"]): r["descent_violations"] for r in rows}
    assert got == {("sgd", "1.2"): "0", ("sgd", "1.7"): "", ("momentum(momentum=0.5)", "1.2"): "",
                   ("momentum(momentum=0.5)", "1.7"): ""}  # fmt: skip
    assert "first_rise_step" not in rows[0]  # no rise: the column is left out
    parts = [p for p in theory_models(outcome) if isinstance(p, str)]
    assert parts == [
        "descent check: 1 full-batch gradient-descent runs below 2/L on convex tasks; 0 with a "
        "rise of the training loss (none: as the descent lemma says)"
    ]


# ---------------------------------------------------------------- batch size
SCALING = {
    "tasks": [{"dataset": "iris", "model": "logreg"}],
    "train": {"steps": 2, "batch_size": [8, 32, 64, "full"]},
    "lr": [0.1, 0.3],
}


@pytest.mark.parametrize("rule", ["linear", "sqrt"])
def test_lr_scaling_rules_are_applied_exactly(rule):
    config = validate({**SCALING, "lr_scaling": {"rule": rule, "base_batch_size": 32}})
    specs = config.specs()
    assert len(specs) == 8
    n_train = 150 - math.ceil(0.2 * 150)  # iris: a full batch is the 120 training rows
    for s in specs:
        B = n_train if s.train.batch_size is None else s.train.batch_size
        want = s.base_lr * B / 32 if rule == "linear" else s.base_lr * math.sqrt(B / 32)
        assert s.lr == want  # exactly, bit for bit
        assert s.base_lr in (0.1, 0.3)
    assert {(s.train.batch_size, s.base_lr, s.lr) for s in specs if s.train.batch_size == 32} == {
        (32, 0.1, 0.1),
        (32, 0.3, 0.3),
    }


def test_no_scaling_keeps_the_grid_and_the_run_ids():
    plain = validate({**SCALING, "train": {"steps": 2, "batch_size": 32}})
    none_rule = validate({**SCALING, "train": {"steps": 2, "batch_size": 32},
                          "lr_scaling": {"rule": "none"}})  # fmt: skip
    assert [s.run_id for s in plain.specs()] == [s.run_id for s in none_rule.specs()]
    assert all(s.base_lr is None and s.lr in (0.1, 0.3) for s in none_rule.specs())
    d = plain.specs()[0].to_dict()
    assert "base_lr" not in d and "track" not in d["train"]  # new fields only when set
    # the run id of the quick start's first run, as lrbench computed it before these fields
    assert load_config(CONFIGS / "quickstart.yaml").specs()[0].run_id == "513080ec06af"
    scaled = validate({**SCALING, "lr_scaling": {"rule": "linear", "base_batch_size": 8}})
    for s in scaled.specs():
        assert RunSpec.from_dict(s.to_dict()) == s


def test_batch_grid_runs_csv_keeps_base_lr_and_lr(tmp_path):
    config = validate({**SCALING, "lr_scaling": {"rule": "linear", "base_batch_size": 32}})
    sweep_run.run(config, out=tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "runs.csv")
    assert len(rows) == 8
    for r in rows:
        B = 120 if r["batch_size"] == "full" else int(r["batch_size"])
        assert float(r["lr"]) == float(r["base_lr"]) * B / 32
        assert r["task"] == f"iris/logreg ({'full batch' if B == 120 else f'batch {B}'})"
    summary = read_csv(tmp_path / "out" / "summary.csv")
    assert len(summary) == 8  # one row per (task, batch size) and lr: nothing pooled


def test_fitted_exponent_on_synthetic_best_lrs_with_a_known_slope():
    B = [16, 64, 256, 1024]
    exact = [[0.01 * (b / 16) ** 0.7 for b in B]] * 3
    a, half, n = fit_exponent(B, exact)
    assert a == pytest.approx(0.7, abs=1e-12) and half == pytest.approx(0.0, abs=1e-12) and n == 3
    rng = np.random.default_rng(0)
    noisy = [[0.01 * (b / 16) ** 0.5 * math.exp(rng.normal(0, 0.2)) for b in B] for _ in range(5)]
    slopes = [np.polyfit(np.log(B), np.log(lrs), 1)[0] for lrs in noisy]  # numpy's reference
    a, half, n = fit_exponent(B, noisy)
    assert a == pytest.approx(np.mean(slopes), rel=1e-12) and n == 5
    assert half == pytest.approx(2.7764 * np.std(slopes, ddof=1) / math.sqrt(5), rel=1e-12)
    # a seed without two finite best lrs is left out; none at all gives NaN
    assert fit_exponent(B, [[math.nan, 0.1, math.nan, math.nan]]) == (
        pytest.approx(math.nan, nan_ok=True),
        None,
        0,
    )


# ---------------------------------------------------------------- conditioning
@pytest.mark.parametrize(
    ("dataset", "kappa"),
    [("regression", 1.0), ("regression", 30.0), ("regression", 1e4), ("classification", 100.0)],
)
def test_generated_design_has_the_requested_condition_number(dataset, kappa):
    task = "regression" if dataset == "regression" else "classification"
    params = {"n_samples": 300, "n_features": 8, "condition_number": kappa}
    X = load_data(dataset, params, task=task, target=None).X_train
    assert np.linalg.cond(X) == pytest.approx(kappa, rel=1e-9)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)  # still standardised
    np.testing.assert_allclose(X.std(axis=0), 1.0, rtol=1e-12)
    if dataset == "regression":  # the least-squares Hessian [[X.T X / n, 0], [0, 1]]: kappa**2
        A = np.hstack([X, np.ones((X.shape[0], 1))])
        w = np.linalg.eigvalsh(A.T @ A / A.shape[0])
        assert w[-1] / w[0] == pytest.approx(kappa**2, rel=1e-8)


def test_condition_number_is_left_out_of_specs_that_do_not_set_it():
    plain = validate(
        {"tasks": [{"dataset": "regression", "model": "linear"}], "train": {"steps": 1}}
    )
    assert "condition_number" not in dict(plain.tasks[0].dataset_params)
    grid = validate({"tasks": [{"dataset": "regression", "model": "linear",
                                "condition_number": [1, 10]}], "train": {"steps": 1}})  # fmt: skip
    assert [dict(t.dataset_params)["condition_number"] for t in grid.tasks] == [1, 10]
