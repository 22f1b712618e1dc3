"""lrbench.core.optimizers against hand computation and against torch.optim (torch 2.13).

Where the expected values come from:
- ``test_by_hand_*``: plain-Python scalar versions of the torch update equations as written in
  reference/schedules-optimizers.md §2 (and closed forms of the first step), computed here.
- ``test_matches_torch_fixture``: torch's trajectories stored in tests/fixtures/optimizers_torch.json
  by tests/make_torch_fixtures_optimizers.py; ``test_matches_live_torch`` reruns torch when it is
  installed. ``test_defaults_match_torch`` reads torch's own defaults.
- lockstep, keep() and float32 tests compare lrbench with itself run differently (bit-identity
  is the claim), never with numbers produced by lrbench beforehand.

Where torch 2.13 differs from the notes (reference/schedules-optimizers.md §2), checked on the
venv's torch and written down here:
- Adam/AdamW/NAdam update m with ``exp_avg.lerp_(grad, 1 - beta1)``, i.e. m + (1-b1)(g - m),
  and RMSprop's centered average with ``grad_avg.lerp_(grad, 1 - alpha)``, not the
  b1*m + (1-b1)*g written in the notes (equal up to rounding; lrbench follows torch).
- torch's CPU kernels fuse multiply-adds (``add(alpha=)``, ``addcmul``, ``lerp`` are single-rounding
  FMAs; ``addcdiv`` is ``self + (value*t1)/t2`` without one) and its vectorised float64 ``sqrt`` is
  off by one ulp for about 1 % of inputs. numpy has neither, so agreement is to round-off
  (<= 1e-15 per step, about 1e-14 after 32 steps), never bit-exact; hence rtol 1e-12 below.
- A momentum of exactly 0 written by a scheduler (cycle_momentum) makes torch skip the buffer for
  that step (SGD sets its buffer at the first non-zero step); for RMSprop a 0 at the very first
  step makes torch 2.13 raise KeyError('momentum_buffer') later, so the fixtures avoid that case
  (lrbench simply keeps a zero buffer).
- The notes quote torch 2.14.1; the defaults checked here (torch 2.13) are the same ones.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lrbench.core.optimizers import (
    OPTIMIZERS,
    Optimizer,
    check_cycle_momentum,
    group_key,
    resolve_optimizer,
)
from lrbench.errors import ConfigError

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location(
    "_fx_opt", HERE / "make_torch_fixtures_optimizers.py"
)
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
FIXTURE = json.loads((HERE / "fixtures" / "optimizers_torch.json").read_text())
A = [np.array(a) for a in FIXTURE["A"]]
B = [np.array(b) for b in FIXTURE["B"]]
LRS = np.array(FIXTURE["lr"])  # (steps, 3)
CASES = {c["id"]: c for c in FIXTURE["cases"]}
CHECKPOINTS = FIXTURE["checkpoints"]


def run(name, hparams, init, lrs, moms=None, steps=None, dtype=np.float64, keep=None):
    """lrbench on the fixture problem: params at each checkpoint, or after ``steps`` if given.

    ``keep=(t, idx)`` drops configurations after step ``t`` (the surviving ones continue).
    """
    params = [np.array(p, dtype=dtype) for p in init]
    opt = Optimizer(name, hparams, params, cycle_momentum=moms is not None)
    lrs = np.asarray(lrs, dtype=dtype)
    moms = None if moms is None else np.asarray(moms, dtype=dtype)
    cols = np.arange(len(hparams))
    trajectory = steps is None
    steps = steps or max(CHECKPOINTS)
    out = []
    for t in range(steps):
        if keep is not None and t == keep[0]:
            cols = cols[keep[1]]
            opt.keep(keep[1])
            params = [p[keep[1]] for p in params]
        grads = [g.astype(dtype) for g in fx.gradients(params, A, B)]
        opt.update(params, grads, lrs[t, cols], None if moms is None else moms[t, cols])
        if t + 1 in CHECKPOINTS:
            out.append([p.copy() for p in params])
    return out if trajectory else params


def run_case(case, rows=None, **kw):
    rows = list(range(len(case["hparams"]))) if rows is None else rows
    hparams = [case["hparams"][k] for k in rows]
    init = [np.array(p)[rows] for p in case["init"]]
    moms = None if case["momentum"] is None else np.array(case["momentum"])[:, rows]
    return run(case["optimizer"], hparams, init, LRS[:, rows], moms, **kw)


# ---------------------------------------------------------------- by hand (plain Python floats)


def ref_sgd(theta, grads, lrs, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """torch SGD: b = g at k=1, then b = mu*b + (1-dampening)*g; lr outside the buffer."""
    buf = None
    for g, lr in zip(grads, lrs, strict=True):
        g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        if momentum != 0:
            if buf is None:
                buf = list(g)
            else:
                buf = [momentum * b + (1 - dampening) * gi for b, gi in zip(buf, g, strict=True)]
            g = [gi + momentum * b for gi, b in zip(g, buf, strict=True)] if nesterov else buf
        theta = [ti - lr * gi for ti, gi in zip(theta, g, strict=True)]
        yield theta


def ref_adagrad(
    theta, grads, lrs, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10
):
    """torch Adagrad: clr = lr/(1+(k-1)*lr_decay), s += g^2, theta -= clr*g/(sqrt(s)+eps)."""
    s = [initial_accumulator_value] * len(theta)
    for k, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        clr = lr / (1 + (k - 1) * lr_decay)
        s = [si + gi * gi for si, gi in zip(s, g, strict=True)]
        theta = [
            ti - clr * gi / (math.sqrt(si) + eps) for ti, gi, si in zip(theta, g, s, strict=True)
        ]
        yield theta


def ref_rmsprop(
    theta, grads, lrs, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False
):
    """torch RMSprop: v = a*v + (1-a)*g^2, d = sqrt(v [- gbar^2]) + eps, b = mu*b + g/d."""
    n = len(theta)
    v, gbar, buf = [0.0] * n, [0.0] * n, [0.0] * n
    for g, lr in zip(grads, lrs, strict=True):
        g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        v = [alpha * vi + (1 - alpha) * gi * gi for vi, gi in zip(v, g, strict=True)]
        if centered:
            gbar = [alpha * mi + (1 - alpha) * gi for mi, gi in zip(gbar, g, strict=True)]
            d = [math.sqrt(vi - mi * mi) + eps for vi, mi in zip(v, gbar, strict=True)]
        else:
            d = [math.sqrt(vi) + eps for vi in v]
        step = [gi / di for gi, di in zip(g, d, strict=True)]
        if momentum > 0:
            buf = [momentum * b + si for b, si in zip(buf, step, strict=True)]
            step = buf
        theta = [ti - lr * si for ti, si in zip(theta, step, strict=True)]
        yield theta


def ref_adam(
    theta,
    grads,
    lrs,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    decoupled=False,
):
    """torch Adam/AdamW: theta -= lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps)."""
    b1, b2 = betas
    n = len(theta)
    m, v, vmax = [0.0] * n, [0.0] * n, [0.0] * n
    for k, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        if decoupled:
            theta = [ti * (1 - lr * weight_decay) for ti in theta]
        else:
            g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g, strict=True)]
        vmax = [max(a, b) for a, b in zip(vmax, v, strict=True)]
        vhat = vmax if amsgrad else v
        step = lr / (1 - b1**k)
        theta = [
            ti - step * mi / (math.sqrt(vi) / math.sqrt(1 - b2**k) + eps)
            for ti, mi, vi in zip(theta, m, vhat, strict=True)
        ]
        yield theta


def ref_adamw(theta, grads, lrs, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False):
    yield from ref_adam(theta, grads, lrs, betas, eps, weight_decay, amsgrad, decoupled=True)


def ref_nadam(
    theta,
    grads,
    lrs,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=0.004,
    decoupled_weight_decay=False,
):
    """torch NAdam: mu_k = b1*(1 - 0.5*0.96^(k*psi)), P_k = prod mu, two Nesterov terms."""
    b1, b2 = betas
    n = len(theta)
    m, v, prod = [0.0] * n, [0.0] * n, 1.0
    for k, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        if decoupled_weight_decay:
            theta = [ti * (1 - lr * weight_decay) for ti in theta]
        else:
            g = [gi + weight_decay * ti for gi, ti in zip(g, theta, strict=True)]
        mu = b1 * (1 - 0.5 * 0.96 ** (k * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((k + 1) * momentum_decay))
        prod *= mu
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g, strict=True)]
        d = [math.sqrt(vi / (1 - b2**k)) + eps for vi in v]
        theta = [
            ti
            - lr * (1 - mu) / (1 - prod) * gi / di
            - lr * mu_next / (1 - prod * mu_next) * mi / di
            for ti, gi, mi, di in zip(theta, g, m, d, strict=True)
        ]
        yield theta


REFS = {"sgd": ref_sgd, "adagrad": ref_adagrad, "rmsprop": ref_rmsprop, "adam": ref_adam}
REFS |= {"adamw": ref_adamw, "nadam": ref_nadam}
ALIAS = {
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
}
ALIAS["amsgrad"] = ("adam", {"amsgrad": True})

THETA0 = [1.3, -2.0, 0.7]
GRADS = [[0.5, -0.25, 2.0], [-0.3, 0.75, 0.01], [0.1, 0.2, -0.05]]  # step 3 shrinks: amsgrad shows
HAND_LRS = [0.1, 0.05, 0.2]

HAND_CASES = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1}),
    ("momentum", {}),
    ("momentum", {"momentum": 0.5, "dampening": 0.3}),
    ("momentum", {"dampening": 0.3, "weight_decay": 0.1}),
    ("nesterov", {}),
    ("nesterov", {"momentum": 0.6, "weight_decay": 0.1}),
    ("sgd", {"momentum": 0.5, "nesterov": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.5}),
    ("adagrad", {"initial_accumulator_value": 0.5}),
    ("adagrad", {"eps": 0.01, "weight_decay": 0.1}),
    ("rmsprop", {}),
    ("rmsprop", {"alpha": 0.5, "eps": 0.01}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.9, "weight_decay": 0.1, "alpha": 0.7}),
    ("adam", {}),
    ("adam", {"betas": [0.5, 0.6], "eps": 0.01}),
    ("adam", {"weight_decay": 0.1}),
    ("amsgrad", {"betas": [0.9, 0.5]}),
    ("amsgrad", {"betas": [0.9, 0.5], "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.5}),
    ("adamw", {"weight_decay": 0.5, "amsgrad": True, "betas": [0.9, 0.5]}),
    ("nadam", {}),
    ("nadam", {"momentum_decay": 1.0}),
    ("nadam", {"momentum_decay": 0.0}),
    ("nadam", {"weight_decay": 0.1}),
    ("nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
]


def _ref(name, given):
    rule, fixed = ALIAS.get(name, (name, {}))
    return REFS[rule], {**fixed, **given}


@pytest.mark.parametrize(("name", "given"), HAND_CASES, ids=lambda x: str(x))
def test_by_hand_every_option(name, given):
    """Three steps of each optimizer and option against the scalar torch formulas above."""
    ref, kw = _ref(name, given)
    expected = list(ref(THETA0, GRADS, HAND_LRS, **kw))
    plain = list(_ref(name, {})[0](THETA0, GRADS, HAND_LRS, **_ref(name, {})[1]))
    if given:  # the option shows (at step 2 at the latest)
        assert not np.allclose(expected[:2], plain[:2], rtol=1e-6)
    opt = Optimizer(name, [resolve_optimizer(name, given, "opt")], [np.zeros((1, 1, 3))])
    theta = np.array(THETA0).reshape(1, 1, 3)
    for k in range(3):
        grads = [np.array(GRADS[k]).reshape(1, 1, 3)]
        opt.update([theta], grads, np.array([HAND_LRS[k]]))
        np.testing.assert_allclose(theta.ravel(), expected[k], rtol=1e-14, atol=1e-15)


def _first_step(name, given, theta, g, lr):
    opt = Optimizer(name, [resolve_optimizer(name, given, "opt")], [np.zeros((1, 1, 1))])
    p = np.array([[[theta]]])
    opt.update([p], [np.array([[[g]]])], np.array([lr]))
    return float(p[0, 0, 0])


def test_by_hand_first_steps_in_closed_form():
    """At k=1 the bias corrections cancel: closed forms from the papers/torch formulas."""
    th, g, lr, eps = 1.0, 0.5, 0.1, 1e-8
    # Adam (k=1): m/(1-b1) = g, sqrt(v/(1-b2)) = |g|  ->  theta - lr*g/(|g| + eps)
    assert _first_step("adam", {}, th, g, lr) == pytest.approx(th - lr * g / (g + eps), rel=1e-15)
    # AdamW: theta*(1 - lr*wd) first, then the Adam step
    assert _first_step("adamw", {"weight_decay": 0.5}, th, g, lr) == pytest.approx(
        th * 0.95 - lr * g / (g + eps), rel=1e-15
    )
    # Adagrad (s0 = 0): s = g^2  ->  theta - lr*g/(|g| + 1e-10)
    assert _first_step("adagrad", {}, th, g, lr) == pytest.approx(
        th - lr * g / (g + 1e-10), rel=1e-15
    )
    # RMSprop: v = (1-alpha) g^2  ->  theta - lr*g/(sqrt(0.01)*|g| + eps)
    assert _first_step("rmsprop", {}, th, g, lr) == pytest.approx(
        th - lr * g / (0.1 * g + eps), rel=1e-14
    )
    # NAdam: theta - lr*g/(|g|+eps) * (1 + mu2*(1-b1)/(1-mu1*mu2)), mu_k = 0.9*(1-0.5*0.96^(0.004k))
    mu1, mu2 = (0.9 * (1 - 0.5 * 0.96 ** (0.004 * k)) for k in (1, 2))
    expected = th - lr * g / (g + eps) * (1 + mu2 * 0.1 / (1 - mu1 * mu2))
    assert _first_step("nadam", {}, th, g, lr) == pytest.approx(expected, rel=1e-14)
    # SGD momentum 0.9, dampening 0.1, grads 0.5 then 0.25, lr 0.1:
    # k=1: b = 0.5 (no dampening), theta = 0.95; k=2: b = 0.45 + 0.225 = 0.675, theta = 0.8825
    opt = Optimizer(
        "momentum", [resolve_optimizer("momentum", {"dampening": 0.1}, "o")], [np.zeros((1, 1, 1))]
    )
    p = np.ones((1, 1, 1))
    opt.update([p], [np.full((1, 1, 1), 0.5)], np.array([0.1]))
    assert p[0, 0, 0] == pytest.approx(0.95, rel=1e-15)
    opt.update([p], [np.full((1, 1, 1), 0.25)], np.array([0.1]))
    assert p[0, 0, 0] == pytest.approx(0.8825, rel=1e-15)


# ---------------------------------------------------------------- against torch


def _assert_trajectory(ours, theirs):
    for got_c, want_c in zip(ours, theirs, strict=True):  # checkpoints
        for i, got in enumerate(got_c):  # parameter arrays
            want = np.array([w[i] for w in want_c])
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_matches_torch_fixture(case_id):
    """32 steps, changing lr, K=3 different configurations in one stack vs stored torch runs
    (cycle_* cases: momentum/beta1 rewritten every step, as cycle_momentum does)."""
    case = CASES[case_id]
    _assert_trajectory(run_case(case), case["torch"])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_matches_live_torch(case_id):
    pytest.importorskip("torch")
    case = CASES[case_id]
    moms = case["momentum"]
    lrs = FIXTURE["lr"]
    theirs = fx.torch_run(
        case["optimizer"],
        case["hparams"],
        [np.array(p) for p in case["init"]],
        A,
        B,
        lrs,
        moms,
        CHECKPOINTS,
    )
    _assert_trajectory(run_case(case), theirs)


def test_fixture_covers_every_optimizer_and_cycle():
    names = {c["optimizer"] for c in CASES.values()}
    assert names == set(OPTIMIZERS)
    cycled = {c["optimizer"] for c in CASES.values() if c["momentum"] is not None}
    assert cycled == set(OPTIMIZERS) - {"adagrad", "momentum"}


def test_defaults_match_torch():
    """Registry defaults = torch's constructor defaults (plus what each alias fixes)."""
    torch = pytest.importorskip("torch")
    for name, entry in OPTIMIZERS.items():
        params = [torch.zeros(1, requires_grad=True)]
        opt = fx.torch_class(name)(params, **fx.torch_kwargs(name, {}))
        ours = resolve_optimizer(name, {}, "o")
        assert "lr" not in ours
        for key, value in ours.items():
            want = opt.defaults[key]
            if key == "betas":
                value, want = tuple(value), tuple(want)
            assert value == want, (name, key)
        assert [p.help for p in entry.params if not p.help] == []


# ---------------------------------------------------------------- lockstep, keep(), dtype


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_lockstep_equals_one_at_a_time(case_id):
    """K configurations in one stack give the same bits as each one alone (K=1)."""
    case = CASES[case_id]
    stacked = run_case(case)
    for k in range(3):
        alone = run_case(case, rows=[k])
        for got_c, want_c in zip(stacked, alone, strict=True):
            for got, want in zip(got_c, want_c, strict=True):
                assert np.array_equal(got[k : k + 1], want)


@pytest.mark.parametrize(
    "case_id",
    [
        "momentum_dampening_wd",
        "nesterov",
        "adagrad",
        "rmsprop_centered_momentum",
        "amsgrad_wd",
        "adamw",
        "nadam",
        "cycle_sgd",
        "cycle_rmsprop",
        "cycle_nadam",
    ],
)
def test_keep_continues_bit_identically(case_id):
    """After keep([2, 0, 0]) at step 10 (configuration 1 dropped, 0 forked in two) the kept
    rows go on exactly as if each had run alone."""
    case = CASES[case_id]
    kept = run_case(case, steps=20, keep=(10, np.array([2, 0, 0])))
    for pos, k in enumerate([2, 0, 0]):
        alone = run_case(case, rows=[k], steps=20)
        for got, want in zip(kept, alone, strict=True):
            assert np.array_equal(got[pos : pos + 1], want)


@pytest.mark.parametrize(
    "case_id",
    [
        "momentum_dampening_wd",
        "adagrad",
        "rmsprop_centered_momentum",
        "amsgrad_wd",
        "adamw",
        "nadam_decoupled",
        "cycle_adam",
    ],
)
def test_float32(case_id):
    """float32 in, float32 out (params and state), close to the float64 run."""
    case = CASES[case_id]
    f32 = run_case(case, steps=10, dtype=np.float32)
    f64 = run_case(case, steps=10)
    for a, b in zip(f32, f64, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
    params = [np.array(p, dtype=np.float32) for p in case["init"]]
    opt = Optimizer(
        case["optimizer"], case["hparams"], params, cycle_momentum=case["momentum"] is not None
    )
    mom = None if case["momentum"] is None else np.full(3, 0.9, np.float32)
    opt.update(
        params,
        [g.astype(np.float32) for g in fx.gradients(params, A, B)],
        np.full(3, 0.1, np.float32),
        mom,
    )
    assert all(p.dtype == np.float32 for p in params)
    assert all(v.dtype == np.float32 for st in opt.state for v in st.values())


# ---------------------------------------------------------------- validation and grouping


def test_resolve_fills_defaults():
    assert resolve_optimizer("adamw", None, "o") == {
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.01,
        "amsgrad": False,
    }
    assert resolve_optimizer("nesterov", {}, "o")["nesterov"] is True
    assert resolve_optimizer("amsgrad", {"betas": [0.8, 0.9]}, "o")["betas"] == (0.8, 0.9)


@pytest.mark.parametrize(
    ("name", "given", "path", "text"),
    [
        ("adamm", {}, "optimizers[0]", "did you mean 'adam'"),
        ("sgd", {"momentum": 1.0}, "optimizers[0].momentum", "[0, 1)"),
        ("sgd", {"momentum": -0.1}, "optimizers[0].momentum", "[0, 1)"),
        ("adam", {"betas": [0.9, 1.0]}, "optimizers[0].betas", "2 numbers in [0, 1)"),
        ("adam", {"betas": [0.9, 0.99, 0.999]}, "optimizers[0].betas", "2 numbers"),
        ("adam", {"eps": 0.0}, "optimizers[0].eps", "> 0"),
        ("rmsprop", {"alpha": 1.5}, "optimizers[0].alpha", "[0, 1)"),
        ("adagrad", {"weight_decay": -1.0}, "optimizers[0].weight_decay", ">= 0"),
        ("sgd", {"nesterov": 1}, "optimizers[0].nesterov", "true or false"),
        ("sgd", {"lr": 0.1}, "optimizers[0].lr", "a known key"),
        ("sgd", {"nesterov": True}, "optimizers[0].momentum", "when nesterov is true"),
        ("nesterov", {"momentum": 0.0}, "optimizers[0].momentum", "when nesterov is true"),
        ("nesterov", {"dampening": 0.1}, "optimizers[0].dampening", "0 when nesterov is true"),
    ],
)
def test_resolve_errors(name, given, path, text):
    with pytest.raises(ConfigError) as err:
        resolve_optimizer(name, given, "optimizers[0]")
    assert err.value.path == path
    assert text in str(err.value)


def test_check_cycle_momentum():
    for name in OPTIMIZERS:
        if name != "adagrad":
            check_cycle_momentum(name, "o")
    with pytest.raises(ConfigError, match="momentum or beta1"):
        check_cycle_momentum("adagrad", "optimizers[0]")
    with pytest.raises(ValueError, match="adagrad"):
        Optimizer("adagrad", [{}], [np.zeros((1, 1, 1))], cycle_momentum=True)


def test_group_key():
    key = group_key
    assert (
        key("momentum", {"momentum": 0.5}) == key("sgd", {"momentum": 0.9}) == key("momentum", {})
    )
    assert key("sgd", {}) != key("momentum", {})
    assert key("nesterov", {}) != key("momentum", {})
    assert key("sgd", {"weight_decay": 0.1}) != key("sgd", {})
    assert key("sgd", {"dampening": 0.5, "momentum": 0.9}) == key("momentum", {})  # numeric only
    assert key("adam", {"betas": (0.5, 0.9), "eps": 1e-3}) == key("adam", {})
    assert key("amsgrad", {}) == key("adam", {"amsgrad": True}) != key("adam", {})
    assert key("adamw", {}) != key("adam", {"weight_decay": 0.01})
    assert key("rmsprop", {"centered": True}) != key("rmsprop", {})
    assert key("nadam", {"weight_decay": 0.1}) != key(
        "nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True}
    )
    with pytest.raises(ValueError, match="group keys"):
        Optimizer("sgd", [{}, {"momentum": 0.9}], [np.zeros((2, 1, 1))])


def test_update_checks_momentum_argument():
    opt = Optimizer("adam", [{}], [np.zeros((1, 1, 1))])
    with pytest.raises(ValueError, match="cycle_momentum"):
        opt.update([np.zeros((1, 1, 1))], [np.zeros((1, 1, 1))], np.array([0.1]), np.array([0.9]))


# ---------------------------------------------------------------- numpy settings, operands


def test_update_leaves_numpy_settings_alone():
    """update() changes no numpy global setting (buffer size, error handling), also when it
    raises; broadcasting per-configuration operands is numpy's ordinary arithmetic."""
    old = np.setbufsize(4096)
    try:
        with np.errstate(over="raise", invalid="warn"):
            before = np.geterr()
            for name, given in (("adam", {}), ("rmsprop", {"momentum": 0.5}), ("sgd", {})):
                opt = Optimizer(name, [given, given], [np.zeros((2, 3, 4))])
                opt.update([np.zeros((2, 3, 4))], [np.ones((2, 3, 4))], np.array([0.1, 0.2]))
                assert (np.getbufsize(), np.geterr()) == (4096, before)
                with pytest.raises(ValueError, match="broadcast"):
                    opt.update([np.zeros((2, 3, 4))], [np.ones((2, 3, 5))], np.array([0.1, 0.2]))
                assert (np.getbufsize(), np.geterr()) == (4096, before)
    finally:
        np.setbufsize(old)


def test_signed_zero_learning_rates_stay_per_configuration():
    """Each configuration gets its own operand, even when the values compare equal: by IEEE
    754 (round to nearest), theta = -0.0 and g = 1 give -0.0 + 1*(-0.0) = -0.0 for lr = 0.0
    but -0.0 + 1*(+0.0) = +0.0 for lr = -0.0, although 0.0 == -0.0."""
    p = np.full((2, 1, 1), -0.0)
    Optimizer("sgd", [{}, {}], [p]).update([p], [np.ones((2, 1, 1))], np.array([0.0, -0.0]))
    assert np.signbit(p[:, 0, 0]).tolist() == [True, False]
    for lr, sign in ((0.0, True), (-0.0, False)):
        q = np.full((1, 1, 1), -0.0)
        Optimizer("sgd", [{}], [q]).update([q], [np.ones((1, 1, 1))], np.array([lr]))
        assert bool(np.signbit(q[0, 0, 0])) is sign


@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("momentum", {"weight_decay": 1e-3}),
        ("nesterov", {}),
        ("rmsprop", {"centered": True, "momentum": 0.5}),
        ("adam", {"amsgrad": True}),
        ("adamw", {}),
        ("nadam", {}),
        ("adagrad", {"lr_decay": 0.01}),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_equal_hyperparameters_and_learning_rates_give_the_bits_of_one_alone(name, given, dtype):
    """A stack whose configurations share every hyperparameter, with equal learning rates at
    even steps and different ones at odd steps, gives each configuration the bits it gets
    alone (shapes above and below numpy's ufunc buffer: 5x4, 1x4 and 130x70)."""
    K, shapes, steps = 3, [(5, 4), (1, 4), (130, 70)], 12
    rng = np.random.default_rng(7)
    init = [rng.standard_normal((K, *s)).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal((K, *s)).astype(dtype) for s in shapes] for _ in range(steps)]
    lrs = 10 ** rng.uniform(-3, -1, (steps, K))
    lrs[::2] = lrs[::2, :1]

    def run(rows):
        params = [p[rows].copy() for p in init]
        opt = Optimizer(name, [given] * len(rows), params)
        for t in range(steps):
            opt.update(params, [g[rows].copy() for g in grads[t]], lrs[t, rows])
        return params

    stacked = run(np.arange(K))
    for k in range(K):
        for got, want in zip(stacked, run(np.array([k])), strict=True):
            assert np.array_equal(got[k : k + 1], want)
