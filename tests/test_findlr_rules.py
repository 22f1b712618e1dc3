"""Issue 21: the raw-curve divergence rule, the stability cap and the trust report of find-lr.

References: the issue's own least-squares case (its CSV built here from its description),
hand-built curves with the stop step traced in the comments, the top eigenvalue of the
standardised design (numpy.linalg) for 2/L, and the spectral radius of the 2x2 iteration matrix
of PyTorch's SGD update on one eigen-direction (written out here from torch.optim.SGD's
formulas) for the momentum bounds. No expected number comes from running lrbench itself.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import validate
from lrbench.core.engine import train_group
from lrbench.core.tasks import load_task_data, optimizer_bound
from lrbench.finder import output
from lrbench.finder import run as finder
from lrbench.finder.divergence import NON_FINITE, RAW_ROSE, ROSE, detect_divergence, ema
from lrbench.finder.run import cap_suggestion
from lrbench.finder.settings import resolve
from lrbench.finder.suggest import Suggestion, ramp
from lrbench.finder.trust import clear_minimum, trust
from lrbench.report.findlr import suggestion_model

runner = CliRunner()


# ---------------------------------------------------------------- the issue's case


@pytest.fixture
def issue21_csv(tmp_path):
    """600 rows, 8 features with scales 1 .. 30, target = their sum + N(0, 0.1^2)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 8)) * np.linspace(1.0, 30.0, 8)
    y = X.sum(axis=1) + 0.1 * rng.standard_normal(600)
    path = tmp_path / "ls.csv"
    rows = [",".join([*(f"x{i}" for i in range(8)), "target"])]
    rows += [",".join(f"{v:.10g}" for v in (*r, t)) for r, t in zip(X, y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def two_over_l(task) -> float:
    """2 / lambda_max(A.T A / n), A = [X 1] on the standardised training rows (numpy)."""
    data = load_task_data(task)
    A = np.hstack([data.X_train, np.ones((data.X_train.shape[0], 1))])
    return 2.0 / np.linalg.eigvalsh(A.T @ A / A.shape[0])[-1]


def test_issue21_every_seed_sees_the_blow_up_and_nothing_exceeds_two_over_l(issue21_csv, tmp_path):
    args = ["find-lr", "--dataset", str(issue21_csv), "--target", "target", "--model", "linear"]
    args += ["--optimizer", "sgd", "--batch-size", "full", "--seeds", "3", "--no-plot", "-q"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o"), "--format", "json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)["results"][0]
    config = validate({"tasks": [{"dataset": str(issue21_csv), "target": "target",
                                  "model": "linear"}]})  # fmt: skip
    bound = two_over_l(config.tasks[0])
    assert res["n_train"] == 480
    assert res["stability_bound_2_over_L"] == pytest.approx(bound, rel=1e-10)
    # Every seed stops on the raw rule; the smoothed rule alone would not have fired: the
    # EMA of the probe loss is still below its first value where the raw loss blew up.
    assert [s["reason"] for s in res["stops"]] == [RAW_ROSE] * 3
    curve = [r for r in _csv(tmp_path / "o" / "curve.csv") if r["seed"] == "0"]
    probe = np.array([float(r["loss_probe_post"]) for r in curve])
    stop = res["stops"][0]["stop_step"]
    assert probe[stop] > 4 * probe[:stop].min() and probe[stop - 1] > 4 * probe[:stop].min()
    assert probe[stop] > 100 * probe[:stop].min()  # a blow-up (300-fold here), not noise
    assert ema(probe, 0.95)[stop] < probe[0]
    # Followed: minimum and range are no longer lower bounds; no "no divergence" warning.
    for m in ("minimum", "range"):
        assert res["methods"][m]["lower_bound_only"] is False
    assert not any("no divergence" in w for w in json.loads(result.stdout)["warnings"])
    # Capped: range's max_lr (lr at the minimum, past 2/L on this ramp) is lowered to 2/L.
    rng = res["methods"]["range"]
    assert rng["n_capped"] == 3 and rng["median"] == pytest.approx(bound, rel=1e-12)
    assert rng["base"]["median"] == pytest.approx(bound / 4, rel=1e-12)
    for m, agg in res["methods"].items():
        assert agg["max"] <= bound, m
        assert all(s["lr"] is None or s["lr"] <= bound for s in agg["per_seed"])
    assert res["stability_cap"]["lr"] == pytest.approx(bound, rel=1e-12)
    assert res["trust"]["diverged"] == 3 and res["trust"]["clear_minimum"] == 3


def _csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_issue_numbers_stop_at_the_second_high_step():
    # The issue's probe loss: 1494 for a while, down to 0.005, then 0.56, 56, 8224 in the last
    # three steps. Raw rule: 0.56 > 4 x 0.005 (step 97), 56 (step 98): two high steps -> 98.
    # The EMA (beta .95, seeded at 1494) stays far below its start: rule 2 never fires.
    x = np.concatenate([np.full(60, 1494.0), np.geomspace(1494.0, 0.005, 37), [0.56, 56, 8224]])
    assert x.size == 100
    assert ema(x, 0.95)[-1] < x[0]
    got = detect_divergence(x)
    assert (got.stopped, got.stop_step, got.reason) == (True, 98, RAW_ROSE)


def test_raw_rule_is_scale_free_and_causal():
    x = np.concatenate([np.geomspace(10.0, 0.01, 50), [0.01, 0.05, 0.5, 5.0]])
    stop = detect_divergence(x).stop_step
    assert stop == 52  # 0.05 > 4 x 0.01 at 51, 0.5 at 52
    for c in (1e-6, 1e6):
        assert detect_divergence(c * x).stop_step == stop
    assert detect_divergence(x[: stop + 1]).stop_step == stop
    assert detect_divergence(x[:stop]).stop_step is None


def test_momentum_oscillation_below_the_start_is_not_a_divergence():
    # Heavy-ball-like: down from 22 to 0.2, then swings 0.2 <-> 12 (below the start 22), then a
    # blow-up above it. Without momentum the first swing (12 > 4 x 0.2, two steps) is one.
    swing = [0.2, 3.0, 12.0, 3.0] * 5
    x = np.concatenate([np.geomspace(22.0, 0.2, 30), swing, [30.0, 200.0, 3e3]])
    plain = detect_divergence(x)
    assert (plain.stop_step, plain.reason) == (32, RAW_ROSE)
    # With momentum a high step must also be above 22. The last minimum (0.2 at 46) came after
    # rises of 11.8, so a rise must exceed 4 x 11.8: 30 (step 50) does not, 200 and 3000 do ->
    # step 52. The EMA crosses 22 at 52 too (about 6, 16, then 165): a tie, named for rule 2.
    heavy = detect_divergence(x, momentum=True)
    assert (heavy.stop_step, heavy.reason) == (52, ROSE)


def test_non_finite_still_stops_and_the_rule_switches_off():
    x = np.concatenate([np.geomspace(10.0, 0.01, 50), [0.05, math.inf]])
    assert detect_divergence(x, div_factor=None).reason == NON_FINITE
    assert detect_divergence(x).reason == NON_FINITE  # one high step is not enough


# ---------------------------------------------------------------- the cap


def test_cap_suggestion():
    s = Suggestion("range", 2.0, "max_lr", lower_bound_only=True, base_lr=0.5, index=7)
    got = cap_suggestion(s, 1.5, "2/L")
    assert (got.lr, got.base_lr, got.capped, got.lower_bound_only) == (1.5, 1.5 / 4, True, False)
    assert got.index == 7 and "capped at 2/L = 1.5 (was 2)" in got.reason
    low = Suggestion("minimum", 0.1, "x")
    assert cap_suggestion(low, 1.5) is low
    assert cap_suggestion(Suggestion("minimum", None, "none"), 1.5).lr is None
    assert cap_suggestion(s, None) is s


def _radius(lr: float, lam: float, mu: float, damp: float, nesterov: bool) -> float:
    """Spectral radius of one step of torch.optim.SGD on f = lam theta^2 / 2, state (theta, b):
    b' = mu b + (1-d) g, theta' = theta - lr b' (heavy ball), or theta' = theta - lr (g + mu b')
    (Nesterov, d = 0), with g = lam theta."""
    if nesterov:
        M = [[1 - lr * lam * (1 + mu), -lr * mu * mu], [lam, mu]]
    else:
        M = [[1 - lr * (1 - damp) * lam, -lr * mu], [(1 - damp) * lam, mu]]
    return float(np.max(np.abs(np.linalg.eigvals(np.array(M)))))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sgd", {}),
        ("momentum", {"momentum": 0.9}),
        ("momentum", {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1}),
        ("nesterov", {"momentum": 0.9, "nesterov": True}),
        ("nesterov", {"momentum": 0.3, "nesterov": True, "weight_decay": 0.05}),
    ],
)
def test_optimizer_bound_is_where_the_iteration_stops_contracting(name, params):
    L = 1.7
    got = optimizer_bound(2.0 / L, name, params)
    lam = L + params.get("weight_decay", 0.0)
    mu, d, nest = (
        params.get("momentum", 0.0),
        params.get("dampening", 0.0),
        bool(params.get("nesterov")),
    )
    lo, hi = 1e-6, 100.0  # bisection on radius(lr) = 1
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _radius(mid, lam, mu, d, nest) < 1.0 else (lo, mid)
    assert got == pytest.approx(lo, rel=1e-9)
    assert optimizer_bound(2.0 / L, "adam", {"betas": (0.9, 0.999)}) is None


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov"])
def test_full_batch_runs_converge_below_the_bound_and_diverge_above(name):
    raw = {"tasks": [{"dataset": "regression", "model": "linear", "n_samples": 300}],
           "optimizers": [name], "train": {"batch_size": "full", "steps": 600}}  # fmt: skip
    config = validate(raw)
    params = config.optimizers[0][1]
    bound = optimizer_bound(two_over_l(config.tasks[0]), name, params)
    config = validate({**raw, "lr": [0.8 * bound, 1.2 * bound]})
    below, above = train_group(config.specs())
    assert (
        below.status != "diverged" and below.eval_train_loss[-1] < 1e-3 * below.eval_train_loss[0]
    )
    assert above.status == "diverged"


def test_stability_cap_only_for_full_batch_gradient_methods():
    cap = finder.stability_cap(1.0, "momentum", {"momentum": 0.9}, None, 100)
    assert cap is not None and cap[0] == pytest.approx(1.9) and "heavy ball" in cap[1]
    assert finder.stability_cap(1.0, "sgd", {}, 100, 100)[0] == pytest.approx(1.0)  # batch = n
    assert finder.stability_cap(1.0, "sgd", {}, 32, 100) is None  # minibatches
    assert finder.stability_cap(None, "sgd", {}, None, 100) is None  # mlp: no 2/L
    assert finder.stability_cap(1.0, "adam", {"betas": (0.9, 0.999)}, None, 100) is None


def test_find_lr_caps_heavy_ball_at_its_bound():
    # Full-batch least squares, momentum 0.5: 2(1+mu)/L = 3/L; on a ramp to 100 range's minimum
    # lies past it, so range is capped there and no other value exceeds it.
    config = validate({"tasks": [{"dataset": "regression", "model": "linear", "n_samples": 300}],
                       "optimizers": [{"momentum": {"momentum": 0.5}}],
                       "train": {"batch_size": "full"}})  # fmt: skip
    bound = 1.5 * two_over_l(config.tasks[0])
    outcome = finder.run(config, resolve(start_lr=1e-3, end_lr=100.0, seeds=2))
    pair = outcome.pairs[0]
    assert pair.cap == pytest.approx(bound, rel=1e-10) and "heavy ball" in pair.cap_rule
    assert pair.aggregates["range"]["n_capped"] == 2
    assert pair.aggregates["range"]["median"] == pytest.approx(bound, rel=1e-12)
    for agg in pair.aggregates.values():
        assert agg["max"] is None or agg["max"] <= pair.cap
    for s in pair.mean_suggestions.values():
        assert s.lr is None or s.lr <= pair.cap


# ---------------------------------------------------------------- the trust report


def test_clear_minimum():
    lrs = ramp(1e-4, 10.0, 60)
    x = np.log(lrs)
    dip = (x - np.log(0.1)) ** 2  # a bottom at 0.1, inside
    stop = 55
    assert clear_minimum(dip, stop_step=stop, window=5, skip_start=5, skip_end=3)
    assert not clear_minimum(dip, stop_step=None, window=5, skip_start=5, skip_end=3)  # no stop
    falling = -x  # lowest at the last usable point: the edge of the range, not a bottom
    assert not clear_minimum(falling, stop_step=stop, window=5, skip_start=5, skip_end=3)


def test_trust_report_in_summary_and_caption(tmp_path):
    # digits/logreg with batch 32 and 20 epochs: 1437 rows -> 45 steps an epoch, 900 steps;
    # the range test runs 40.
    raw = {"name": "t", "tasks": [{"dataset": "digits", "model": "logreg"}],
           "optimizers": ["sgd"], "train": {"batch_size": 32, "epochs": 20}}  # fmt: skip
    outcome = finder.run(validate(raw), resolve(num_iter=40, seeds=2, skip_start=5))
    t = trust(outcome.pairs[0], outcome)
    assert t["range_test"] == {"batch_size": 32, "steps": 40}
    assert t["sweep"] == {"batch_size": 32, "steps": 900, "epochs": 20}
    assert t["same_setup"] is False
    assert any("900 steps (20 epochs)" in n for n in t["notes"])
    assert t["n_seeds"] == 2 and 0 <= t["clear_minimum"] <= 2
    summary = output.summary(outcome)
    assert summary["results"][0]["trust"]["sweep"]["steps"] == 900
    caption = "\n".join(suggestion_model(outcome.pairs[0], outcome).notes)
    assert "trust: seed spread" in caption and "the proposed sweep trains 900 steps" in caption


# ---------------------------------------------------------------- the budget of a normalised step


def test_the_budget_is_the_sweeps_steps_closed_form():
    # find-lr's budget is the config's training run as a sweep counts it (Config.train_spec):
    # steps as given; else epochs x ceil(n_train / batch). digits: 1437 training rows (80 %
    # of 1797, stratified), 20 x ceil(1437 / 32) = 20 x 45; full batch: one step an epoch.
    digits = [{"dataset": "digits", "model": "logreg"}]
    cases = [({"steps": 200, "epochs": 20}, 200), ({"epochs": 20, "batch_size": 32}, 900),
             ({"epochs": 3, "batch_size": "full"}, 3)]  # fmt: skip
    for train, steps in cases:
        config = validate({"name": "b", "tasks": digits, "optimizers": ["adam"], "train": train})
        assert config.train_spec(config.tasks[0]).steps == steps


def test_find_lr_knee_uses_the_budget_only_for_a_normalised_step():
    # iris: 120 training rows, batch 16, 30 epochs -> T = 30 x 8 = 240 steps. Each seed's knee
    # k is recomputed here from its curve (smooth_usable + knee_index); sgd gets lrs[k] / 4,
    # adam the geometric mean of lrs[k] / 4 and sum(lrs[0..k]) / 240 (written out).
    from lrbench.finder.suggest import knee_index, smooth_usable

    config = validate({
        "name": "b", "seeds": 1, "tasks": [{"dataset": "iris", "model": "logreg"}],
        "optimizers": ["sgd", "adam"], "train": {"epochs": 30, "batch_size": 16},
    })  # fmt: skip
    st = resolve(seeds=2)
    outcome = finder.run(config, st)
    lrs = outcome.lrs
    for pair in outcome.pairs:
        for s in pair.seeds:
            curve = smooth_usable(s.probe_post, stop_step=s.divergence.stop_step, window=5)
            end = int(np.flatnonzero(np.isfinite(curve))[-1]) + 1 - st.skip_end
            k = st.skip_start + knee_index(curve[st.skip_start : end])
            got = s.suggestions["knee"]
            assert got.index == k
            upper = lrs[k] / 4
            if pair.optimizer == "sgd":
                assert got.lr == pytest.approx(upper, rel=1e-12)
            else:
                floor = sum(float(v) for v in lrs[: k + 1]) / 240
                assert floor < upper
                assert got.lr == pytest.approx(math.sqrt(upper * floor), rel=1e-12)
        expected = "minimum" if pair.optimizer == "sgd" else "knee"  # the default, auto
        assert pair.recommended == pair.aggregates[expected]["median"]
    # summary.json and the caption say which budget the lower bound used, for adam only.
    from lrbench.report.findlr_tables import caption

    data = output.summary(outcome)
    assert [r["knee_budget_steps"] for r in data["results"]] == [None, 240]
    lines = [caption(r, data["settings"]) for r in data["results"]]
    assert not any("lower bound, sum(ramp lrs" in line for line in lines[0])
    assert any("the 240-step run's lower bound" in line for line in lines[1])
