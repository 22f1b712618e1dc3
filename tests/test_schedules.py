"""Tests for lrbench.core.schedules.

References: torch.optim.lr_scheduler (stored fixtures from tests/make_torch_fixtures_schedules.py,
and live when torch is importable), the test vectors of schedules-optimizers.md §4 (produced by
torch 2.14.1, Keras 3.15.1, flax; hard-coded below), hand computation and closed forms.

torch 2.13 (the venv) agrees with every §4 vector used here. Rounding only: the notes print the
OneCycleLR momentum to 3-4 decimals (.855 is .854952). The warmup convention differs from the
flax/Keras vectors before ``t = w`` (they ramp ``t/w`` from 0; we ramp ``(t+1)/w``, like
torch SequentialLR(LinearLR(1/w, 1, w-1), ...)), so only ``t >= w`` is compared there.

Measured against torch 2.13, beyond the notes: (1) the notes bound closed vs recursive
CosineAnnealingLR by 2.3e-14 over 1000 steps; with eta_min > 0 over several periods the gap grows
(4e-13 at T_max=1000, 3000 steps), still inside rtol 1e-12. (2) A LinearLR warmup in SequentialLR
before OneCycleLR ramps from max_lr/div_factor, not from the optimizer's lr (OneCycleLR overwrites
``initial_lr`` and LinearLR is recursive), so the OneCycleLR warmup reference uses LambdaLR.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrbench.core import schedules as S
from lrbench.errors import ConfigError
from lrbench.params import to_steps

HERE = Path(__file__).parent
FIXTURE = json.loads((HERE / "fixtures" / "schedules_torch.json").read_text())


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_torch_fixtures_schedules", HERE / "make_torch_fixtures_schedules.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables(name, params, lr, steps):
    p = S.resolve_schedule(name, params, "schedules[0]." + name)
    return S.lr_table(name, p, lr, steps), S.momentum_table(name, p, steps)


def _plateau_lrs(params, lr, metrics):
    """Our tracker fed one metric per evaluation (after t = 1, 2, ... updates)."""
    p = S.resolve_schedule("plateau", params, "p")
    tracker = S.PlateauTracker([p], np.array([lr]), len(metrics) + 1)
    out = []
    for t, m in enumerate(metrics, start=1):
        tracker.observe(np.array([m]), t)
        out.append(float(tracker.lr(t)[0]))
    return out


# 1. Every schedule against torch ------------------------------------------------------------


def test_fixtures_cover_every_closed_form_schedule():
    names = {c["name"] for c in FIXTURE["schedules"]}
    assert names == set(S.SCHEDULES) - {"plateau"}
    assert any(c["warmup_steps"] for c in FIXTURE["schedules"] if c["name"] == "onecycle")


@pytest.mark.parametrize(
    "case",
    FIXTURE["schedules"],
    ids=[f"{c['name']}-{i}" for i, c in enumerate(FIXTURE["schedules"])],
)
def test_matches_stored_torch(case):
    # torch (stored): recursive LRScheduler values; closed forms agree to rtol 1e-12.
    lrs, moms = _tables(case["name"], case["params"], case["lr"], case["steps"])
    assert lrs.shape == (case["steps"],) and lrs.dtype == np.float64
    np.testing.assert_allclose(lrs, case["lrs"], rtol=1e-12, atol=0)
    if case["momentum"] is None:
        assert moms is None
    else:
        np.testing.assert_allclose(moms, case["momentum"], rtol=1e-12, atol=0)


def test_matches_live_torch():
    pytest.importorskip("torch")
    gen = _generator()
    assert [list(c[:4]) for c in gen.CASES] == [
        [c["name"], c["params"], c["lr"], c["steps"]] for c in FIXTURE["schedules"]
    ], "fixture is stale: rerun tests/make_torch_fixtures_schedules.py"
    for case in gen.CASES:
        ref_lrs, ref_moms = gen.torch_values(case)
        lrs, moms = _tables(*case[:4])
        np.testing.assert_allclose(lrs, ref_lrs, rtol=1e-12, atol=0, err_msg=str(case))
        if ref_moms is None:
            assert moms is None
        else:
            np.testing.assert_allclose(moms, ref_moms, rtol=1e-12, atol=0, err_msg=str(case))


# 2. Test vectors (schedules-optimizers.md §4; base lr 1, values rounded to 6 decimals) --------

COS_ONECYCLE = [0.04, 0.52, 1, 0.950485, 0.811746, 0.611262, 0.388742, 0.188258, 0.049519, 4e-6]
VECTORS = [
    # (reference, name, params, steps, first t compared, expected from that t)
    ("torch MultiStepLR([2,5,5], .1)", "step", {"milestones": [2, 5, 5], "gamma": 0.1}, 8, 0,
     [1, 1, 0.1, 0.1, 0.1, 0.001, 0.001, 0.001]),
    ("torch LinearLR(.25, 1, 4)", "linear", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 4}, 6, 0,
     [0.25, 0.4375, 0.625, 0.8125, 1, 1]),
    ("torch PolynomialLR(4, 2)", "polynomial", {"total_iters": 4, "power": 2.0}, 6, 0,
     [1, 0.5625, 0.25, 0.0625, 0, 0]),
    ("torch CosineAnnealingLR(4, eta_min=.1), periodic", "cosine", {"T_max": 4, "eta_min": 0.1}, 9, 0,
     [1, 0.868198, 0.55, 0.231802, 0.1, 0.231802, 0.55, 0.868198, 1]),
    ("torch CosineAnnealingWarmRestarts(2, T_mult=2)", "cosine_restarts", {"T_0": 2, "T_mult": 2}, 11, 0,
     [1, 0.5, 1, 0.853553, 0.5, 0.146447, 1, 0.96194, 0.853553, 0.691342, 0.5]),
    ("torch CyclicLR(.1, 1, up=2) triangular", "cyclic", {"base_lr": 0.1, "step_size_up": 2}, 5, 0,
     [0.1, 0.55, 1, 0.55, 0.1]),
    ("torch CyclicLR(.1, 1, up=2) triangular2", "cyclic",
     {"base_lr": 0.1, "step_size_up": 2, "mode": "triangular2"}, 10, 4, [0.1, 0.325, 0.55, 0.325, 0.1, 0.2125]),
    ("torch CyclicLR(.1, 1, up=2) exp_range(.9)", "cyclic",
     {"base_lr": 0.1, "step_size_up": 2, "mode": "exp_range", "gamma": 0.9}, 6, 0,
     [0.1, 0.505, 0.829, 0.42805, 0.1, 0.365721]),
    ("torch CyclicLR(.1, 1, up=2, down=3)", "cyclic", {"base_lr": 0.1, "step_size_up": 2, "step_size_down": 3}, 6, 0,
     [0.1, 0.55, 1, 0.7, 0.4, 0.1]),
    ("torch OneCycleLR(1, total=10) cos", "onecycle", {}, 10, 0, COS_ONECYCLE),
    ("torch OneCycleLR(1, total=10) linear", "onecycle", {"anneal_strategy": "linear"}, 10, 8, [0.142861, 4e-6]),
    ("torch OneCycleLR(1, total=10) three-phase linear", "onecycle",
     {"anneal_strategy": "linear", "three_phase": True}, 10, 0,
     [0.04, 0.52, 1, 0.52, 0.04, 0.032001, 0.024002, 0.016002, 0.008003, 4e-6]),
    ("Keras InverseTimeDecay(1, 2, .5)", "inverse_time", {"decay_steps": 2, "decay_rate": 0.5}, 5, 0,
     [1, 0.8, 0.666667, 0.571429, 0.5]),
    ("Keras InverseTimeDecay(1, 2, .5, staircase)", "inverse_time",
     {"decay_steps": 2, "decay_rate": 0.5, "staircase": True}, 5, 0, [1, 1, 0.666667, 0.666667, 0.5]),
    # flax ramps t/w (0, .25, .5, .75 for t < 4); from t = w the rsqrt decay is identical.
    ("flax WMT rsqrt(1, warmup=4), t >= 4", "inverse_sqrt", {"warmup": 4}, 9, 4,
     [1, 0.894427, 0.816497, 0.755929, 0.707107]),
    # Keras warms up t/w from 0 and clamps after decay_steps; equal for w <= t <= w + 4.
    ("Keras CosineDecay(0, 4, warmup_target=1, warmup_steps=2), 2 <= t <= 6", "cosine",
     {"T_max": 4, "warmup": 2}, 8, 2, [1, 0.853553, 0.5, 0.146447, 0]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ref", "name", "params", "steps", "start", "expected"), VECTORS, ids=[v[0] for v in VECTORS]
)
def test_vectors(ref, name, params, steps, start, expected):
    lrs, _ = _tables(name, params, 1.0, steps)
    # the notes round to 6 decimals (ties away from zero: .3657205 is printed .365721)
    np.testing.assert_allclose(
        lrs[start : start + len(expected)], expected, rtol=0, atol=5e-7 + 1e-12
    )


def test_onecycle_momentum_vector():
    # §4 OneCycleLR(1, total=10) momentum, printed to 3-4 decimals in the notes.
    _, moms = _tables("onecycle", {"cycle_momentum": True}, 1.0, 10)
    expected = [0.95, 0.9, 0.85, 0.855, 0.8688, 0.8889, 0.9111, 0.9312, 0.945, 0.95]
    np.testing.assert_allclose(moms, expected, rtol=0, atol=5e-5)


def test_onecycle_where_torch_divides_by_zero():
    # pct_start * n == 1: torch raises ZeroDivisionError (0/0 at t=0). We take the phase's end
    # (the peak) at t=0; after it, torch's phase 2 formula by hand: cos from lr to lr/2.5e5.
    lrs, _ = _tables("onecycle", {"pct_start": 0.1}, 1.0, 10)
    low = 1 / 25 / 1e4
    hand = [low + (1 - low) / 2 * (math.cos(math.pi * t / 9) + 1) for t in range(10)]
    np.testing.assert_allclose(lrs, hand, rtol=1e-14)


# 3. Registry invariants ------------------------------------------------------------------------

DECAYING = {"step", "exponential", "cosine", "linear", "polynomial", "inverse_sqrt", "inverse_time"}
STARTS_AT_LR = DECAYING | {"constant", "cosine_restarts", "plateau"}


def test_registry_entries():
    for name, entry in S.SCHEDULES.items():
        assert entry.name == name and entry.doc
        assert entry.params[-1] is S.WARMUP
        assert all(p.help for p in entry.params), name
        defaults = S.resolve_schedule(name, None, name)
        assert defaults == {p.name: p.default for p in entry.params}
        assert S.is_stateful(name) == (name == "plateau")


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(S.SCHEDULES)),
    lr=st.floats(1e-4, 10.0),
    steps=st.integers(1, 400),
    warmup=st.one_of(st.just(0), st.integers(0, 60), st.floats(0.01, 1.0)),
)
def test_invariants_with_default_params(name, lr, steps, warmup):
    # Closed-form facts: warmup ramp (t+1)/w * lr, bounded by the swept lr (peak for
    # cyclic/onecycle), decaying schedules non-increasing, defaults starting at lr after warmup.
    lrs, _ = _tables(name, {"warmup": warmup}, lr, steps)
    assert lrs.shape == (steps,) and lrs.dtype == np.float64
    assert np.all(np.isfinite(lrs)) and np.all(lrs >= 0)
    assert np.all(lrs <= lr * (1 + 1e-12))
    w = min(to_steps(warmup, steps), steps)
    np.testing.assert_allclose(lrs[:w], (np.arange(w) + 1) / w * lr, rtol=1e-15)
    assert np.all(np.diff(lrs[:w]) >= 0)
    after = lrs[w:]
    if name in DECAYING:
        assert np.all(np.diff(after) <= 4 * np.spacing(lr))
    if name in STARTS_AT_LR and after.size:
        assert after[0] == pytest.approx(lr, rel=1e-15)
    if name in ("constant", "plateau"):
        assert np.all(after == lr)


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(["cyclic", "onecycle"]),
    steps=st.integers(1, 300),
    warmup=st.integers(0, 40),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    three_phase=st.booleans(),
)
def test_momentum_invariants(name, steps, warmup, mode, three_phase):
    # Momentum cycles between base_momentum and max_momentum; during warmup it holds the
    # schedule's value at t'=0 (torch), which is max_momentum except for a onecycle so short
    # that torch's first phase ends before step 0 (pct_start * n - 1 < 0).
    extra = {"mode": mode, "gamma": 0.99} if name == "cyclic" else {"three_phase": three_phase}
    assert _tables(name, {**extra, "warmup": warmup}, 0.1, steps)[1] is None
    lrs, moms = _tables(name, {**extra, "warmup": warmup, "cycle_momentum": True}, 0.1, steps)
    entry = S.SCHEDULES[name]
    lo, hi = entry.param("base_momentum").default, entry.param("max_momentum").default
    assert moms.shape == (steps,)
    assert np.all(moms >= lo - 1e-15) and np.all(moms <= hi + 1e-15)
    w = min(warmup, steps)
    n = max(steps - w, 1)
    at_start = S.momentum_table(name, {**extra, "cycle_momentum": True}, n)[0]
    assert np.all(moms[:w] == at_start)
    if name == "cyclic" or 0.3 * n - 1 >= 0:
        assert at_start == hi
    for other in S.SCHEDULES:
        if other not in ("cyclic", "onecycle"):
            assert S.momentum_table(other, {}, steps) is None


def test_short_onecycle_starts_momentum_in_its_second_phase():
    """torch's OneCycleLR over n = 2 steps: phase 1 ends at pct_start * n - 1 = -0.4, so step 0
    is in phase 2 (base -> max momentum) at pct = (0 + 0.4) / (1 + 0.4); cosine annealing gives
    0.95 + (0.85 - 0.95) / 2 * (cos(pi * pct) + 1), computed here by hand from that formula."""
    pct = 0.4 / 1.4
    expected = 0.95 + (0.85 - 0.95) / 2 * (math.cos(math.pi * pct) + 1)
    moms = S.momentum_table("onecycle", {"cycle_momentum": True, "warmup": 1}, 3)
    assert moms[0] == pytest.approx(expected, rel=1e-15)
    assert moms[1] == moms[0]


# 4. Plateau (ReduceLROnPlateau) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "case", FIXTURE["plateau"], ids=[f"plateau-{i}" for i in range(len(FIXTURE["plateau"]))]
)
def test_plateau_matches_stored_torch(case):
    # torch ReduceLROnPlateau (stored); same comparisons, so exactly equal.
    assert _plateau_lrs(case["params"], case["lr"], case["metrics"]) == case["lrs"]


def test_plateau_vectors():
    # §4 (torch 2.14.1): factor .5, patience 2, cooldown 1, min_lr .1 on 10, 9, 9, ...
    got = _plateau_lrs(
        {"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.1}, 1.0, [10.0] + [9.0] * 13
    )
    assert got == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125]
    assert _plateau_lrs({"patience": 0, "factor": 0.5}, 1.0, [5, 5, 4, 4.9999, 3]) == [
        1,
        0.5,
        0.5,
        0.25,
        0.25,
    ]
    assert _plateau_lrs({"patience": 2, "factor": 0.5}, 1.0, [7.0] * 7) == [
        1,
        1,
        1,
        0.5,
        0.5,
        0.5,
        0.25,
    ]


def test_plateau_live_torch():
    pytest.importorskip("torch")
    gen = _generator()
    for params, lr, metrics in gen.PLATEAU_CASES:
        assert _plateau_lrs(params, lr, metrics) == gen.torch_plateau((params, lr, metrics))


def test_plateau_vectorised_and_keep():
    # Stacked configurations give each one's torch sequence (stored); dropping some midway
    # leaves the others unchanged.
    cases = [c for c in FIXTURE["plateau"] if len(c["metrics"]) == 60]
    assert len(cases) >= 4
    params = [S.resolve_schedule("plateau", c["params"], "p") for c in cases]
    tracker = S.PlateauTracker(params, np.array([c["lr"] for c in cases]), 61)
    metrics = np.array([c["metrics"] for c in cases])
    alive = np.arange(len(cases))
    for t in range(1, 61):
        if t == 30:
            alive = alive[[0, 2, 3]]
            tracker.keep(np.array([0, 2, 3]))
        tracker.observe(metrics[alive, t - 1], t)
        got = tracker.lr(t)
        assert list(got) == [cases[k]["lrs"][t - 1] for k in alive]


def test_plateau_warmup_and_non_finite():
    # Hand computation. Warmup 5: lr(t) = .2(t+1)/5 for t < 5, and worsening metrics observed
    # at t < 5 are ignored; from t = 5 (patience 0, factor .5) the first metric sets best.
    p = S.resolve_schedule("plateau", {"patience": 0, "factor": 0.5, "warmup": 5}, "p")
    tracker = S.PlateauTracker([p], np.array([0.2]), 50)
    for t in range(1, 5):
        tracker.observe(np.array([float(t)]), t)
        assert tracker.lr(t)[0] == pytest.approx(0.2 * (t + 1) / 5, rel=1e-15)
    tracker.observe(np.array([10.0]), 5)
    assert tracker.lr(5)[0] == 0.2
    tracker.observe(np.array([11.0]), 6)
    assert tracker.lr(6)[0] == 0.1
    # Non-finite metrics are never better: NaN (as torch), -inf in min mode (torch would
    # accept it as better), +inf in max mode.
    assert _plateau_lrs({"patience": 0, "factor": 0.5}, 1.0, [1.0, math.nan, -math.inf]) == [
        1,
        0.5,
        0.25,
    ]
    assert _plateau_lrs(
        {"patience": 0, "factor": 0.5, "mode": "max"}, 1.0, [1.0, math.inf, 2.0]
    ) == [1, 0.5, 0.5]
    # lr_table: the warmup ramp, then the base lr (before any reduction)
    table = S.lr_table("plateau", S.resolve_schedule("plateau", {"warmup": 3}, "p"), 0.3, 6)
    np.testing.assert_allclose(table, [0.1, 0.2, 0.3, 0.3, 0.3, 0.3], rtol=1e-15)


# 5. Durations and validation ------------------------------------------------------------------


def test_durations_resolve_against_the_right_length():
    # Hand: T = 100, warmup 0.2 of the whole run -> w = 20; n = 80, T_max 0.5 of n -> 40.
    lrs, _ = _tables("cosine", {"T_max": 0.5, "warmup": 0.2}, 0.3, 100)
    k = np.arange(80)
    np.testing.assert_allclose(
        lrs[20:], 0.3 * (1 + np.cos(np.pi * k / 40)) / 2, rtol=1e-14, atol=1e-17
    )
    assert lrs[19] == lrs[20] == 0.3 and lrs[60] == 0.0
    # milestones 0.5 of n = 80 -> t' = 40 -> t = 60
    lrs, _ = _tables("step", {"milestones": [0.5], "warmup": 0.2}, 0.3, 100)
    assert lrs[59] == 0.3 and lrs[60] == pytest.approx(0.03, rel=1e-15)
    # T_0 default 0.25 of 80 = 20: restart (back to lr) at t = 20, 40, 60
    lrs, _ = _tables("cosine_restarts", {}, 0.3, 80)
    assert lrs[19] < 0.3 and lrs[20] == lrs[40] == lrs[60] == 0.3
    # cyclic step_size_up 0.1 of n = 50 -> 5: peak at t = 50 + 5
    lrs, _ = _tables("cyclic", {"warmup": 0.5}, 0.4, 100)
    assert lrs[50] == 0.1 and lrs[55] == 0.4 and np.argmax(lrs[50:]) == 5
    # onecycle spans n = 80; peak at pct_start * n - 1 = 23 -> t = 43
    lrs, _ = _tables("onecycle", {"warmup": 0.2}, 0.4, 100)
    assert lrs[43] == 0.4 and lrs[20] == pytest.approx(0.4 / 25, rel=1e-15)
    # a fraction that rounds to 0 steps counts as 1: restart every step
    lrs, _ = _tables("cosine_restarts", {"T_0": 0.01}, 0.3, 20)
    assert np.all(lrs == 0.3)
    # exponential with null gamma: lr/100 at t' = n, so lr * 0.01^((n-1)/n) at the last step
    lrs, _ = _tables("exponential", {}, 0.3, 50)
    assert lrs[-1] == pytest.approx(0.3 * 0.01 ** (49 / 50), rel=1e-13)


BAD = [
    ("cosine", {"warmup": -1}, "warmup"),
    ("cosine", {"warmup": 1.5}, "warmup"),
    ("cosine", {"T_max": 1.5}, "T_max"),
    ("cosine", {"T_max": 0}, "T_max"),
    ("cosine", {"eta_min": -0.1}, "eta_min"),
    ("cosine", {"tmax": 3}, "tmax"),
    ("cosine_restarts", {"T_mult": 0}, "T_mult"),
    ("cosine_restarts", {"T_mult": 1.5}, "T_mult"),
    ("cosine_restarts", {"T_0": -0.25}, "T_0"),
    ("step", {"milestones": [0.5, 1.5]}, "milestones"),
    ("step", {"milestones": [10, 0]}, "milestones"),
    ("step", {"gamma": 0}, "gamma"),
    ("exponential", {"gamma": 1.5}, "gamma"),
    ("linear", {"start_factor": 0.0}, "start_factor"),
    ("inverse_time", {"decay_steps": 0}, "decay_steps"),
    ("cyclic", {"step_size_up": 0}, "step_size_up"),
    ("cyclic", {"mode": "triangle"}, "mode"),
    ("cyclic", {"base_momentum": 0.95}, "base_momentum"),
    ("onecycle", {"three_phase": True, "pct_start": 0.6}, "pct_start"),
    ("plateau", {"factor": 1.0}, "factor"),
    ("plateau", {"patience": -1}, "patience"),
]


@pytest.mark.parametrize(("name", "given", "key"), BAD, ids=[f"{n}-{k}" for n, _, k in BAD])
def test_bad_values_name_the_key(name, given, key):
    path = f"schedules[0].{name}"
    with pytest.raises(ConfigError) as info:
        S.resolve_schedule(name, given, path)
    assert info.value.path.startswith(f"{path}.{key}")
    assert "\n" not in str(info.value)


def test_unknown_schedule_lists_names():
    with pytest.raises(ConfigError, match="did you mean 'cosine'") as info:
        S.resolve_schedule("cosin", {}, "schedules[1]")
    assert info.value.path == "schedules[1]" and "onecycle" in info.value.allowed


def test_integral_float_t_mult_is_accepted():
    assert S.resolve_schedule("cosine_restarts", {"T_mult": 2.0}, "s")["T_mult"] == 2
