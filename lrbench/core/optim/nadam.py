"""NAdam: Adam with Nesterov momentum and Dozat's momentum schedule (``torch.optim.NAdam``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lrbench.core.optim.adam import Constants, constants, moments
from lrbench.core.optim.base import Hyperparameters, Rule, operand


class NAdam(Rule[Constants]):
    """``torch.optim.NAdam`` over a stack (torch 2.13, ``_single_tensor_nadam``), step k = 1, 2, ...
    (under each line, torch's code)::

        weight decay as Adam's (L2), or as AdamW's when decoupled_weight_decay
        mu_k = beta1 * (1 - 0.5 * 0.96 ** (k * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((k + 1) * momentum_decay))
        P_k = P_{k-1} * mu_k  (P_0 = 1)
            # mu_product *= mu
        m = m + (1 - beta1) * (g - m)
            # exp_avg.lerp_(grad, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
            # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = sqrt(v / (1 - beta2^k)) + eps
            # exp_avg_sq.div(bias_correction2).sqrt(), then denom.add_(eps)
        theta = theta + (-lr * (1 - mu_k) / (1 - P_k)) * g / denom
            # param.addcdiv_(grad, denom, value=(-lr * (1.0 - mu) / (1.0 - mu_product)))
        theta = theta + ((-lr * mu_next) / (1 - P_k * mu_next)) * m / denom
            # param.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))

    ``m`` uses beta1 itself, not ``mu``; ``momentum_decay`` 0 gives ``mu = beta1 / 2``. The
    scalars (``mu``, ``P``, the two coefficients, ``1 - beta2^k``) are float64 per
    configuration, rounded once to the parameters' dtype. No compiled kernel: numpy only.
    Under ``cycle_momentum`` the step's momentum replaces beta1 everywhere, as in torch.
    """

    def __init__(
        self, hparams: Hyperparameters, params: Sequence[np.ndarray], cycle_momentum: bool
    ) -> None:
        decoupled = bool(hparams[0]["decoupled_weight_decay"])
        state = [{"exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)} for p in params]
        rows = {"mu_product": np.ones(len(hparams))}
        super().__init__(params, constants(hparams, params[0].dtype, decoupled), state, rows)

    def step(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        k: int,
        lr: np.ndarray,
        mom: np.ndarray | None,
    ) -> None:
        c, dtype = self.c, self.dtype
        beta1 = c.beta1 if mom is None else mom
        b1c = c.b1c if mom is None else operand(1 - mom, dtype)
        psi = c.momentum_decay
        assert psi is not None  # always there for NAdam (constants() finds it in the hparams)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (k * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((k + 1) * psi))
        self.rows["mu_product"] = prod = self.rows["mu_product"] * mu
        coef_g = operand(-lr * (1.0 - mu) / (1.0 - prod), dtype)
        coef_m = operand(-lr * mu_next / (1.0 - prod * mu_next), dtype)
        bc2 = operand(1 - c.beta2**k, dtype)
        decay = None if c.weight_decay is None else operand(1 - lr * c.weight_decay, dtype)
        for p, g, st, s in zip(params, grads, self.state, self.scratch, strict=True):
            m, v = st["exp_avg"], st["exp_avg_sq"]
            moments(p, g, s, m, v, b1c, c.b2c, c.b2, c.wd, decay)
            np.divide(v, bc2, out=s)
            np.sqrt(s, out=s)
            np.add(s, c.eps, out=s)
            np.multiply(g, coef_g, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)
            np.multiply(m, coef_m, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)
