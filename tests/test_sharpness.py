"""Sharpness (the top Hessian eigenvalue of the training loss) against the exact value: numpy's
eigvalsh of the explicit Hessian, written out here for least squares (A.T A / n) and for
multinomial logistic regression (sum_i kron(a_i a_i.T, diag(p_i) - p_i p_i.T) / n), and of a
small MLP's Hessian built column by column from central differences of its gradient. Then the
engine's tracking: same bits alone or in a group, kept in the run file, absent when untracked."""

from __future__ import annotations

import numpy as np
import pytest

from lrbench.config import validate
from lrbench.core.engine import train_group
from lrbench.core.models import Model
from lrbench.core.sharpness import hessian_vector, top_eigenvalue
from lrbench.sweep.store import result_from_json, result_to_json, sharpness_rows


def design(n: int = 60, d: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) * np.array([3.0, 1.0, 0.5, 0.2])[:d]


def stacked(model: Model, rng: np.random.Generator, K: int, scale: float) -> list[np.ndarray]:
    return [scale * rng.standard_normal((K, *p.shape[1:])) for p in model.init([rng] * K)]


def test_least_squares_sharpness_is_the_top_eigenvalue_of_the_gram_matrix():
    X = design()
    y = np.random.default_rng(1).standard_normal(X.shape[0])
    model = Model("linear", None, X.shape[1], 1)
    params = stacked(model, np.random.default_rng(2), 3, 1.0)  # the Hessian does not depend on it
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    exact = np.linalg.eigvalsh(A.T @ A / X.shape[0])[-1]
    got = top_eigenvalue(model, params, X, y, iters=500, tol=1e-13)
    np.testing.assert_allclose(got, exact, rtol=1e-9)


def logistic_hessian(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Hessian of mean softmax cross-entropy in vec([W; b]) (row-major), by its formula."""
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    Z = A @ np.vstack([W, b])
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    H = sum(np.kron(np.outer(a, a), np.diag(p) - np.outer(p, p)) for a, p in zip(A, P))
    return H / X.shape[0]


def test_logistic_sharpness_against_the_explicit_hessian():
    X = design(d=3)
    C = 3
    y = np.random.default_rng(3).integers(0, C, X.shape[0])
    model = Model("logreg", None, X.shape[1], C)
    params = stacked(model, np.random.default_rng(4), 2, 0.7)  # away from zero: p not uniform
    got = top_eigenvalue(model, params, X, y, iters=1000, tol=1e-13)
    for k in range(2):
        H = logistic_hessian(X, params[0][k], params[1][k])
        np.testing.assert_allclose(got[k], np.linalg.eigvalsh(H)[-1], rtol=1e-8)
        # and the product itself, on one direction
        v = np.random.default_rng(5).standard_normal(H.shape[0])
        V = [v[: 3 * C].reshape(1, 3, C), v[3 * C :].reshape(1, 1, C)]
        hv = hessian_vector(model, [p[k : k + 1] for p in params], X, y, V)
        np.testing.assert_allclose(np.concatenate([h.ravel() for h in hv]), H @ v, rtol=1e-10)


def test_mlp_sharpness_by_finite_differences_against_a_column_by_column_hessian():
    X = design(n=40, d=2)
    y = (X[:, 0] > 0).astype(np.int64)
    model = Model("mlp", {"hidden": [4], "activation": "tanh"}, 2, 2)
    params = model.init([np.random.default_rng(7)])
    sizes = [p[0].size for p in params]

    def grad(theta: np.ndarray) -> np.ndarray:
        parts, start = [], 0
        for p, size in zip(params, sizes):
            parts.append(theta[start : start + size].reshape(p.shape))
            start += size
        _, g = model.loss_and_grad(parts, X[None], y[None])
        return np.concatenate([x.ravel() for x in g])

    theta = np.concatenate([p.ravel() for p in params])
    h = 1e-5
    H = np.column_stack(
        [(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    )
    H = (H + H.T) / 2
    w = np.linalg.eigvalsh(H)
    top = w[np.argmax(np.abs(w))]  # power iteration finds the largest in magnitude
    got = top_eigenvalue(model, params, X, y, iters=2000, tol=1e-12)
    np.testing.assert_allclose(got[0], top, rtol=1e-5)


TRACKED = {
    "tasks": [{"dataset": "moons", "model": "mlp", "hidden": [8], "n_samples": 60}],
    "train": {"steps": 6, "batch_size": "full", "eval_every": 3, "track": ["sharpness"]},
    "lr": [0.1, 1.0],
}


def test_tracked_sharpness_same_bits_alone_and_in_the_file():
    specs = validate(TRACKED).specs()
    together = train_group(specs)
    for spec, res in zip(specs, together):
        (alone,) = train_group([spec])
        assert np.array_equal(alone.eval_sharpness, res.eval_sharpness)
        assert res.eval_sharpness.shape == res.eval_step.shape == (3,)
        back = result_from_json(result_to_json(res))
        assert np.array_equal(back.eval_sharpness, res.eval_sharpness)
    rows = sharpness_rows(together)
    assert len(rows) == 2 * 3
    first = rows[0]
    assert first["step"] == 0 and first["lr"] == 0.1 and first["two_over_lr"] == pytest.approx(20)


def test_untracked_runs_measure_nothing_and_keep_their_files():
    plain = {**TRACKED, "train": {**TRACKED["train"], "track": []}}
    spec = validate(plain).specs()[0]
    assert "track" not in spec.to_dict()["train"]
    (res,) = train_group([spec])
    assert res.eval_sharpness is None and "sharpness" not in result_to_json(res)["eval"]
