"""The LR range test's engine-based parts (lrbench.finder.run), its settings (checked once, by
lrbench.finder.settings.resolve) and its outputs (lrbench.finder.output).

References: the closed form of gradient descent on least squares (eigendecomposition of the
augmented design, computed here with numpy.linalg), the descent lemma and the 2/L stability
bound (reference/lr-finder.md §8, "Tests" 2, 3, 5 and 9), and hand-built synthetic curves for
the cross-seed flags. No expected number comes from running lrbench itself.
"""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest

from lrbench.config import load_config, validate
from lrbench.core.tasks import load_task_data
from lrbench.errors import ConfigError
from lrbench.finder import output
from lrbench.finder import run as finder
from lrbench.finder.divergence import NO_DIVERGENCE, Divergence
from lrbench.finder.settings import resolve
from lrbench.finder.suggest import ramp, suggest

LS_TASK = {"dataset": "regression", "model": "linear", "n_samples": 300, "n_features": 8}


def ls_config(batch_size: object = "full"):
    return validate(
        {
            "name": "ls",
            "tasks": [LS_TASK],
            "optimizers": ["sgd"],
            "train": {"batch_size": batch_size},
        }
    )


def ls_quantities(config):
    """Eigenvalues, eigenvectors, theta* and f* of 0.5*mean((A theta - y)^2), A = [X 1]."""
    data = load_task_data(config.tasks[0])
    A = np.hstack([data.X_train, np.ones((data.X_train.shape[0], 1))])
    y = np.asarray(data.y_train, dtype=np.float64)
    lam, V = np.linalg.eigh(A.T @ A / A.shape[0])
    theta, *_ = np.linalg.lstsq(A, y, rcond=None)
    f_star = 0.5 * np.mean((A @ theta - y) ** 2)
    return lam, V, theta, f_star, A.shape[0]


def closed_form(lrs, lam, V, theta, f_star, post: bool):
    """f(w_t) = f* + 0.5 sum_i lam_i c_i^2 prod_s (1 - eta_s lam_i)^2, c = V.T (w_0 - theta*),
    w_0 = 0; the product runs over s <= t after update t (post) and s < t before it (pre)."""
    c = V.T @ (-theta)
    factors = (1.0 - np.outer(lrs, lam)) ** 2  # (T, d+1)
    prod = np.cumprod(factors, axis=0)
    if not post:
        prod = np.vstack([np.ones(lam.size), prod[:-1]])
    return f_star + 0.5 * (prod * (lam * c**2)).sum(axis=1)


def test_full_batch_least_squares_curves_match_the_closed_form():
    # Probe size >= n_train: the probe is the whole training set in order, i.e. f(w_{t+1}).
    config = ls_config("full")
    lam, V, theta, f_star, n = ls_quantities(config)
    st = resolve(start_lr=1e-3, end_lr=3.0, num_iter=60, seeds=2, probe_size=10**6)
    outcome = finder.run(config, st)
    lrs = ramp(1e-3, 3.0, 60)
    np.testing.assert_array_equal(outcome.lrs, lrs)
    pair = outcome.pairs[0]
    assert (pair.n_train, pair.probe_size) == (n, n)
    post = closed_form(lrs, lam, V, theta, f_star, post=True)
    pre = closed_form(lrs, lam, V, theta, f_star, post=False)
    for s in pair.seeds:
        assert s.rows == 60
        np.testing.assert_allclose(s.probe_post, post, rtol=1e-9, atol=0)
        np.testing.assert_allclose(s.batch_pre, pre, rtol=1e-9, atol=0)


@pytest.mark.parametrize(("batch_size", "end_lr"), [("full", 1e3), (32, 10.0)])
def test_suggestions_are_below_two_over_L_on_least_squares(batch_size, end_lr):
    # L = lambda_max(A.T A / n) (numpy.linalg here); plain SGD, 5 seeds, the default rules.
    config = ls_config(batch_size)
    lam, *_ = ls_quantities(config)
    bound = 2.0 / lam[-1]
    outcome = finder.run(config, resolve(start_lr=1e-4, end_lr=end_lr, seeds=5))
    pair = outcome.pairs[0]
    assert pair.bound == pytest.approx(bound, rel=1e-12)
    for s in pair.seeds:
        assert s.divergence.stopped
        minimum, steepest = s.suggestions["minimum"], s.suggestions["steepest"]
        base = s.suggestions["range"].base_lr
        assert minimum.lr is not None and steepest.lr is not None and base is not None
        assert max(minimum.lr, steepest.lr, base) < bound
    assert pair.recommended < bound


def test_below_two_over_L_nothing_diverges_and_minimum_is_a_lower_bound():
    # Descent lemma: with every eta_t < 2/L full-batch GD never increases the loss, so the rise
    # rule (which needs s_t > s_0) cannot fire and no loss is non-finite.
    config = ls_config("full")
    lam, *_ = ls_quantities(config)
    end = 0.9 * 2.0 / lam[-1]
    outcome = finder.run(config, resolve(start_lr=1e-4, end_lr=end, num_iter=50, seeds=2))
    pair = outcome.pairs[0]
    for s in pair.seeds:
        assert np.all(np.diff(s.probe_post) <= 1e-12 * s.probe_post[:-1])
        assert s.divergence == Divergence(False, None, NO_DIVERGENCE)
    assert pair.n_stopped == 0
    assert pair.aggregates["minimum"]["lower_bound_only"]
    assert pair.aggregates["range"]["lower_bound_only"]
    assert pair.aggregates["knee"]["lower_bound_only"]  # the knee may lie beyond end_lr too
    (warning,) = [w for w in outcome.warnings if "no divergence in range" in w]
    assert warning.endswith("knee, minimum and range are lower bounds (raise --end-lr)")


def test_full_batch_seeds_agree_and_the_mean_curve_gives_the_same_answer():
    # Zero init and full batch: every seed runs the same arithmetic, so the spread is zero.
    outcome = finder.run(ls_config("full"), resolve(start_lr=1e-4, end_lr=1e3, seeds=3))
    pair = outcome.pairs[0]
    for m in ("knee", "minimum", "steepest", "valley", "range"):
        agg = pair.aggregates[m]
        assert agg["n"] == 3 and agg["min"] == agg["max"] == agg["median"]
        assert agg["sd_log10"] == pytest.approx(0.0, abs=1e-12) and agg["unstable"] is False
        assert pair.mean_suggestions[m].lr == agg["median"]
    assert pair.recommended == pair.aggregates["minimum"]["median"]


def test_auto_recommends_knee_for_the_adam_family_and_minimum_otherwise():
    # The rule as documented (README, --suggest): Adam, AdamW, AMSGrad, NAdam -> knee; the rest,
    # RMSprop and Adagrad included, -> minimum; a method named explicitly is used as given.
    for opt in ("adam", "adamw", "amsgrad", "nadam"):
        assert finder.recommended_method("auto", opt) == "knee"
    for opt in ("sgd", "momentum", "nesterov", "rmsprop", "adagrad"):
        assert finder.recommended_method("auto", opt) == "minimum"
    assert finder.recommended_method("steepest", "adam") == "steepest"
    config = validate(
        {"name": "two", "tasks": [{"dataset": "iris", "model": "logreg"}],
         "optimizers": ["sgd", "adam"], "train": {"epochs": 2}}
    )  # fmt: skip
    outcome = finder.run(config, resolve(seeds=2))
    methods = {p.optimizer: p.method for p in outcome.pairs}
    assert methods == {"sgd": "minimum", "adam": "knee"}
    for p in outcome.pairs:  # the recommendation is that method's cross-seed median, everywhere
        assert p.recommended == p.aggregates[p.method]["median"]
    results = output.summary(outcome, None, None)["results"]
    assert [r["recommended"]["method"] for r in results] == ["minimum", "knee"]
    assert [r["trust"]["method"] for r in results] == ["minimum", "knee"]
    from lrbench.report.findlr_tables import caption  # the line under the table says why

    settings = output.summary(outcome, None, None)["settings"]
    first = [caption(r, settings)[0] for r in results]
    assert first[0].endswith("of minimum (--suggest auto: minimum outside the Adam family)")
    assert first[1].endswith("of knee (--suggest auto: knee for the Adam family)")
    rows = output.suggestion_rows(outcome)
    flagged = {(r["optimizer"], r["method"]) for r in rows if r.get("recommended")}
    assert flagged == {("sgd", "minimum"), ("adam", "knee")}


def test_same_settings_same_bits_and_no_global_rng_touched():
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (the global RNG)
    config = validate({"name": "c", "tasks": [{"dataset": "iris", "model": "mlp", "hidden": [8]}]})
    st = resolve(num_iter=40, seeds=3, skip_start=5)
    a = output.curve_rows(finder.run(config, st))
    b = output.curve_rows(finder.run(config, st))
    assert len(a) == len(b) > 0
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for k in ra:
            same = ra[k] == rb[k] or (np.isnan(ra[k]) and np.isnan(rb[k]))
            assert same, (k, ra[k], rb[k])
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert random.getstate() == py_state


def test_probe_rows():
    # Every row in order at or above n_train; else distinct sorted rows, fixed per seed.
    np.testing.assert_array_equal(finder.probe_rows(50, 50, 3), np.arange(50))
    np.testing.assert_array_equal(finder.probe_rows(50, 1024, 3), np.arange(50))
    rows = finder.probe_rows(1000, 100, 7)
    assert rows.size == 100 and np.unique(rows).size == 100
    assert rows.min() >= 0 and rows.max() < 1000 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, finder.probe_rows(1000, 100, 7))
    assert not np.array_equal(rows, finder.probe_rows(1000, 100, 8))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"num_iter": 22}, "--num-iter"),  # 10 + 3 + 10 = 23 needed
        ({"skip_start": 50, "num_iter": 60}, "--num-iter"),
        ({"num_iter": 2.5}, "--num-iter"),
        ({"num_iter": True}, "--num-iter"),
        ({"start_lr": 0.0}, "--start-lr"),
        ({"start_lr": -1.0}, "--start-lr"),
        ({"start_lr": math.nan}, "--start-lr"),
        ({"start_lr": "1e-3"}, "--start-lr"),
        ({"end_lr": 1e-7}, "--end-lr"),
        ({"end_lr": 1e-6}, "--end-lr"),  # equal to start_lr
        ({"end_lr": math.inf}, "--end-lr"),
        ({"mode": "log"}, "--mode"),
        ({"curve": "val"}, "--curve"),
        ({"suggest": "slide"}, "--suggest"),
        ({"seeds": 0}, "--seeds"),
        ({"probe_size": 0}, "--probe-size"),
        ({"div_factor": 1.0}, "--div-factor"),
        ({"div_factor": 0.5}, "--div-factor"),
        ({"div_factor": math.inf}, "--div-factor"),
        ({"smooth_beta": 1.0}, "--smooth-beta"),
        ({"smooth_beta": -0.1}, "--smooth-beta"),
        ({"smooth_beta": math.nan}, "--smooth-beta"),
        ({"smooth_window": 4}, "--smooth-window"),
        ({"smooth_window": 2}, "--smooth-window"),
        ({"smooth_window": 0}, "--smooth-window"),
        ({"smooth_window": -1}, "--smooth-window"),
        ({"smooth_window": True}, "--smooth-window"),
        ({"loss_floor": math.nan}, "--loss-floor"),
        ({"skip_start": -1}, "--skip-start"),
        ({"skip_end": -1}, "--skip-end"),
        ({"min_div": 0.0}, "--min-div"),
        ({"min_div": math.inf}, "--min-div"),
        ({"sugest": "minimum"}, "--sugest"),  # an unknown setting
    ],
)
def test_bad_settings_raise_config_errors(changes, path):
    # Each bad value is caught where it comes in, named by its flag (the numeric code in
    # lrbench.finder.suggest checks nothing again).
    with pytest.raises(ConfigError) as info:
        resolve(**changes)
    assert info.value.path == path


def test_settings_messages_name_the_flag_the_value_and_what_is_allowed():
    # The config's wording (lrbench.params.Param.allowed) for a single value; the rules that tie
    # two settings together say which.
    cases = [
        ({"mode": "log"}, "--mode: got 'log'; expected one of exp, linear"),
        ({"smooth_window": 4}, "--smooth-window: got 4; expected an odd integer >= 1"),
        ({"smooth_beta": 1.0}, "--smooth-beta: got 1.0; expected a number in [0, 1)"),
        ({"end_lr": 1e-7}, "--end-lr: got 1e-07; expected a number > --start-lr 1e-06"),
        ({"num_iter": 22}, "--num-iter: got 22; expected an integer >= skip_start + skip_end + 10 = 23"),
        ({"suggest": "minimun"}, "--suggest: got 'minimun'; expected one of auto, knee, minimum, steepest, valley, range (did you mean 'minimum'?)"),
    ]  # fmt: skip
    for changes, message in cases:
        with pytest.raises(ConfigError) as info:
            resolve(**changes)
        assert str(info.value) == message


def test_resolve_fills_defaults_and_no_stop_div_turns_the_rise_rule_off():
    # Defaults as documented in the README's option table; None means "not given".
    st = resolve(smooth_window=None)
    assert (st.start_lr, st.end_lr, st.num_iter, st.mode, st.curve) == (
        1e-6,
        10.0,
        100,
        "exp",
        "probe",
    )
    assert (st.seeds, st.probe_size, st.smooth_beta, st.smooth_window) == (5, 1024, 0.95, None)
    assert (st.div_factor, st.loss_floor, st.skip_start, st.skip_end) == (4.0, 0.0, 10, 3)
    assert (st.suggest, st.min_div, st.window()) == ("auto", 4.0, 5)
    assert resolve(stop_div=False).div_factor is None
    assert resolve(num_iter=13, skip_start=0, skip_end=3).num_iter == 13  # 0 + 3 + 10
    assert isinstance(resolve(start_lr=1).start_lr, float)  # an integer is a number
    assert (
        resolve(smooth_window=3.0).smooth_window == 3
    )  # a whole float is an integer (as in the config)


def test_settings_warnings():
    # exp: (N-1)/decades points per decade; 99/7 = 14.1 is fine, 29/7 = 4.1 is not.
    assert resolve().warnings() == []
    assert "points per decade" in resolve(num_iter=30).warnings()[0]
    # linear over more than one decade (Smith: keep it within one order of magnitude)
    assert resolve(mode="linear", start_lr=0.01, end_lr=0.1).warnings() == []
    assert "linear" in resolve(mode="linear", start_lr=0.01, end_lr=1.0).warnings()[0]


def _synthetic_seed(lrs, x0, x1):
    """a - b tanh((x - x0)/s) + c exp(k (x - x1)) over x = ln(lr): a descent centred at e^x0,
    a blow-up around e^x1 (hand-built, §8 "Tests" 6)."""
    x = np.log(lrs)
    loss = 2.0 - 1.0 * np.tanh((x - x0) / 0.5) + 0.05 * np.exp(3.0 * (x - x1))
    sugg = {
        m: suggest(lrs, loss, m, stop_step=None, skip_start=10, skip_end=3)
        for m in ("knee", "minimum", "steepest", "valley", "range")
    }
    return finder.SeedCurve(0, loss, loss, lrs.size, Divergence(False, None, NO_DIVERGENCE), sugg)


@pytest.mark.parametrize(("x0", "disagree"), [(math.log(1e-5), True), (math.log(3e-2), False)])
def test_methods_disagree_flag(x0, disagree):
    # minimum = lr at the minimum (a little below e^x1 = 1) / 4 ~ 0.1; steepest ~ e^x0.
    lrs = ramp(1e-7, 10.0, 200)
    seeds = [_synthetic_seed(lrs, x0, 0.0) for _ in range(2)]
    pair = finder.PairResult(ls_config().tasks[0], "sgd", {}, "sgd", None, 10, 10, None, seeds)
    finder._analyse(pair, lrs, resolve(num_iter=200), None)
    steep, low = pair.aggregates["steepest"]["median"], pair.aggregates["minimum"]["median"]
    assert steep == pytest.approx(math.exp(x0), rel=0.1)
    assert (max(steep, low) / min(steep, low) > 10) is disagree
    assert pair.methods_disagree is disagree


def test_sweep_command_round_trips_through_the_config(tmp_path):
    # 3x grid around r: [r/3, r, 3r]; YAML 1.1 needs a dot in 1.0e-05 to read a float.
    assert output.lr_grid([0.01]) == pytest.approx([0.01 / 3, 0.01, 0.03])
    assert output.lr_grid([0.01, 0.1]) == pytest.approx([0.01 / 3, 0.01, 0.03, 0.09, 0.27])
    assert output.yaml_number(1e-5) == "1.0e-05"
    assert output.yaml_number(0.0123456) == "0.0123"
    path = tmp_path / "c.yaml"
    path.write_text("tasks: [{dataset: iris, model: logreg}]\n")
    assert load_config(path, ["lr=0.05"]).lrs == (0.05,)  # a scalar lr is accepted
    outcome = finder.Outcome(ls_config(), resolve(), np.ones(1), [], [])
    outcome.pairs = [
        finder.PairResult(
            ls_config().tasks[0], "sgd", {}, "sgd", None, 1, 1, None, [], recommended=r
        )
        for r in (1.5e-5, 2e-4)
    ]
    import shlex

    argv = shlex.split(output.sweep_command(outcome, path, ["seeds=2"]))
    assert argv[:3] == ["lrbench", "sweep", str(path)]
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert sets[0] == "seeds=2"
    cfg = load_config(path, sets)
    expected = [float(f"{v:.3g}") for v in (5e-6, 1.5e-5, 4.5e-5, 1.35e-4, 4.05e-4)]
    assert list(cfg.lrs) == pytest.approx(expected, rel=1e-12)
    assert cfg.seeds == (0, 1)


def test_batch_curve_lags_the_probe_curve_by_one_step():
    # Full batch: loss_batch_pre[t + 1] = f(w_{t+1}) = loss_probe_post[t] (closed form above), so
    # reading --curve batch moves the stop and the minimum/steepest points one rung later.
    config = ls_config("full")
    st = resolve(start_lr=1e-4, end_lr=1e3, seeds=1)
    probe = finder.run(config, st).pairs[0].seeds[0]
    batch = finder.run(config, dataclasses.replace(st, curve="batch")).pairs[0].seeds[0]
    assert probe.divergence.stop_step is not None
    assert batch.divergence.stop_step == probe.divergence.stop_step + 1
    for m in ("minimum", "steepest"):
        assert batch.suggestions[m].index == probe.suggestions[m].index + 1
