"""Adam and AdamW, with amsgrad (``torch.optim.Adam``, ``torch.optim.AdamW``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lrbench.core import kernels
from lrbench.core.optim.base import Hyperparameters, Rule, add_l2, operand, vector


class Constants(NamedTuple):
    """Adam's and NAdam's constants. Float64 ``(K,)`` hyperparameters for the per-step scalars:
    ``beta1``, ``beta2``, ``weight_decay`` (decoupled decay only). ``(K, 1, 1)`` operands in the
    parameters' dtype: ``wd`` (L2 only), ``b1c`` = 1 - beta1, ``b2c`` = 1 - beta2, ``b2`` = beta2,
    ``eps``; NAdam adds float64 ``momentum_decay``. None: a term the group does not have."""

    beta1: np.ndarray
    beta2: np.ndarray
    weight_decay: np.ndarray | None
    wd: np.ndarray | None
    b1c: np.ndarray
    b2c: np.ndarray
    b2: np.ndarray
    eps: np.ndarray
    momentum_decay: np.ndarray | None = None


def constants(hparams: Hyperparameters, dtype: np.dtype, decoupled: bool) -> Constants:
    """The constants of Adam, AdamW and NAdam (``decoupled``: AdamW's weight decay)."""
    beta1 = np.array([float(h["betas"][0]) for h in hparams])
    beta2 = np.array([float(h["betas"][1]) for h in hparams])
    weight_decay = vector(hparams, "weight_decay")
    with_wd = hparams[0]["weight_decay"] != 0
    return Constants(
        beta1,
        beta2,
        weight_decay if with_wd and decoupled else None,
        operand(weight_decay, dtype) if with_wd and not decoupled else None,
        operand(1 - beta1, dtype),
        operand(1 - beta2, dtype),
        operand(beta2, dtype),
        operand(vector(hparams, "eps"), dtype),
        vector(hparams, "momentum_decay") if "momentum_decay" in hparams[0] else None,
    )


class Step(NamedTuple):
    """One step's operands, in the order of the kernel's arguments after ``(p, g, m, v)``."""

    b1c: np.ndarray
    b2c: np.ndarray
    b2: np.ndarray
    neg_step: np.ndarray  # -lr / (1 - beta1^k)
    bc2s: np.ndarray  # sqrt(1 - beta2^k)
    eps: np.ndarray
    wd: np.ndarray | None  # L2
    decay: np.ndarray | None  # decoupled: 1 - lr * weight_decay


class Adam(Rule[Constants]):
    """``torch.optim.Adam`` over a stack (torch 2.13, ``_single_tensor_adam``), step k = 1, 2, ...
    (under each line, torch's code)::

        if weight_decay != 0:
            theta = theta * (1 - lr * weight_decay)  (AdamW)
                # param.mul_(1 - lr * weight_decay)
            g = g + weight_decay * theta  (Adam)
                # grad = grad.add(param, alpha=weight_decay)
        m = m + (1 - beta1) * (g - m)
            # exp_avg.lerp_(grad, 1 - beta1)
        v = beta2 * v + (1 - beta2) * g * g
            # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        v_max = max(v_max, v);  v_hat = v_max  if amsgrad  else  v
            # torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
        denom = sqrt(v_hat) / (1 - beta2^k) ** 0.5 + eps
            # (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        theta = theta + (-lr / (1 - beta1^k)) * m / denom
            # param.addcdiv_(exp_avg, denom, value=-step_size)

    The decoupled decay uses this step's lr; ``eps`` is added after the bias-corrected square
    root. The bias corrections and ``-lr / (1 - beta1^k)`` are float64 (torch: Python floats),
    rounded once to the parameters' dtype. numpy computes ``(1 - beta2) * g * g`` as
    ``(g * (1 - beta2)) * g`` and ``addcdiv`` as ``theta + (m * value) / denom``; torch fuses
    ``lerp`` and ``addcmul`` (round-off apart, the same). Under ``cycle_momentum`` the step's
    momentum replaces beta1, also in the bias correction, as torch's CyclicLR does.
    """

    decoupled = False

    def __init__(
        self, hparams: Hyperparameters, params: Sequence[np.ndarray], cycle_momentum: bool
    ) -> None:
        self.amsgrad = bool(hparams[0]["amsgrad"])
        names = ["exp_avg", "exp_avg_sq"] + ["max_exp_avg_sq"] * self.amsgrad
        state = [{n: np.zeros_like(p) for n in names} for p in params]
        super().__init__(params, constants(hparams, params[0].dtype, self.decoupled), state)

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
        o = Step(
            c.b1c if mom is None else operand(1 - mom, dtype),
            c.b2c,
            c.b2,
            operand(-(lr / (1 - beta1**k)), dtype),
            operand((1 - c.beta2**k) ** 0.5, dtype),
            c.eps,
            c.wd,
            None if c.weight_decay is None else operand(1 - lr * c.weight_decay, dtype),
        )
        fits = not self.amsgrad and kernels.fits(dtype, params, grads)
        update = _compiled if fits else _numpy
        update(params, grads, self.state, self.scratch, o)


class AdamW(Adam):
    """``torch.optim.AdamW``: :class:`Adam` with decoupled weight decay (torch 2.13 defines it
    as ``Adam(decoupled_weight_decay=True)``)."""

    decoupled = True


def moments(
    p: np.ndarray,
    g: np.ndarray,
    s: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    b1c: np.ndarray,
    b2c: np.ndarray,
    b2: np.ndarray,
    wd: np.ndarray | None,
    decay: np.ndarray | None,
) -> None:
    """Adam's and NAdam's start, in place: weight decay (``decay``: decoupled, ``wd``: L2),
    ``m = m + (g - m) * (1 - beta1)``, ``v = v * beta2 + (g * (1 - beta2)) * g``."""
    if decay is not None:
        np.multiply(p, decay, out=p)
    elif wd is not None:
        add_l2(p, g, s, wd)
    np.subtract(g, m, out=s)
    np.multiply(s, b1c, out=s)
    np.add(m, s, out=m)
    np.multiply(g, b2c, out=s)
    np.multiply(s, g, out=s)
    np.multiply(v, b2, out=v)
    np.add(v, s, out=v)


def _compiled(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    state: list[dict[str, np.ndarray]],
    scratch: list[np.ndarray],
    o: Step,
) -> None:
    """The kernel (no amsgrad): the operations of :func:`_numpy`, in one pass over each array."""
    for p, g, st in zip(params, grads, state, strict=True):
        kernels.compiled.adam(p, g, st["exp_avg"], st["exp_avg_sq"], *o)


def _numpy(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    state: list[dict[str, np.ndarray]],
    scratch: list[np.ndarray],
    o: Step,
) -> None:
    for p, g, st, s in zip(params, grads, state, scratch, strict=True):
        m, v = st["exp_avg"], st["exp_avg_sq"]
        moments(p, g, s, m, v, o.b1c, o.b2c, o.b2, o.wd, o.decay)
        if "max_exp_avg_sq" in st:
            v = np.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
        np.sqrt(v, out=s)
        np.divide(s, o.bc2s, out=s)
        np.add(s, o.eps, out=s)
        np.multiply(m, o.neg_step, out=g)
        np.divide(g, s, out=g)
        np.add(p, g, out=p)
