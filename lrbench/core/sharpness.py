"""Sharpness: the largest eigenvalue of the Hessian of the full training loss, per configuration.

``train.track: [sharpness]`` asks the engine for it at every evaluation point
(:class:`lrbench.spec.RunResult`'s ``eval_sharpness``). Gradient descent with learning rate
``lr`` is stable on a quadratic only while the sharpness stays below ``2/lr``; Cohen et al.
(2021, "Gradient descent on neural networks typically occurs at the edge of stability") found
that on neural networks it rises until it reaches ``2/lr`` and then hovers there.

Power iteration with Hessian-vector products (:func:`top_eigenvalue`), on every row of a stack
at once, each row with its own vector and its own stopping point:

- ``v_0``: one fixed unit vector (a Gaussian draw from ``SEED``, the same for every row, so a
  row's value does not depend on its group);
- ``w = H v_i``, ``lam_i = v_i . w`` (the Rayleigh quotient), ``v_{i+1} = w / |w|``; a row stops
  (its value frozen) once ``|lam_i - lam_{i-1}| <= tol |lam_i|``, or after ``iters`` products.

It converges to the eigenvalue of largest magnitude: the largest one for the convex models
(their Hessians are positive semi-definite), and for ``mlp`` whenever the negative curvature is
smaller in size than the positive one (the usual case; a negative value says otherwise).

The products, in float64 whatever the training dtype:

- ``linear`` (exact): ``H = A.T A / n`` with ``A = [X 1]``, so ``H v = A.T (A v) / n``;
- ``logreg`` (exact): with ``p_i = softmax(z_i)`` and ``dz = A V`` (``V`` the direction as
  weights and bias), ``H V = A.T r / n``, ``r_i = p_i * dz_i - p_i (p_i . dz_i)`` (the softmax
  Jacobian ``diag(p) - p p.T`` applied to each row);
- ``mlp`` (central differences of gradients): ``H v = (g(theta + e v) - g(theta - e v)) / (2e)``
  with ``e = eps**(1/3) * max(1, |theta|)`` (``eps`` of float64, ``|v| = 1``), whose error is
  ``O(e**2)`` from the third derivative plus ``O(eps |g| / e)`` from round-off.

Its cost is zero unless tracked: the engine calls it only at evaluation points of groups with
``train.track: [sharpness]``.
"""

from __future__ import annotations

import numpy as np

from lrbench.core.models import Model

SEED = 20210226  # draws v_0 (the arXiv date of Cohen et al.)
ITERS = 100  # Hessian-vector products at most per estimate
TOL = 1e-6  # relative change of the Rayleigh quotient that stops a row


def hessian_vector(
    model: Model, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, V: list[np.ndarray]
) -> list[np.ndarray]:
    """``H V`` per row of the stack: the Hessian of the full-batch loss on ``(X, y)`` at
    ``params`` (each ``(K, ...)``) times directions ``V`` (shapes of ``params``), float64."""
    if model.name == "mlp":
        return _finite_difference(model, params, X, y, V)
    W, b = params
    VW, Vb = V
    dz = np.matmul(X, VW)
    dz += Vb
    n = X.shape[0]
    if model.name == "linear":
        r = dz
    else:
        z = np.matmul(X, W)
        z += b
        z -= z.max(axis=2, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=2, keepdims=True)
        r = p * dz
        r -= p * r.sum(axis=2, keepdims=True)
    return [np.matmul(X.T, r) / n, r.sum(axis=1, keepdims=True) / n]


def _finite_difference(
    model: Model, params: list[np.ndarray], X: np.ndarray, y: np.ndarray, V: list[np.ndarray]
) -> list[np.ndarray]:
    """Central differences of the full-batch gradient along ``V`` (unit rows), float64."""
    K = params[0].shape[0]
    norm = np.sqrt(sum((p.reshape(K, -1) ** 2).sum(axis=1) for p in params))
    e = np.finfo(np.float64).eps ** (1 / 3) * np.maximum(1.0, norm)
    shape = (K,) + (1,) * (params[0].ndim - 1)
    step = e.reshape(shape)
    Xs = np.broadcast_to(X, (K, *X.shape))
    ys = np.broadcast_to(y, (K, *y.shape))
    plus = [np.ascontiguousarray(p + step * v) for p, v in zip(params, V)]
    minus = [np.ascontiguousarray(p - step * v) for p, v in zip(params, V)]
    _, g_plus = model.loss_and_grad(plus, Xs, ys)
    _, g_minus = model.loss_and_grad(minus, Xs, ys)
    return [(gp - gm) / (2 * step) for gp, gm in zip(g_plus, g_minus)]


def top_eigenvalue(
    model: Model,
    params: list[np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    iters: int = ITERS,
    tol: float = TOL,
) -> np.ndarray:
    """The largest-magnitude Hessian eigenvalue of the full-batch loss, ``(K,)``, by power
    iteration (module docstring). Rows with non-finite parameters give NaN."""
    params = [np.asarray(p, dtype=np.float64) for p in params]
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64) if model.task == "regression" else np.asarray(y)
    K = params[0].shape[0]
    sizes = [int(np.prod(p.shape[1:])) for p in params]
    v = np.random.default_rng(SEED).standard_normal(sum(sizes))
    v = np.broadcast_to(v / np.linalg.norm(v), (K, v.size)).copy()
    value = np.full(K, np.nan)
    done = np.zeros(K, dtype=bool)
    for _ in range(iters):
        hv = _flat(hessian_vector(model, params, X, y, _split(v, params, sizes)), K)
        lam = (v * hv).sum(axis=1)
        settled = np.abs(lam - value) <= tol * np.abs(lam)
        value = np.where(done, value, lam)
        done |= settled | ~np.isfinite(lam)
        if done.all():
            break
        norm = np.linalg.norm(hv, axis=1, keepdims=True)
        v = np.where(norm > 0, hv / np.where(norm > 0, norm, 1.0), v)
    return value


def _split(v: np.ndarray, params: list[np.ndarray], sizes: list[int]) -> list[np.ndarray]:
    """Flat directions ``(K, P)`` as arrays shaped like ``params``."""
    out, start = [], 0
    for p, size in zip(params, sizes):
        out.append(v[:, start : start + size].reshape(p.shape))
        start += size
    return out


def _flat(arrays: list[np.ndarray], K: int) -> np.ndarray:
    return np.concatenate([a.reshape(K, -1) for a in arrays], axis=1)
