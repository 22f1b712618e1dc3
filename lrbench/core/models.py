"""Models on stacked parameters: ``logreg``, ``mlp`` and ``linear``.

A model's parameters are a list ``[W1, b1, W2, b2, ...]`` with a leading configuration axis
``K``: ``W`` is ``(K, d_in, d_out)`` and ``b`` is ``(K, 1, d_out)``. A layer computes
``z = h @ W + b``, i.e. PyTorch's ``nn.Linear`` with ``W[k] = linear.weight.T`` and
``b[k, 0] = linear.bias``. Every product is a stacked ``np.matmul`` and every reduction runs over
one configuration's own axis, so a configuration gives bit-identical losses and gradients alone
(``K = 1``) or inside any stack.

Losses are means over the minibatch:

- ``logreg``: multinomial logistic regression, ``F.cross_entropy(X @ W + b, y)`` (softmax
  cross-entropy, also for two classes, with one output per class), zero initialisation.
- ``mlp``: ``Linear -> activation`` for each hidden width, then ``Linear`` to one logit per class,
  softmax cross-entropy; PyTorch's default ``nn.Linear`` initialisation (see :meth:`Model.init`).
- ``linear``: least squares ``0.5 * mean((X @ w + b - y)**2)`` (PyTorch:
  ``0.5 * F.mse_loss(model(X)[:, 0], y)``), zero initialisation, for regression and theory checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrbench.core.kernels import compiled as _fused  # one-pass elementwise work, same bits
from lrbench.errors import ConfigError
from lrbench.params import Entry, Param, lookup, resolve

MODELS: dict[str, Entry] = {
    "logreg": Entry(
        "logreg",
        "multinomial logistic regression (softmax cross-entropy), zero init",
    ),
    "mlp": Entry(
        "mlp",
        "multilayer perceptron, softmax cross-entropy, PyTorch nn.Linear default init",
        (
            Param("hidden", (64,), "ints", "widths of the hidden layers, e.g. [64, 64]", low=1),
            Param(
                "activation", "relu", "choice", "hidden-layer activation", choices=("relu", "tanh")
            ),
        ),
    ),
    "linear": Entry("linear", "least squares 0.5*mean((Xw+b-y)^2), zero init (regression)"),
}

EVAL_ROWS = 4096  # rows per evaluation chunk (fixed, so results do not depend on K)
# Bound on one evaluation activation array. Cache-sized groups of configurations evaluate
# 15-25% faster than one large array (W1, 1437 rows); the grouping never changes the bits.
EVAL_BYTES = 2 * 2**20


def model_task(name: str) -> str:
    """``"regression"`` for ``linear``, else ``"classification"``."""
    lookup(MODELS, name, "model", "model")
    return "regression" if name == "linear" else "classification"


def resolve_model(name: str, given: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    """Validated model parameters with defaults filled in; messages name ``{path}.{key}``."""
    entry = lookup(MODELS, name, f"{path}.model", "model")
    params = resolve(entry.params, given, path)
    if name == "mlp" and not params["hidden"]:
        raise ConfigError(f"{path}.hidden", [], "at least one hidden width (for none use logreg)")
    return params


class Model:
    """One model shape for a stack of ``K`` configurations.

    ``n_outputs`` is the number of classes (``logreg``, ``mlp``; at least 2) or 1 (``linear``).
    Layer widths are ``sizes = (n_features, *hidden, n_outputs)``.
    """

    def __init__(
        self,
        name: str,
        params: Mapping[str, Any] | None,
        n_features: int,
        n_outputs: int,
        dtype: str = "float64",
    ) -> None:
        self.name = name
        self.params = resolve_model(name, params, "model")
        self.task = model_task(name)
        if self.task == "regression" and n_outputs != 1:
            raise ValueError(f"{name} has one output, got n_outputs={n_outputs}")
        if self.task == "classification" and n_outputs < 2:
            raise ValueError(f"{name} needs at least 2 classes, got n_outputs={n_outputs}")
        self.dtype = np.dtype(dtype)
        self.sizes: tuple[int, ...] = (n_features, *self.params.get("hidden", ()), n_outputs)
        self.layers = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.tanh = self.params.get("activation") == "tanh"

    def init(self, rngs: Sequence[np.random.Generator]) -> list[np.ndarray]:
        """Stacked initial parameters, one configuration per generator (``K = len(rngs)``).

        ``logreg`` and ``linear`` start at zero (the generators are not used). ``mlp`` follows
        PyTorch's ``nn.Linear.reset_parameters``: weight and bias uniform in
        ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (``kaiming_uniform_(a=sqrt(5))`` has exactly this
        bound). Draw order, per configuration from its own generator, layer by layer: the weight
        as ``rng.uniform(-bound, bound, size=(d_out, d_in))`` (PyTorch's weight layout, stored
        transposed), then the bias as ``rng.uniform(-bound, bound, size=d_out)``; draws are in
        float64, then cast. A configuration's values therefore do not depend on ``K``. This
        reproduces PyTorch's *distribution*, not its random stream (``torch.manual_seed`` gives
        other numbers).
        """
        K = len(rngs)
        params: list[np.ndarray] = []
        for d_in, d_out in self.layers:
            params.append(np.zeros((K, d_in, d_out), dtype=self.dtype))
            params.append(np.zeros((K, 1, d_out), dtype=self.dtype))
        if self.name != "mlp":
            return params
        for k, rng in enumerate(rngs):
            for i, (d_in, d_out) in enumerate(self.layers):
                bound = 1.0 / math.sqrt(d_in)
                params[2 * i][k] = rng.uniform(-bound, bound, size=(d_out, d_in)).T
                params[2 * i + 1][k, 0] = rng.uniform(-bound, bound, size=d_out)
        return params

    def loss_and_grad(
        self, params: list[np.ndarray], X: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Minibatch losses ``(K,)`` and gradients (shapes of ``params``).

        ``X`` is ``(K, B, d)`` (one minibatch per configuration), ``y`` is ``(K, B)``: int labels
        for classification, numbers for ``linear``. Backpropagation: with ``g`` the gradient at
        a layer's output, ``dW = h.T @ g``, ``db = sum_rows(g)``, ``g_in = (g @ W.T) * act'``
        (not computed for the first layer, whose input is the data).

        Hidden activations are batch-major ``(K, B, width)``; the output layer works
        class-major, ``out.T = W.T @ h.T`` of shape ``(K, C, B)``, so the softmax reductions over
        the classes run across contiguous rows of the batch (numpy's reductions over a short
        last axis are several times slower). Both products are BLAS calls on transposed views.
        """
        n_layers = len(self.layers)
        K, B = X.shape[0], X.shape[1]
        fused = self._fusable(params)
        relu = fused and not self.tanh
        inputs = [X]
        h = X
        for i in range(n_layers - 1):
            z = np.matmul(h, params[2 * i])
            if relu:
                _fused.bias_relu(z, params[2 * i + 1], K, B, False)
                h = z
            else:
                z += params[2 * i + 1]
                h = np.tanh(z, out=z) if self.tanh else np.maximum(z, 0, out=z)
            inputs.append(h)
        out_t = np.matmul(params[-2].transpose(0, 2, 1), h.transpose(0, 2, 1))
        out_t += params[-1].transpose(0, 2, 1)
        if self.task == "classification":
            loss, g_t = _softmax_ce(out_t, y, fused)
        else:
            loss, g_t = _least_squares(out_t, y)
        grads: list[np.ndarray] = [g_t] * (2 * n_layers)
        last = n_layers - 1
        g = g_t.transpose(0, 2, 1)
        grads[2 * last] = np.matmul(inputs[last].transpose(0, 2, 1), g)
        grads[2 * last + 1] = g_t.sum(axis=2)[:, None, :]
        for i in range(last, 0, -1):
            g = np.matmul(g, params[2 * i].transpose(0, 2, 1))
            h = inputs[i]
            if relu and g.shape[2] > 1:  # numpy sums a width of 1 pairwise, not in order
                db = np.empty((K, 1, g.shape[2]), dtype=g.dtype)
                _fused.relu_grad(g, h, db, K, B)
            else:
                if self.tanh:
                    g *= 1.0 - h * h
                else:
                    g *= h > 0
                db = g.sum(axis=1, keepdims=True)
            grads[2 * i - 2] = np.matmul(inputs[i - 1].transpose(0, 2, 1), g)
            grads[2 * i - 1] = db
        return loss, grads

    def _fusable(self, params: list[np.ndarray]) -> bool:
        """Whether the compiled kernels can run on this stack: built, float64 or float32,
        contiguous parameters (every product's result is a new contiguous array). The ReLU
        kernels also need ReLU, the softmax ones a classifier."""
        return (
            _fused is not None
            and self.dtype.char in "df"
            and all(p.flags.c_contiguous and p.dtype == self.dtype for p in params)
        )

    def evaluate(
        self,
        params: list[np.ndarray],
        X: np.ndarray,
        y: np.ndarray,
        accuracy: bool = True,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean loss ``(K,)`` and accuracy ``(K,)`` on shared data (``None`` for ``linear`` or
        when ``accuracy`` is false).

        ``X`` is ``(n, d)`` and ``y`` is ``(n,)``, the same for every configuration. The forward
        pass runs feature-major, ``h.T = W.T @ X.T`` (the transposed data shared by the stack),
        so every activation is ``(K, width, rows)`` and the class reductions run across
        contiguous rows. Rows are taken in fixed chunks of ``EVAL_ROWS`` and configurations in
        groups that bound memory; neither changes a configuration's arithmetic with ``K``.
        Accuracy counts ``argmax(logits) == y`` (first maximum on ties).
        """
        K = params[0].shape[0]
        n = X.shape[0]
        rows = min(n, EVAL_ROWS)
        width = max(self.sizes[1:])
        group = max(1, EVAL_BYTES // (rows * width * self.dtype.itemsize))
        total = np.zeros(K)
        correct = np.zeros(K)
        classify = self.task == "classification"
        fused = classify and self._fusable(params)
        for r0 in range(0, n, rows):
            Xt = np.ascontiguousarray(X[r0 : r0 + rows].T)
            yc = y[r0 : r0 + rows]
            cols = np.arange(len(yc))
            labels = np.ascontiguousarray(yc, np.int64) if fused else None
            for k0 in range(0, K, group):
                ps = [p[k0 : k0 + group] for p in params]
                out = self._forward_t(ps, Xt)
                if not classify:
                    r = out[:, 0] - yc
                    total[k0 : k0 + group] += 0.5 * (r * r).sum(axis=1)
                    continue
                if fused and len(yc) > 1:  # numpy sums one column's classes pairwise
                    g, C = out.shape[0], out.shape[1]
                    picked = np.empty((g, len(yc)), dtype=out.dtype)
                    hits = np.zeros(g, dtype=np.int64) if accuracy else None
                    _fused.class_shift(out, labels, picked, hits, g, C)
                    if hits is not None:  # counted when accuracy is asked for
                        correct[k0 : k0 + group] += hits
                    shifted = out
                else:
                    m = _class_max(out)
                    shifted = out - m[:, None]
                    picked = shifted[:, yc, cols]
                    if accuracy:
                        correct[k0 : k0 + group] += _hits(out, m, shifted, picked, yc)
                e = np.exp(shifted, out=shifted)
                lse = np.log(e.sum(axis=1))
                lse -= picked
                total[k0 : k0 + group] += lse.sum(axis=1)
        loss = total / n
        return loss, (correct / n if classify and accuracy else None)

    def _forward_t(self, params: list[np.ndarray], Xt: np.ndarray) -> np.ndarray:
        """Logits ``(K, C, rows)`` of the transposed data ``Xt`` ``(d, rows)``."""
        h = Xt
        relu = self._fusable(params) and not self.tanh
        for i in range(len(self.layers) - 1):
            z = np.matmul(params[2 * i].transpose(0, 2, 1), h)
            if relu:  # one bias per row of the feature-major z
                _fused.bias_relu(z, params[2 * i + 1], z.shape[0], z.shape[1], True)
                h = z
                continue
            z += params[2 * i + 1].transpose(0, 2, 1)
            h = np.tanh(z, out=z) if self.tanh else np.maximum(z, 0, out=z)
        out = np.matmul(params[-2].transpose(0, 2, 1), h)
        out += params[-1].transpose(0, 2, 1)
        return out

    def flops_per_sample(self) -> int:
        """Matrix-product FLOPs per training sample: ``2*d_in*d_out`` per layer for the forward
        pass, as much again for each weight gradient, and as much for each input gradient except
        the first layer's (biases and elementwise work not counted). logreg 64 -> 10: 2,560;
        mlp 64 -> 64 -> 10: 20,224."""
        total = 0
        for i, (d_in, d_out) in enumerate(self.layers):
            total += (4 if i == 0 else 6) * d_in * d_out
        return total


def _softmax_ce(z: np.ndarray, y: np.ndarray, fused: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean softmax cross-entropy of class-major logits ``z`` (K, C, B) and its gradient
    w.r.t. ``z`` (class-major too).

    Stable log-softmax: ``s = z - max(z)``, ``loss_i = log(sum(exp(s_i))) - s_i[y_i]``;
    gradient ``(softmax(z) - onehot(y)) / B``. Overwrites ``z``. ``fused``: the compiled
    kernels do the work around numpy's ``exp`` and ``log`` (same bits).
    """
    K, C, B = z.shape
    if fused and B > 1:  # numpy sums a batch of one's classes pairwise
        labels = y[0] if y.strides[0] == 0 else y  # one minibatch broadcast to the stack
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        picked = np.empty((K, B), dtype=z.dtype)
        _fused.class_shift(z, labels, picked, None, K, C)
        e = np.exp(z, out=z)
        s = np.empty((K, B), dtype=z.dtype)
        _fused.softmax_grad(e, labels, s, K, C, B)
        loss = np.log(s)
        loss -= picked
        return loss.mean(axis=1), e
    z -= _class_max(z)[:, None]
    flat = y * B
    flat += np.arange(0, K * C * B, C * B)[:, None] + np.arange(B)
    zf = z.reshape(-1)
    picked = zf[flat]
    e = np.exp(z, out=z)
    s = e.sum(axis=1)
    loss = np.log(s)
    loss -= picked
    loss = loss.mean(axis=1)
    e /= s[:, None]
    zf[flat] -= 1.0
    e /= B
    return loss, e


def _class_max(z: np.ndarray) -> np.ndarray:
    """``z.max(axis=1)`` of class-major ``z`` (K, C, n): one pass per class over contiguous
    rows (the maximum is exact in any order)."""
    m = z[:, 0].copy()
    for c in range(1, z.shape[1]):
        np.maximum(m, z[:, c], out=m)
    return m


def _hits(
    z: np.ndarray, m: np.ndarray, shifted: np.ndarray, picked: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Per configuration, the number of columns with ``argmax(z[:, :, j]) == y[j]`` (first
    maximum on ties), for class-major logits ``z`` (K, C, n).

    ``m`` is the class maximum (K, n), ``shifted = z - m`` and ``picked`` the shifted true-class
    logits. For finite ``a`` and ``m``, ``a - m == 0`` exactly when ``a == m``, so with every
    maximum finite each column has at least one zero in ``shifted``; if the zeros number exactly
    the columns, no column has a tie at the top and the argmax is ``y`` exactly where ``picked``
    is 0. That check is a few fast passes. Otherwise (a tie, an inf or a NaN anywhere in the
    block) ``argmax`` itself decides.
    """
    cols = shifted.shape[0] * shifted.shape[2]
    if np.isfinite(m).all() and np.count_nonzero(shifted == 0) == cols:
        return np.count_nonzero(picked == 0, axis=1)
    return (z.argmax(axis=1) == y).sum(axis=1)


def _least_squares(out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``0.5 * mean((out - y)**2)`` per configuration and its gradient ``(out - y) / B``;
    ``out`` is class-major (K, 1, B)."""
    B = out.shape[2]
    r = out[:, 0] - y
    loss = 0.5 * (r * r).mean(axis=1)
    r /= B
    return loss, r[:, None]


def smoothness(name: str, X: np.ndarray, y: np.ndarray, n_classes: int) -> float | None:
    """The smoothness constant ``L`` of the full-batch training loss in ``(W, b)``, or ``None``.

    With ``A = [X 1]`` (``n`` rows) and ``G = A.T @ A / n``:

    - ``linear``: the loss ``0.5 * mean((A theta - y)**2)`` has Hessian ``G``, so
      ``L = lambda_max(G)`` exactly; gradient descent converges for ``lr < 2/L``.
    - ``logreg``: ``L <= 0.5 * lambda_max(G)``, the bound returned. Proof: for one sample the
      Hessian of the cross-entropy in the logits is ``H(p) = diag(p) - p p.T``, and
      ``v.T H(p) v = Var_{i~p}(v_i) <= (max v - min v)**2 / 4 <= |v|**2 / 2`` (Popoviciu's
      inequality, then ``(a - b)**2 <= 2a**2 + 2b**2``), so ``H(p) <= I/2``. Böhning (1992,
      "Multinomial logistic regression algorithm", Ann. Inst. Statist. Math. 44:197-200) proves
      the sharper ``H(p) <= (I - 11.T/C)/2``, whose top eigenvalue is also 1/2. The Hessian in
      the parameters is ``mean_i H(p_i) (x) a_i a_i.T <= (I/2) (x) G`` (a Kronecker product with
      a PSD factor keeps the order), whose top eigenvalue is ``lambda_max(G) / 2``. The bound is
      attained at zero for two classes (``p = (1/2, 1/2)``, ``H`` has eigenvalue 1/2).
    - ``mlp``: no global constant; ``None``.

    ``y`` and ``n_classes`` do not enter either formula.
    """
    lookup(MODELS, name, "model", "model")
    if name == "mlp":
        return None
    X = np.asarray(X, dtype=np.float64)
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    top = float(np.linalg.eigvalsh(A.T @ A / A.shape[0])[-1])
    return top if name == "linear" else 0.5 * top
