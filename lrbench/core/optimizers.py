"""Optimizers: the registry (names, hyperparameters, defaults) and :class:`Optimizer`, the
update of one stack of configurations, with ``torch.optim`` semantics.

Every rule updates a stack of ``K`` configurations at once: parameters, gradients and state are
``(K, a, b)`` arrays, the learning rate a ``(K,)`` vector given at every step (schedules live
elsewhere). Arithmetic is elementwise per configuration, so one configuration gives the same
bits alone or inside any group. The step counter ``k`` is 1, 2, ...; moment buffers start at
zero unless said otherwise. Operations follow the order of torch's single-tensor code paths
(``torch/optim/*.py``), so results match PyTorch in float64 to round-off (torch fuses some
multiply-adds, numpy cannot). Per-step scalars (bias corrections, ``clr``, NAdam's ``mu``) are
computed in float64, as torch does in Python, then cast to the parameters' dtype. The rules,
each with torch's update in its docstring, are in :mod:`lrbench.core.optim`.

=========  ==============================  ==============================================
name       PyTorch                          defaults
=========  ==============================  ==============================================
sgd        SGD                              momentum 0, dampening 0, nesterov off, wd 0
momentum   SGD(momentum=0.9)                as sgd, momentum 0.9
nesterov   SGD(momentum=0.9, nesterov)      as sgd, momentum 0.9, nesterov on
adagrad    Adagrad                          lr_decay 0, wd 0, initial_accumulator 0, eps 1e-10
rmsprop    RMSprop                          alpha 0.99, eps 1e-8, wd 0, momentum 0, centered off
adam       Adam                             betas (0.9, 0.999), eps 1e-8, wd 0 (L2), amsgrad off
adamw      AdamW                            as adam, decoupled wd 0.01
amsgrad    Adam(amsgrad=True)               as adam, amsgrad on
nadam      NAdam                            betas (0.9, 0.999), eps 1e-8, wd 0, momentum_decay 4e-3
=========  ==============================  ==============================================

``weight_decay`` is an L2 term ``g += wd * theta`` except for adamw (and nadam with
``decoupled_weight_decay``), where ``theta *= 1 - lr * wd`` comes first, with the current lr.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrbench.core.optim import RULES
from lrbench.errors import ConfigError
from lrbench.params import Entry, Param, lookup, resolve

_WD = "L2 penalty added to the gradient: g += weight_decay * theta"
_EPS = "added to the denominator, outside the square root"


def _unit(name: str, default: float, help: str) -> Param:
    """A float in [0, 1): momentum factors, decay rates."""
    return Param(name, default, "float", help, 0, 1, high_open=True)


def _nonneg(name: str, default: float, help: str) -> Param:
    return Param(name, default, "float", help, 0)


def _eps(default: float, help: str = _EPS) -> Param:
    return Param("eps", default, "float", help, 0, low_open=True)


def _flag(name: str, default: bool, help: str) -> Param:
    return Param(name, default, "bool", help)


def _sgd(momentum: float, nesterov: bool) -> tuple[Param, ...]:
    return (
        _unit("momentum", momentum, "momentum factor mu: b = mu*b + (1-dampening)*g"),
        Param("dampening", 0.0, "float", "dampening of the momentum buffer (none at k=1)", 0, 1),
        _flag("nesterov", nesterov, "Nesterov momentum: step along g + mu*b"),
        _nonneg("weight_decay", 0.0, _WD),
    )


_BETAS = Param(
    "betas", (0.9, 0.999), "floats", "decay rates (beta1, beta2) of the moment averages",
    0, 1, high_open=True, length=2,
)  # fmt: skip


def _adam(weight_decay: float, amsgrad: bool, wd_help: str = _WD) -> tuple[Param, ...]:
    return (
        _BETAS,
        _eps(1e-8, _EPS + ", after the bias correction"),
        _nonneg("weight_decay", weight_decay, wd_help),
        _flag("amsgrad", amsgrad, "divide by the running maximum of v (Reddi et al. 2018)"),
    )


_DECOUPLED = "decoupled weight decay: theta *= 1 - lr*weight_decay before the update"

OPTIMIZERS: dict[str, Entry] = {
    "sgd": Entry("sgd", "SGD (torch.optim.SGD): theta -= lr*g", _sgd(0.0, False)),
    "momentum": Entry("momentum", "SGD with heavy-ball momentum 0.9", _sgd(0.9, False)),
    "nesterov": Entry("nesterov", "SGD with Nesterov momentum 0.9", _sgd(0.9, True)),
    "adagrad": Entry(
        "adagrad",
        "Adagrad (torch.optim.Adagrad): lr*g / sqrt(sum of squared gradients)",
        (
            _nonneg("lr_decay", 0.0, "learning-rate decay: clr = lr / (1 + (k-1)*lr_decay)"),
            _nonneg("weight_decay", 0.0, _WD),
            _nonneg("initial_accumulator_value", 0.0, "starting value of the sum of squares"),
            _eps(1e-10),
        ),
    ),
    "rmsprop": Entry(
        "rmsprop",
        "RMSprop (torch.optim.RMSprop): lr*g / (sqrt(average of g^2) + eps)",
        (
            _unit("alpha", 0.99, "smoothing constant of the average of g^2"),
            _eps(1e-8),
            _nonneg("weight_decay", 0.0, _WD),
            _unit("momentum", 0.0, "momentum factor mu: b = mu*b + g/denominator"),
            _flag("centered", False, "divide by sqrt(v - mean(g)^2), a variance estimate"),
        ),
    ),
    "adam": Entry("adam", "Adam (torch.optim.Adam), weight decay as L2", _adam(0.0, False)),
    "adamw": Entry("adamw", "AdamW (torch.optim.AdamW)", _adam(0.01, False, _DECOUPLED)),
    "amsgrad": Entry("amsgrad", "Adam with amsgrad (torch.optim.Adam)", _adam(0.0, True)),
    "nadam": Entry(
        "nadam",
        "NAdam (torch.optim.NAdam): Adam with Nesterov momentum, Dozat's schedule",
        (
            *_adam(0.0, False)[:3],
            _nonneg("momentum_decay", 0.004, "psi in mu_k = beta1*(1 - 0.5*0.96^(k*psi))"),
            _flag("decoupled_weight_decay", False, "apply weight_decay as AdamW does"),
        ),
    ),
}

_RULE = {"sgd": "sgd", "momentum": "sgd", "nesterov": "sgd", "amsgrad": "adam"}


def _rule(name: str) -> str:
    return _RULE.get(name, name)


def check(name: str, hparams: Mapping[str, Any], path: str) -> None:
    """Cross-parameter rules torch enforces: Nesterov needs momentum > 0 and dampening 0."""
    if _rule(name) == "sgd" and hparams.get("nesterov"):
        if hparams.get("momentum", 0) <= 0:
            raise ConfigError(
                f"{path}.momentum",
                hparams.get("momentum"),
                "a number in (0, 1) when nesterov is true",
            )
        if hparams.get("dampening", 0) != 0:
            raise ConfigError(f"{path}.dampening", hparams["dampening"], "0 when nesterov is true")


def resolve_optimizer(name: str, given: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    """The hyperparameters of optimizer ``name``: ``given`` validated, defaults filled in."""
    entry = lookup(OPTIMIZERS, name, path, "known optimizer")
    hparams = resolve(entry.params, given, path)
    check(name, hparams, path)
    return hparams


def check_cycle_momentum(name: str, path: str) -> None:
    """``cycle_momentum`` needs a momentum (sgd, rmsprop) or a beta1 (Adam family), as in torch."""
    lookup(OPTIMIZERS, name, path, "known optimizer")
    if _rule(name) == "adagrad":
        allowed = "an optimizer with momentum or beta1: " + ", ".join(
            n for n in OPTIMIZERS if n != "adagrad"
        )
        raise ConfigError(path, name, allowed, "or set cycle_momentum: false")


def _full(name: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` over the registry defaults (no validation: resolve_optimizer did that)."""
    entry = OPTIMIZERS[name]
    return {**{p.name: p.default for p in entry.params}, **dict(hparams)}


def group_key(name: str, hparams: Mapping[str, Any]) -> tuple:
    """The update rule and its structural flags; equal keys train together in one stack."""
    h = _full(name, hparams)
    rule, wd = _rule(name), h["weight_decay"] != 0
    if rule == "sgd":
        return (rule, h["momentum"] != 0, bool(h["nesterov"]), wd)
    if rule == "adagrad":
        return (rule, wd)
    if rule == "rmsprop":
        return (rule, bool(h["centered"]), h["momentum"] > 0, wd)
    if rule == "nadam":
        return (rule, wd, bool(h["decoupled_weight_decay"]))
    return (rule, bool(h["amsgrad"]), wd)  # adam, adamw


class Optimizer:
    """The optimizer of one stack of ``K`` configurations, as the engine drives it.

    ``hparams`` holds one resolved dict per configuration, all with the same :func:`group_key`;
    ``params`` are the stacked ``(K, a, b)`` arrays (their shapes and dtype make the state).
    The update rule itself is one class of :mod:`lrbench.core.optim` (:attr:`rule`); this class
    checks the arguments, counts the steps and splits a step that torch would run differently
    for some configurations (cycled momentum). With ``cycle_momentum`` every :meth:`update`
    gets a ``(K,)`` momentum that replaces ``momentum`` (sgd, rmsprop) or ``beta1`` (Adam family)
    for that step, as torch's CyclicLR and OneCycleLR do; SGD and RMSprop then keep a momentum
    buffer whatever the configured momentum, and a step whose momentum is exactly 0 skips it.
    """

    def __init__(
        self,
        name: str,
        hparams: Sequence[Mapping[str, Any]],
        params: Sequence[np.ndarray],
        cycle_momentum: bool = False,
    ) -> None:
        full = [_full(name, h) for h in hparams]
        if not full:
            raise ValueError("an optimizer needs at least one configuration")
        keys = {group_key(name, h) for h in full}
        if len(keys) != 1:
            raise ValueError(f"configurations of one group need equal group keys, got {keys}")
        if any(p.ndim != 3 or p.shape[0] != len(full) for p in params):
            raise ValueError("params must be (K, a, b) arrays with K = len(hparams)")
        if cycle_momentum and _rule(name) == "adagrad":
            raise ValueError("adagrad has no momentum to cycle")
        self.cycle_momentum = cycle_momentum
        self.steps = 0
        self.rule = RULES[_rule(name)](full, params, cycle_momentum)

    @property
    def state(self) -> list[dict[str, np.ndarray]]:
        """Per parameter array, the rule's state buffers by torch's names (``(K, a, b)`` each)."""
        return self.rule.state

    def keep(self, idx: np.ndarray) -> None:
        """Keep only configurations ``idx`` (in that order, repeats allowed), with their state."""
        self.rule.keep(np.asarray(idx, dtype=np.intp))

    def update(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        lr: np.ndarray,
        momentum: np.ndarray | None = None,
    ) -> None:
        """One step for all configurations, in place on ``params`` (``grads`` get overwritten).

        ``lr`` (and ``momentum``) are ``(K,)``, in any float dtype; they are taken as float64,
        as torch holds them in Python floats.
        """
        if (momentum is not None) != self.cycle_momentum:
            raise ValueError("momentum is given exactly when cycle_momentum is on")
        self.steps += 1
        k, rule = self.steps, self.rule
        lr = np.asarray(lr, dtype=np.float64)
        mom = None if momentum is None else np.asarray(momentum, dtype=np.float64)
        kinds = rule.kinds(mom)
        if kinds is None or mom is None or np.all(kinds == kinds[:1]):  # kinds: only with mom
            rule.step(params, grads, k, lr, mom)
            return
        # Rows torch treats differently this step run as separate stacks (the arithmetic is
        # elementwise per configuration, so this changes no bits).
        for kind in np.unique(kinds):
            rows = np.flatnonzero(kinds == kind)
            part = rule.take(rows)
            part_params = [p[rows] for p in params]
            part.step(part_params, [g[rows] for g in grads], k, lr[rows], mom[rows])
            for p, pp in zip(params, part_params, strict=True):
                p[rows] = pp
            rule.put(rows, part)
