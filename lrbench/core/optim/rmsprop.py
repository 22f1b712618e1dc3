"""RMSprop, plain or centered, with momentum (``torch.optim.RMSprop``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lrbench.core.optim.base import Hyperparameters, Rule, add_l2, operand, vector


class Constants(NamedTuple):
    """Operands, ``(K, 1, 1)`` in the parameters' dtype, None where the group has no such term."""

    alpha: np.ndarray
    alpha1: np.ndarray  # 1 - alpha
    eps: np.ndarray
    wd: np.ndarray | None  # weight_decay
    mu: np.ndarray  # momentum (under cycle_momentum each step brings its own)


class RMSprop(Rule[Constants]):
    """``torch.optim.RMSprop`` over a stack (torch 2.13, ``_single_tensor_rmsprop``), under
    each line torch's code::

        if weight_decay != 0:
            g = g + weight_decay * theta
                # grad = grad.add(param, alpha=weight_decay)
        v = alpha * v + (1 - alpha) * g * g
            # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if centered:
            m = m + (1 - alpha) * (g - m)
                # grad_avg.lerp_(grad, 1 - alpha)
            d = sqrt(v - m * m) + eps
                # avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_(); avg.add_(eps)
        else:
            d = sqrt(v) + eps
                # avg = square_avg.sqrt(); avg.add_(eps)
        if momentum > 0:
            b = momentum * b + g / d
                # buf.mul_(momentum).addcdiv_(grad, avg)
            theta = theta + (-lr) * b
                # param.add_(buf, alpha=-lr)
        else:
            theta = theta + (-lr * g) / d
                # param.addcdiv_(grad, avg, value=-lr)

    ``eps`` is outside the square root; no bias correction; buffers start at 0. numpy computes
    ``(1 - alpha) * g * g`` as ``(g * (1 - alpha)) * g``. No compiled kernel: numpy only. Under
    ``cycle_momentum`` the step's momentum replaces ``momentum``, and a step whose momentum is 0
    leaves the buffer alone, as in torch.
    """

    def __init__(
        self, hparams: Hyperparameters, params: Sequence[np.ndarray], cycle_momentum: bool
    ) -> None:
        h0, dtype = hparams[0], params[0].dtype
        self.momentum = h0["momentum"] > 0 or cycle_momentum
        self.centered = bool(h0["centered"])
        alpha = vector(hparams, "alpha")
        c = Constants(
            operand(alpha, dtype),
            operand(1 - alpha, dtype),
            operand(vector(hparams, "eps"), dtype),
            operand(vector(hparams, "weight_decay"), dtype) if h0["weight_decay"] != 0 else None,
            operand(vector(hparams, "momentum"), dtype),
        )
        names = ["square_avg"] + ["momentum_buffer"] * self.momentum + ["grad_avg"] * self.centered
        state = [{n: np.zeros_like(p) for n in names} for p in params]
        super().__init__(params, c, state)

    def kinds(self, mom: np.ndarray | None) -> np.ndarray | None:
        """0: momentum 0 this step (no buffer); 1: momentum."""
        return None if mom is None else (mom != 0).astype(int)

    def step(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        k: int,
        lr: np.ndarray,
        mom: np.ndarray | None,
    ) -> None:
        c = self.c
        use = self.momentum and (mom is None or bool(np.all(mom != 0)))
        mu = c.mu if mom is None else operand(mom, self.dtype)
        neg_lr = operand(-lr, self.dtype)
        for p, g, st, s in zip(params, grads, self.state, self.scratch, strict=True):
            v = st["square_avg"]
            if c.wd is not None:
                add_l2(p, g, s, c.wd)
            np.multiply(g, c.alpha1, out=s)
            np.multiply(s, g, out=s)
            np.multiply(v, c.alpha, out=v)
            np.add(v, s, out=v)
            if self.centered:
                m = st["grad_avg"]
                np.subtract(g, m, out=s)
                np.multiply(s, c.alpha1, out=s)
                np.add(m, s, out=m)
                np.multiply(m, m, out=s)
                np.subtract(v, s, out=s)
                np.sqrt(s, out=s)
            else:
                np.sqrt(v, out=s)
            np.add(s, c.eps, out=s)
            if use:
                b = st["momentum_buffer"]
                np.multiply(b, mu, out=b)
                np.divide(g, s, out=g)
                np.add(b, g, out=b)
                np.multiply(b, neg_lr, out=g)
                np.add(p, g, out=p)
            else:
                np.multiply(g, neg_lr, out=g)
                np.divide(g, s, out=g)
                np.add(p, g, out=p)
