"""The compiled kernels (lrbench/core/_fused.c) against lrbench's numpy code, bit for bit.

The claim is identity, so the reference is the numpy implementation itself (which the
optimizer and model tests check against hand computation and torch): each case runs the same
optimizer, or the same model pass, twice from the same state, once with the compiled module
and once with it switched off, and compares every result by its bits. Inputs include values
that exercise rounding (random magnitudes over many decades), signed zeros, infinities and
NaN (NaN compares equal to NaN whatever its payload).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from lrbench.core import kernels, models
from lrbench.core.models import Model
from lrbench.core.optimizers import Optimizer

pytestmark = pytest.mark.skipif(
    kernels.compiled is None, reason="lrbench.core._fused is not built (no C compiler?)"
)

SHAPES = [(3, 5, 7), (3, 1, 7), (3, 4, 1)]


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int64 if a.dtype == np.float64 else np.int32)


def _awkward(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Values over many decades, both signs, with a few exact zeros of both signs."""
    a = rng.normal(size=shape) * 10.0 ** rng.integers(-6, 4, size=shape)
    flat = a.reshape(-1)
    flat[:: max(1, flat.size // 3)] = 0.0
    flat[1 :: max(1, flat.size // 2)] = -0.0
    return a.astype(dtype)


def _run_both(name, hparams, dtype, steps=4, moms=None, special=False, seed=0):
    """Run ``steps`` updates with and without the compiled module; return both runs'
    parameters and state."""
    rng = np.random.default_rng(seed)
    K = len(hparams)
    shapes = [(K, *s[1:]) for s in SHAPES]
    params = [_awkward(rng, s, dtype) for s in shapes]
    grads = [[_awkward(rng, s, dtype) for s in shapes] for _ in range(steps)]
    if special:  # non-finite gradients in one configuration's row
        grads[1][0][0, 0, :3] = [np.inf, -np.inf, np.nan]
    lrs = [rng.uniform(1e-4, 1.0, size=K) for _ in range(steps)]
    out = []
    for fused in (kernels.compiled, None):
        saved = kernels.compiled
        kernels.compiled = fused
        try:
            p = [x.copy() for x in params]
            opt = Optimizer(name, hparams, p, cycle_momentum=moms is not None)
            with np.errstate(all="ignore"):  # as in training: non-finite values are results
                for t in range(steps):
                    mom = None if moms is None else moms[t]
                    opt.update(p, [g.copy() for g in grads[t]], lrs[t], mom)
            out.append((p, opt.state))
        finally:
            kernels.compiled = saved
    return out


def _assert_same(runs) -> None:
    (p1, s1), (p2, s2) = runs
    for a, b in zip(p1, p2, strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    for st1, st2 in zip(s1, s2, strict=True):
        assert st1.keys() == st2.keys()
        for n in st1:
            np.testing.assert_array_equal(_bits(st1[n]), _bits(st2[n]))


CASES = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.01}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("momentum", {}),
    ("adam", {}),
    ("adam", {"weight_decay": 0.01}),
    ("adam", {"betas": [0.8, 0.99], "eps": 1e-3}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "hp"), CASES)
def test_same_bits_as_numpy_one_set_of_hyperparameters(name, hp, dtype):
    """Equal hyperparameters: numpy runs them as scalar operands."""
    _assert_same(_run_both(name, [hp] * 3, dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "hp"), CASES)
def test_same_bits_as_numpy_with_non_finite_gradients(name, hp, dtype):
    _assert_same(_run_both(name, [hp] * 3, dtype, special=True, seed=1))


@pytest.mark.parametrize(
    ("name", "hps"),
    [
        ("sgd", [{"momentum": m} for m in (0.5, 0.9, 0.99)]),
        ("sgd", [{"weight_decay": w} for w in (0.001, 0.01, 0.1)]),
        ("adam", [{"betas": [b, 0.999]} for b in (0.5, 0.9, 0.95)]),
        ("adam", [{"betas": [0.9, b]} for b in (0.99, 0.999, 0.9999)]),
        ("adamw", [{"weight_decay": w} for w in (0.001, 0.01, 0.1)]),
    ],
)
def test_same_bits_as_numpy_per_configuration_hyperparameters(name, hps):
    """Different hyperparameters per configuration: numpy broadcasts (K, 1, 1) columns."""
    _assert_same(_run_both(name, hps, "float64"))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_same_bits_as_numpy_with_cycled_momentum(name):
    """cycle_momentum: the momentum (SGD) or beta1 (Adam) changes every step; a 0 at the
    first step keeps SGD's buffer unset until the next."""
    rng = np.random.default_rng(2)
    moms = [np.zeros(3)] + [rng.uniform(0.8, 0.95, size=3) for _ in range(3)]
    _assert_same(_run_both(name, [{}] * 3, "float64", moms=moms))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_strided_momentum_vector_reaches_the_kernel(dtype):
    """Under cycle_momentum the engine passes a row of its (steps, K) momentum table, which is
    a strided view after a keep (``table[:, idx]``). Regression: in float64 it went to the
    kernel as it was, and the kernel refused it ("ndarray is not C-contiguous")."""
    table = np.full((4, 3), 0.9, dtype=dtype)[:, [2, 0, 1]]
    assert not table[1].flags.c_contiguous
    runs = []
    for fused in (kernels.compiled, None):
        saved = kernels.compiled
        kernels.compiled = fused
        try:
            p = [np.ones((3, 2, 2), dtype=dtype)]
            opt = Optimizer("sgd", [{}] * 3, p, cycle_momentum=True)
            for t in range(3):
                opt.update(p, [np.ones((3, 2, 2), dtype=dtype)], np.full(3, 0.1), table[t])
            runs.append((p, opt.state))
        finally:
            kernels.compiled = saved
    _assert_same(runs)


def test_non_contiguous_arrays_run_the_numpy_code(monkeypatch):
    """A gradient that is not C-contiguous is never given to the compiled module."""
    calls = []

    class Spy:
        def sgd(self, *args):
            calls.append(args)
            return saved.sgd(*args)

    saved = kernels.compiled
    monkeypatch.setattr(kernels, "compiled", Spy())
    p = [np.ones((2, 3, 4))]
    opt = Optimizer("sgd", [{}, {}], p)
    opt.update(p, [np.ones((2, 4, 3)).transpose(0, 2, 1)], np.array([0.1, 0.2]))
    assert calls == []
    np.testing.assert_array_equal(p[0][1], np.full((3, 4), 0.8))
    opt.update(p, [np.ones((2, 3, 4))], np.array([0.1, 0.2]))
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("name", "given", "kernel"),
    [
        ("sgd", {}, "sgd"),
        ("momentum", {"dampening": 0.1}, "sgd"),
        ("nesterov", {"weight_decay": 0.1}, "sgd"),
        ("adam", {"weight_decay": 0.1}, "adam"),
        ("adamw", {}, "adam"),
        ("amsgrad", {}, None),
        ("adamw", {"amsgrad": True}, None),
        ("adagrad", {}, None),
        ("rmsprop", {"momentum": 0.9}, None),
        ("nadam", {}, None),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_rule_runs_its_kernel_where_there_is_one(monkeypatch, name, given, kernel, dtype):
    """The rules with a kernel (SGD; Adam and AdamW without amsgrad) call it once per
    parameter array; the others never do (their numpy code runs)."""
    calls = []
    saved = kernels.compiled

    class Spy:
        def sgd(self, *args):
            calls.append("sgd")
            return saved.sgd(*args)

        def adam(self, *args):
            calls.append("adam")
            return saved.adam(*args)

    monkeypatch.setattr(kernels, "compiled", Spy())
    p = [np.ones((2, 3, 4), dtype=dtype), np.ones((2, 1, 4), dtype=dtype)]
    opt = Optimizer(name, [given, given], p)
    opt.update(p, [np.ones_like(x) for x in p], np.array([0.1, 0.2]))
    assert calls == ([kernel] * 2 if kernel else [])


def test_the_module_checks_its_arguments():
    f = kernels.compiled
    p = np.zeros((2, 3))
    with pytest.raises(TypeError, match="float64 or float32"):
        f.sgd(p, p.astype(np.float32), None, np.ones(2), None, None, None, False, False)
    with pytest.raises(ValueError, match="expected 6"):
        f.sgd(p, np.zeros(5), None, np.ones(2), None, None, None, False, False)
    with pytest.raises(ValueError, match="do not split"):
        f.sgd(p, p, None, np.ones(4), None, None, None, False, False)
    with pytest.raises((BufferError, ValueError), match="contiguous"):
        f.sgd(p, np.zeros((3, 2)).T, None, np.ones(2), None, None, None, False, False)
    with pytest.raises(TypeError, match="mu is required"):
        f.sgd(p, p, np.zeros((2, 3)), np.ones(2), None, None, None, False, False)
    with pytest.raises(TypeError, match="takes 12"):
        f.adam(p, p)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        f.bias_relu(p, np.zeros(3), 2, 2, True)
    with pytest.raises(ValueError, match="b has 3 values, expected 4"):
        f.bias_relu(np.zeros((2, 2, 3)), np.zeros(3), 2, 2, True)
    with pytest.raises(ValueError, match="K must be positive"):
        f.relu_grad(p, p, np.zeros(3), 0, 1)
    with pytest.raises(ValueError, match="db has 2 values, expected 6"):
        f.relu_grad(p, p, np.zeros(2), 2, 1)


def test_copy_of_an_optimizer_keeps_using_the_module():
    """Optimizer.keep (forks and divergence) and copies share the module-level switch."""
    opt = Optimizer("adam", [{}] * 3, [np.zeros((3, 2, 2))])
    twin = copy.deepcopy(opt)
    twin.keep(np.array([2, 0]))
    p = [np.ones((2, 2, 2))]
    twin.update(p, [np.ones((2, 2, 2))], np.array([0.1, 0.1]))
    assert np.all(p[0] < 1)


def _same_or_both_nan(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(_bits(a[~nan]), _bits(b[~nan]))


def _model_both(monkeypatch, hidden, dtype, K=3, B=29, special=False, seed=0, shared=False):
    rng = np.random.default_rng(seed)
    if hidden is None:  # logreg: zero initialisation, so every logit ties at first
        model = Model("logreg", None, 6, 4, dtype)
    else:
        model = Model("mlp", {"hidden": hidden}, 6, 4, dtype)
    params = model.init([np.random.default_rng(seed + k) for k in range(K)])
    if special:  # a zero weight row gives exact zeros; huge values give inf and NaN
        params[0][0, 0, :] = 0.0
        params[1][0, 0, 0] = -0.0
        params[1][1, 0, -1] = np.inf
        params[0][2, 1, :] = np.finfo(dtype).max / 8
    X = np.stack([_awkward(rng, (B, 6), dtype) for _ in range(K)])
    y = rng.integers(0, 4, size=(K, B))
    if shared:  # one minibatch broadcast to the stack, as the engine does for one seed
        X, y = np.broadcast_to(X[0], X.shape), np.broadcast_to(y[0], y.shape)
    Xe, ye = _awkward(rng, (37, 6), dtype), rng.integers(0, 4, size=37)
    out = []
    for fused in (models._fused, None):
        monkeypatch.setattr(models, "_fused", fused)
        with np.errstate(all="ignore"):
            loss, grads = model.loss_and_grad([p.copy() for p in params], X, y)
            ev = model.evaluate(params, Xe, ye)
        out.append((loss, grads, ev))
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", [None, [1], [7], [64], [5, 3]])
@pytest.mark.parametrize("special", [False, True])
@pytest.mark.parametrize(("B", "shared"), [(1, False), (29, False), (29, True)])
def test_model_passes_same_bits_as_numpy(monkeypatch, hidden, dtype, special, B, shared):
    """Training pass (losses and every gradient) and evaluation (loss and accuracy), for
    logreg and MLPs, a batch of one, and a minibatch shared by the stack."""
    (l1, g1, e1), (l2, g2, e2) = _model_both(
        monkeypatch, hidden, dtype, B=B, special=special, shared=shared
    )
    _same_or_both_nan(l1, l2)
    for a, b in zip(g1, g2, strict=True):
        _same_or_both_nan(a, b)
    _same_or_both_nan(e1[0], e2[0])
    _same_or_both_nan(e1[1], e2[1])
    if special:  # the cases above did reach the non-finite and zero paths
        assert not np.isfinite(l1).all() or not all(np.isfinite(g).all() for g in g1)


def test_relu_of_negative_zero_is_positive_zero_as_in_numpy():
    z = np.full((1, 2, 3), -0.0)
    models._fused.bias_relu(z, np.full(3, -0.0), 1, 2, False)
    assert not np.signbit(z).any()
    assert not np.signbit(np.maximum(np.full(3, -0.0), 0)).any()


def test_relu_grad_masks_and_sums_over_the_batch_from_positive_zero():
    """Hand-checked: g * (h > 0), then sums over the batch axis in order from +0.0 (numpy's
    add.reduce: a column of -0.0 sums to +0.0)."""
    g = np.array([[[1.0, -2.0], [3.0, -4.0], [np.inf, -5.0]]])
    h = np.array([[[1.0, 0.0], [0.0, np.nan], [2.0, -1.0]]])
    db = np.empty((1, 2))
    models._fused.relu_grad(g, h, db, 1, 3)
    np.testing.assert_array_equal(g, [[[1.0, -0.0], [0.0, -0.0], [np.inf, -0.0]]])
    assert np.signbit(g[0, :, 1]).all()
    assert db[0, 0] == np.inf and db[0, 1] == 0.0 and not np.signbit(db[0, 1])


def test_class_shift_by_hand():
    """Two columns, three classes. Column 0: a tie at the top between classes 0 and 2
    (np.argmax takes the first), label 0; column 1: a NaN in class 1, label 1 (the first NaN
    is the argmax; the maximum and every shifted value are NaN)."""
    z = np.array([[[2.0, 1.0], [1.0, np.nan], [2.0, 5.0]]])
    picked = np.empty((1, 2))
    hits = np.zeros(1, dtype=np.int64)
    models._fused.class_shift(z, np.array([0, 1]), picked, hits, 1, 3)
    np.testing.assert_array_equal(z[0, :, 0], [0.0, -1.0, 0.0])
    assert np.isnan(z[0, :, 1]).all()
    assert picked[0, 0] == 0.0 and np.isnan(picked[0, 1])
    assert hits[0] == 2
    with pytest.raises(ValueError, match="label 3 is not a class of 3"):
        models._fused.class_shift(z, np.array([0, 3]), picked, hits, 1, 3)


def test_softmax_grad_by_hand():
    """e = [1, 3] over two classes for one example with label 1, batch of 2 (the second
    example: e = [2, 2], label 0): s = [4, 4]; gradient ((e / s) - onehot) / 2."""
    e = np.array([[[1.0, 2.0], [3.0, 2.0]]])
    s = np.empty((1, 2))
    models._fused.softmax_grad(e, np.array([1, 0]), s, 1, 2, 2)
    np.testing.assert_array_equal(s, [[4.0, 4.0]])
    np.testing.assert_array_equal(e[0], [[0.125, -0.25], [-0.125, 0.25]])


def test_a_module_missing_a_kernel_is_not_used():
    """A module built from an older _fused.c (a function missing) falls back to numpy."""
    import types

    from lrbench.core import kernels

    stale = types.ModuleType("stale")
    for name in kernels.FUNCTIONS[:-1]:
        setattr(stale, name, len)
    assert kernels.usable(stale) is None
    stale.softmax_grad = len
    assert kernels.usable(stale) is stale
    assert kernels.usable(None) is None
    assert kernels.usable(models._fused) is models._fused
