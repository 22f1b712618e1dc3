"""Adagrad (``torch.optim.Adagrad``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lrbench.core.optim.base import Hyperparameters, Rule, add_l2, operand, vector


class Constants(NamedTuple):
    """``lr_decay`` as a float64 ``(K,)`` vector; ``wd`` (None without weight decay) and ``eps``
    as ``(K, 1, 1)`` operands in the parameters' dtype."""

    lr_decay: np.ndarray
    wd: np.ndarray | None
    eps: np.ndarray


class Adagrad(Rule[Constants]):
    """``torch.optim.Adagrad`` over a stack (torch 2.13, ``_single_tensor_adagrad``), step
    k = 1, 2, ... (under each line, torch's code)::

        if weight_decay != 0:
            g = g + weight_decay * theta
                # grad = grad.add(param, alpha=weight_decay)
        clr = lr / (1 + (k - 1) * lr_decay)
        s = s + g * g  (s_0 = initial_accumulator_value)
            # state_sum.addcmul_(grad, grad, value=1)
        theta = theta + (-clr) * g / (sqrt(s) + eps)
            # std = state_sum.sqrt().add_(eps);  param.addcdiv_(grad, std, value=-clr)

    ``eps`` is outside the square root. ``clr`` is float64 per configuration (torch: a Python
    float), rounded once to the parameters' dtype. No compiled kernel: numpy only. Adagrad has
    no momentum, so ``cycle_momentum`` is refused (by the config, and by ``Optimizer``).
    """

    def __init__(
        self, hparams: Hyperparameters, params: Sequence[np.ndarray], cycle_momentum: bool
    ) -> None:
        dtype = params[0].dtype
        c = Constants(
            vector(hparams, "lr_decay"),
            operand(vector(hparams, "weight_decay"), dtype)
            if hparams[0]["weight_decay"] != 0
            else None,
            operand(vector(hparams, "eps"), dtype),
        )
        start = operand(vector(hparams, "initial_accumulator_value"), dtype)
        state = [{"sum": np.broadcast_to(start, p.shape).copy()} for p in params]
        super().__init__(params, c, state)

    def step(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        k: int,
        lr: np.ndarray,
        mom: np.ndarray | None,
    ) -> None:
        c = self.c
        neg_clr = operand(-(lr / (1 + (k - 1) * c.lr_decay)), self.dtype)
        for p, g, st, s in zip(params, grads, self.state, self.scratch, strict=True):
            acc = st["sum"]
            if c.wd is not None:
                add_l2(p, g, s, c.wd)
            np.multiply(g, g, out=s)
            np.add(acc, s, out=acc)
            np.sqrt(acc, out=s)
            np.add(s, c.eps, out=s)
            np.multiply(g, neg_clr, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)
