"""SGD with momentum, dampening, Nesterov momentum and weight decay (``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lrbench.core import kernels
from lrbench.core.optim.base import Hyperparameters, Rule, add_l2, operand, vector


class Constants(NamedTuple):
    """Operands, ``(K, 1, 1)`` in the parameters' dtype, None where the group has no such term."""

    wd: np.ndarray | None  # weight_decay
    mu: np.ndarray | None  # momentum (under cycle_momentum each step brings its own)
    damp1: np.ndarray | None  # 1 - dampening; None when every dampening is 0 ((1 - 0) * g == g)


class Step(NamedTuple):
    """One step's operands, in the order of the kernel's arguments after ``(p, g, b)``."""

    neg_lr: np.ndarray
    wd: np.ndarray | None
    mu: np.ndarray | None  # None: no momentum buffer this step
    damp1: np.ndarray | None
    first: bool  # the buffer's first step: b = g
    nesterov: bool


class SGD(Rule[Constants]):
    """``torch.optim.SGD`` over a stack (torch 2.13, ``_single_tensor_sgd``), step k = 1, 2, ...
    (under each line, torch's code)::

        if weight_decay != 0:
            g = g + weight_decay * theta
                # grad = grad.add(param, alpha=weight_decay)
        if momentum != 0:
            b = g  (the first step)
                # buf = grad.detach().clone()
            b = momentum * b + (1 - dampening) * g  (the later steps)
                # buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            g = g + momentum * b  if nesterov  else  b
                # grad = grad.add(buf, alpha=momentum)  /  grad = buf
        theta = theta - lr * g
            # param.add_(grad, alpha=-lr)

    The learning rate stays outside the buffer. Nesterov needs momentum > 0 and dampening 0
    (checked with the config). numpy computes each ``add(x, alpha=a)`` as ``x * a`` then the sum
    (torch's CPU kernel fuses it: round-off apart, the same). Under ``cycle_momentum`` the
    step's momentum replaces ``momentum``; a step whose momentum is 0 leaves the buffer alone,
    and the buffer starts (``b = g``) at the first step whose momentum is not 0, as in torch.
    """

    def __init__(
        self, hparams: Hyperparameters, params: Sequence[np.ndarray], cycle_momentum: bool
    ) -> None:
        h0, dtype = hparams[0], params[0].dtype
        self.momentum = h0["momentum"] != 0 or cycle_momentum
        self.nesterov = bool(h0["nesterov"])
        damp = vector(hparams, "dampening")
        c = Constants(
            operand(vector(hparams, "weight_decay"), dtype) if h0["weight_decay"] != 0 else None,
            operand(vector(hparams, "momentum"), dtype) if self.momentum else None,
            operand(1 - damp, dtype) if self.momentum and np.any(damp != 0) else None,
        )
        state = [{"momentum_buffer": np.zeros_like(p)} if self.momentum else {} for p in params]
        super().__init__(params, c, state, {"started": np.zeros(len(hparams), dtype=bool)})

    def kinds(self, mom: np.ndarray | None) -> np.ndarray | None:
        """0: momentum 0 this step (no buffer); 1: the buffer's first step; 2: a later step."""
        if mom is None:
            return None
        return np.where(mom != 0, np.where(self.rows["started"], 2, 1), 0)

    def step(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        k: int,
        lr: np.ndarray,
        mom: np.ndarray | None,
    ) -> None:
        use = self.momentum and (mom is None or bool(np.all(mom != 0)))
        first = False
        if use:
            started = self.rows["started"]
            first = not started.any()
            started[:] = True
        c = self.c
        o = Step(
            operand(-lr, self.dtype),
            c.wd,
            (c.mu if mom is None else operand(mom, self.dtype)) if use else None,
            c.damp1 if use else None,
            first,
            use and self.nesterov,
        )
        buffers: Buffers = [st["momentum_buffer"] if use else None for st in self.state]
        update = _compiled if kernels.fits(self.dtype, params, grads) else _numpy
        update(params, grads, buffers, self.scratch, o)


Buffers = list[np.ndarray | None]  # each parameter's momentum buffer, None without one


def _compiled(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    buffers: Buffers,
    scratch: list[np.ndarray],
    o: Step,
) -> None:
    """The kernel: the operations of :func:`_numpy`, in one pass over each array."""
    for p, g, b in zip(params, grads, buffers, strict=True):
        kernels.compiled.sgd(p, g, b, *o)


def _numpy(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    buffers: Buffers,
    scratch: list[np.ndarray],
    o: Step,
) -> None:
    for p, g, b, s in zip(params, grads, buffers, scratch, strict=True):
        if o.wd is not None:
            add_l2(p, g, s, o.wd)
        if b is not None and o.mu is not None:  # a buffer this step (the step sets both or none)
            if o.first:
                np.copyto(b, g)
            else:
                np.multiply(b, o.mu, out=b)
                if o.damp1 is not None:
                    np.multiply(g, o.damp1, out=s)
                    np.add(b, s, out=b)
                else:
                    np.add(b, g, out=b)
            if o.nesterov:
                np.multiply(b, o.mu, out=s)
                np.add(g, s, out=g)
            else:
                g = b
        np.multiply(g, o.neg_lr, out=s)
        np.add(p, s, out=p)
