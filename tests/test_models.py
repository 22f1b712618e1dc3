"""Models on stacked parameters (lrbench.core.models).

Expected values come from central finite differences, closed forms (least squares via the
eigendecomposition, np.linalg.lstsq), scikit-learn's LogisticRegression, hand-drawn numpy
uniforms, the FLOP counts in /work/shared/reference/performance.md, and PyTorch autograd
(when torch is importable).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrbench.core.data import load_data
from lrbench.core.models import MODELS, Model, model_task, resolve_model, smoothness
from lrbench.errors import ConfigError

CASES = {
    "logreg": ("logreg", {}, 3),
    "mlp-relu": ("mlp", {"hidden": [5, 4], "activation": "relu"}, 3),
    "mlp-tanh": ("mlp", {"hidden": [6], "activation": "tanh"}, 4),
    "linear": ("linear", {}, 1),
}


def _problem(case: str, K: int, B: int, d: int = 4, seed: int = 0):
    """A model, random stacked parameters (perturbed from init), and per-config batches."""
    name, hp, C = CASES[case]
    rng = np.random.default_rng(seed)
    model = Model(name, hp, d, C)
    params = model.init([np.random.default_rng(100 + k) for k in range(K)])
    params = [p + 0.3 * rng.standard_normal(p.shape) for p in params]
    X = rng.standard_normal((K, B, d))
    y = rng.integers(0, C, (K, B)) if C > 1 else rng.standard_normal((K, B))
    return model, params, X, y


def _flat(params):
    return np.concatenate([p.reshape(p.shape[0], -1) for p in params], axis=1)


# --- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_matches_central_differences(case: str) -> None:
    K, B, h = 2, 7, 1e-6
    model, params, X, y = _problem(case, K, B)
    if CASES[case][1].get("activation") == "relu":
        # stay away from ReLU kinks: every hidden pre-activation is far from 0 relative to h
        z = X
        for i in range(len(model.layers) - 1):
            z = z @ params[2 * i] + params[2 * i + 1]
            assert np.abs(z).min() > 1e-4
            z = np.maximum(z, 0)
    _, grads = model.loss_and_grad(params, X, y)
    for p, g in zip(params, grads):
        assert g.shape == p.shape
        numeric = np.empty_like(p)
        for idx in np.ndindex(p.shape[1:]):
            # the same entry of every configuration at once: configurations are independent
            old = p[(slice(None), *idx)].copy()
            p[(slice(None), *idx)] = old + h
            up, _ = model.loss_and_grad(params, X, y)
            p[(slice(None), *idx)] = old - h
            down, _ = model.loss_and_grad(params, X, y)
            p[(slice(None), *idx)] = old
            numeric[(slice(None), *idx)] = (up - down) / (2 * h)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", sorted(CASES))
def test_configuration_alone_or_stacked_is_bit_identical(case: str) -> None:
    K, B = 6, 33
    model, params, X, y = _problem(case, K, B, d=9)
    loss, grads = model.loss_and_grad(params, X, y)
    rng = np.random.default_rng(5)
    Xs = rng.standard_normal((50, 9))
    ys = y[0, :1].repeat(50) if model.task == "regression" else rng.integers(0, CASES[case][2], 50)
    ev_loss, ev_acc = model.evaluate(params, Xs, ys)
    for k in range(K):
        one = [p[k : k + 1] for p in params]
        loss1, grads1 = model.loss_and_grad(one, X[k : k + 1], y[k : k + 1])
        assert np.array_equal(loss1, loss[k : k + 1])
        assert all(np.array_equal(a, b[k : k + 1]) for a, b in zip(grads1, grads))
        l1, a1 = model.evaluate(one, Xs, ys)
        assert np.array_equal(l1, ev_loss[k : k + 1])
        if ev_acc is not None:
            assert np.array_equal(a1, ev_acc[k : k + 1])
    # full batch as the engine passes it: one data array broadcast over K (zero stride)
    XB, yB = np.broadcast_to(Xs, (K, *Xs.shape)), np.broadcast_to(ys, (K, *ys.shape))
    lb, gb = model.loss_and_grad(params, XB, yB)
    lc, gc = model.loss_and_grad(params, XB.copy(), yB.copy())
    assert np.array_equal(lb, lc) and all(np.array_equal(a, b) for a, b in zip(gb, gc))
    np.testing.assert_allclose(ev_loss, lb, rtol=1e-14)


def test_float32_stays_float32() -> None:
    model = Model("mlp", {"hidden": [8]}, 5, 3, dtype="float32")
    params = model.init([np.random.default_rng(0), np.random.default_rng(1)])
    X = np.random.default_rng(2).standard_normal((2, 4, 5)).astype(np.float32)
    y = np.zeros((2, 4), dtype=np.int64)
    loss, grads = model.loss_and_grad(params, X, y)
    assert all(p.dtype == np.float32 for p in params)
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


# --- logistic regression against scikit-learn ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("moons", {}),
        (
            "classification",
            {
                "n_samples": 300,
                "n_features": 5,
                "n_informative": 3,
                "n_classes": 3,
                "class_sep": 0.5,
                "flip_y": 0.05,
            },
        ),
    ],
)
def test_logreg_gradient_descent_reaches_sklearn_optimum(name: str, params: dict) -> None:
    """Non-separable data, so the unregularised optimum exists; sklearn solves it with lbfgs."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    data = load_data(name, params, task="classification", target=None)
    X, y = data.X_train, data.y_train
    clf = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    best = log_loss(y, clf.predict_proba(X))
    model = Model("logreg", {}, data.n_features, data.n_classes)
    theta = model.init([np.random.default_rng(0)])
    lr = 1.0 / smoothness("logreg", X, y, data.n_classes)
    for _ in range(500):
        _, grads = model.loss_and_grad(theta, X[None], y[None])
        for p, g in zip(theta, grads):
            p -= lr * g
    loss, _ = model.evaluate(theta, X, y)
    assert abs(loss[0] - best) < 1e-6


# --- least squares: closed forms --------------------------------------------------------------


def _regression():
    data = load_data(
        "regression",
        {"n_samples": 200, "n_features": 6, "noise": 5.0},
        task="regression",
        target=None,
    )
    X, y = data.X_train, data.y_train
    A = np.hstack([X, np.ones((len(X), 1))])
    return X, y, A


def _gd(model, theta, X, y, lrs, steps):
    """Full-batch gradient descent, one learning rate per configuration; losses before each step."""
    K = len(lrs)
    XB, yB = np.broadcast_to(X, (K, *X.shape)), np.broadcast_to(y, (K, *y.shape))
    out = []
    for _ in range(steps):
        loss, grads = model.loss_and_grad(theta, XB, yB)
        out.append(loss)
        for p, g in zip(theta, grads):
            p -= lrs[:, None, None] * g
    return np.array(out)


def test_least_squares_follows_the_closed_form_and_reaches_lstsq() -> None:
    X, y, A = _regression()
    n = len(y)
    lam, V = np.linalg.eigh(A.T @ A / n)
    theta_star = np.linalg.lstsq(A, y, rcond=None)[0]
    f_star = 0.5 * np.mean((A @ theta_star - y) ** 2)
    c = V.T @ (0.0 - theta_star)  # start at zero
    model = Model("linear", {}, X.shape[1], 1)
    theta = model.init([None, None])
    lrs = np.array([1.0 / lam[-1], 0.5 / lam[-1]])
    losses = _gd(model, theta, X, y, lrs, 6)
    for t in range(6):
        closed = f_star + 0.5 * np.sum(lam * c**2 * (1 - lrs[:, None] * lam) ** (2 * t), axis=1)
        np.testing.assert_allclose(losses[t], closed, rtol=1e-10)
    _gd(model, theta, X, y, lrs, 400)
    fitted = np.concatenate([theta[0][0, :, 0], theta[1][0, 0]])
    np.testing.assert_allclose(fitted, theta_star, rtol=1e-9, atol=1e-9)


def _hessian(model, theta, X, y, h=1e-4):
    """Central differences of the analytic gradient (exact up to round-off for a quadratic)."""
    flat = _flat(theta)[0]
    H = np.empty((flat.size, flat.size))
    shapes = [p.shape for p in theta]

    def grad(v):
        ps, i = [], 0
        for s in shapes:
            size = int(np.prod(s))
            ps.append(v[i : i + size].reshape(s).copy())
            i += size
        return _flat(model.loss_and_grad(ps, X[None], y[None])[1])[0]

    for j in range(flat.size):
        e = np.zeros_like(flat)
        e[j] = h
        H[:, j] = (grad(flat + e) - grad(flat - e)) / (2 * h)
    return 0.5 * (H + H.T)


def test_smoothness_linear_is_the_top_hessian_eigenvalue() -> None:
    X, y, _ = _regression()
    model = Model("linear", {}, X.shape[1], 1)
    H = _hessian(model, model.init([None]), X, y)
    np.testing.assert_allclose(smoothness("linear", X, y, 0), np.linalg.eigvalsh(H)[-1], rtol=1e-8)


def test_descent_lemma_threshold_at_two_over_L() -> None:
    X, y, A = _regression()
    f_star = 0.5 * np.mean((A @ np.linalg.lstsq(A, y, rcond=None)[0] - y) ** 2)
    L = smoothness("linear", X, y, 0)
    model = Model("linear", {}, X.shape[1], 1)
    theta = model.init([None, None])
    losses = _gd(model, theta, X, y, np.array([1.98 / L, 2.02 / L]), 600)
    below, above = losses[:, 0] - f_star, losses[:, 1] - f_star
    # below 2/L every term of the closed form shrinks each step; the top mode by 0.98**2
    assert np.all(np.diff(below) <= 1e-12 * losses[:-1, 0])
    assert below[-1] < 1e-8 * below[0]
    # above 2/L the top mode grows by 1.02**2 a step (1.02**1200 is about 2e10)
    assert above[-1] > 1e6 * above[0]


def test_smoothness_logreg_bounds_the_hessian_and_is_tight_at_zero_for_two_classes() -> None:
    data = load_data("moons", {"n_samples": 120}, task="classification", target=None)
    X, y = data.X_train, data.y_train
    L = smoothness("logreg", X, y, 2)
    model = Model("logreg", {}, 2, 2)
    zero = model.init([None])
    np.testing.assert_allclose(np.linalg.eigvalsh(_hessian(model, zero, X, y))[-1], L, rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = [rng.standard_normal(p.shape) for p in zero]
        assert np.linalg.eigvalsh(_hessian(model, theta, X, y))[-1] <= L * (1 + 1e-6)
    three = load_data("iris", {}, task="classification", target=None)
    model3 = Model("logreg", {}, 4, 3)
    H = _hessian(model3, model3.init([None]), three.X_train, three.y_train)
    assert np.linalg.eigvalsh(H)[-1] <= smoothness("logreg", three.X_train, three.y_train, 3)
    assert smoothness("mlp", X, y, 2) is None


# --- initialisation --------------------------------------------------------------------------


def test_mlp_init_draw_order_and_independence_of_K() -> None:
    model = Model("mlp", {"hidden": [5, 3]}, 4, 2)
    seeds = [11, 12, 13, 14]
    four = model.init([np.random.default_rng(s) for s in seeds])
    one = model.init([np.random.default_rng(12)])
    assert all(np.array_equal(a[0], b[1]) for a, b in zip(one, four))
    rng = np.random.default_rng(
        12
    )  # the documented order: layer by layer, weight (out, in) then bias
    for i, (d_in, d_out) in enumerate([(4, 5), (5, 3), (3, 2)]):
        bound = 1 / math.sqrt(d_in)
        np.testing.assert_array_equal(four[2 * i][1], rng.uniform(-bound, bound, (d_out, d_in)).T)
        np.testing.assert_array_equal(four[2 * i + 1][1, 0], rng.uniform(-bound, bound, d_out))
    assert [p.shape for p in four] == [
        (4, 4, 5),
        (4, 1, 5),
        (4, 5, 3),
        (4, 1, 3),
        (4, 3, 2),
        (4, 1, 2),
    ]


def test_mlp_init_is_uniform_within_the_torch_bound() -> None:
    stats = pytest.importorskip("scipy.stats")
    model = Model("mlp", {"hidden": [300]}, 100, 10)
    params = model.init([np.random.default_rng(3), np.random.default_rng(4)])
    for p, fan_in in zip(params, [100, 100, 300, 300]):
        bound = 1 / math.sqrt(fan_in)
        u = p.ravel() / bound
        assert u.min() >= -1 and u.max() < 1
        if u.size > 1000:
            assert u.min() < -0.99 and u.max() > 0.99
            assert abs(u.mean()) < 4 * math.sqrt(1 / 3 / u.size)  # 4 standard errors
            assert stats.kstest(u, "uniform", args=(-1, 2)).pvalue > 1e-3


def test_logreg_and_linear_start_at_zero() -> None:
    for name, C in (("logreg", 3), ("linear", 1)):
        params = Model(name, {}, 4, C).init([np.random.default_rng(0)] * 3)
        assert all(p.shape[0] == 3 and not p.any() for p in params)


# --- registry, FLOPs -------------------------------------------------------------------------


def test_registry_and_resolution() -> None:
    assert set(MODELS) == {"logreg", "mlp", "linear"}
    assert [model_task(m) for m in ("logreg", "mlp", "linear")] == [
        "classification",
        "classification",
        "regression",
    ]
    assert resolve_model("mlp", None, "tasks[0]") == {"hidden": (64,), "activation": "relu"}
    assert resolve_model("mlp", {"hidden": [64, 32]}, "t")["hidden"] == (64, 32)
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.model: got 'mpl'.*did you mean 'mlp'"):
        resolve_model("mpl", None, "tasks[0]")
    with pytest.raises(
        ConfigError, match=r"t\.activation: got 'rel'.*relu, tanh.*did you mean 'relu'"
    ):
        resolve_model("mlp", {"activation": "rel"}, "t")
    with pytest.raises(ConfigError, match=r"t\.hidden: got \[\]"):
        resolve_model("mlp", {"hidden": []}, "t")
    with pytest.raises(ConfigError, match=r"t\.hidden"):
        resolve_model("mlp", {"hidden": [0]}, "t")


def test_flops_per_sample_matches_the_w1_reference() -> None:
    # performance.md: logreg 64 -> 10: 2,560; mlp 64 -> 64 -> 10: 20,224 per sample
    assert Model("logreg", {}, 64, 10).flops_per_sample() == 2560
    assert Model("mlp", {"hidden": [64]}, 64, 10).flops_per_sample() == 20224
    # by hand: 4*(8*5) + 6*(5*3) + 6*(3*2)
    assert Model("mlp", {"hidden": [5, 3]}, 8, 2).flops_per_sample() == 160 + 90 + 36


# --- PyTorch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_and_grads_equal_torch_autograd(case: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    K, B = 3, 9
    model, params, X, y = _problem(case, K, B, seed=4)
    loss, grads = model.loss_and_grad(params, X, y)
    rng = np.random.default_rng(9)
    Xe = rng.standard_normal((20, 4))
    ye = (
        rng.integers(0, CASES[case][2], 20)
        if model.task == "classification"
        else rng.standard_normal(20)
    )
    ev_loss, ev_acc = model.evaluate(params, Xe, ye)
    act = torch.tanh if model.tanh else torch.relu
    for k in range(K):
        layers = []
        for i, (d_in, d_out) in enumerate(model.layers):
            lin = torch.nn.Linear(d_in, d_out, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(params[2 * i][k].T))
                lin.bias.copy_(torch.from_numpy(params[2 * i + 1][k, 0]))
            layers.append(lin)

        def forward(x, layers=layers):
            h = torch.from_numpy(x)
            for lin in layers[:-1]:
                h = act(lin(h))
            return layers[-1](h)

        def objective(out, target):
            if model.task == "classification":
                return F.cross_entropy(out, torch.from_numpy(target))
            return 0.5 * F.mse_loss(out[:, 0], torch.from_numpy(target))

        out = objective(forward(X[k]), y[k])
        out.backward()
        assert abs(out.item() - loss[k]) <= 1e-12
        for i, lin in enumerate(layers):
            np.testing.assert_allclose(
                grads[2 * i][k], lin.weight.grad.numpy().T, rtol=0, atol=1e-12
            )
            np.testing.assert_allclose(
                grads[2 * i + 1][k, 0], lin.bias.grad.numpy(), rtol=0, atol=1e-12
            )
        with torch.no_grad():
            logits = forward(Xe)
            assert abs(objective(logits, ye).item() - ev_loss[k]) <= 1e-12
            if ev_acc is not None:
                acc = (logits.argmax(dim=1).numpy() == ye).mean()
                assert acc == ev_acc[k]


def test_accuracy_takes_the_first_maximum_through_ties_inf_and_nan() -> None:
    """Accuracy is ``argmax(logits) == y`` with numpy's argmax rules (first maximum on ties, a
    NaN counts as the maximum); expected counts by hand from the logits each row gets."""
    X = np.array([[1.0, 0.3], [-1.0, 2.0], [0.0, -1.0], [2.0, 0.5], [-3.0, 1.0], [0.5, 0.0]])
    y = np.array([0, 1, 2, 0, 2, 0])  # three 0s, one 1, two 2s
    model = Model("logreg", {}, 2, 3)
    W = np.zeros((6, 2, 3))
    b = np.zeros((6, 1, 3))
    b[0, 0] = [1, 1, 0]  # tie of classes 0 and 1 in every row: predicts 0 -> 3/6
    b[1, 0] = [0, 2, 2]  # tie of 1 and 2: predicts 1 -> 1/6
    b[2, 0] = [np.inf, 0, 0]  # predicts 0 -> 3/6 (loss NaN)
    b[3, 0] = [0, np.nan, 5]  # NaN first at class 1: predicts 1 -> 1/6 (loss NaN)
    W[4, 0] = [1, 1, 0]  # logits (x0, x0, 0): x0 > 0 -> 0, x0 < 0 -> 2, x0 = 0 -> 0 -> 4/6
    W[5] = [[0.5, -1.0, 0.2], [0.1, 0.4, -0.3]]  # no ties: numpy's argmax of X @ W
    expected = [3, 1, 3, 1, 4, int((np.argmax(X @ W[5], axis=1) == y).sum())]
    with np.errstate(all="ignore"):
        loss, acc = model.evaluate([W, b], X, y)
        for k in range(6):
            alone_loss, alone_acc = model.evaluate([W[k : k + 1], b[k : k + 1]], X, y)
            assert np.array_equal(alone_loss, loss[k : k + 1], equal_nan=True)
            assert np.array_equal(alone_acc, acc[k : k + 1])
    assert acc.tolist() == [e / 6 for e in expected]
    assert np.isfinite(loss).tolist() == [True, True, False, False, True, True]
