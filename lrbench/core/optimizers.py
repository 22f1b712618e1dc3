"""Optimizers: the registry and vectorised update rules, with ``torch.optim`` semantics.

Every rule updates a stack of ``K`` configurations at once: parameters, gradients and state are
``(K, a, b)`` arrays, numeric hyperparameters ``(K, 1, 1)`` arrays (one scalar when all ``K``
are equal), the learning rate a ``(K,)`` vector given at every step (schedules live elsewhere).
Arithmetic is elementwise per configuration, so one configuration gives the same bits alone or
inside any group. The step counter ``k`` is 1, 2, ...; moment buffers start at zero unless said
otherwise. Operations follow the order of torch's single-tensor code paths
(``torch/optim/*.py``), so results match PyTorch in float64 to round-off (torch fuses some
multiply-adds, numpy cannot). Per-step scalars (bias corrections, ``clr``, NAdam's ``mu``) are
computed in float64, as torch does in Python, then cast to the parameters' dtype.

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

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lrbench.core.kernels import compiled as _fused  # one-pass updates, same bits
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


# ufunc buffer size during updates. With numpy's default (8192 elements), an operation that
# broadcasts a (K, 1, 1) column over rows shorter than the buffer copies the rows through
# buffers and runs about twice as slow; a buffer smaller than a row skips that. Elementwise
# arithmetic gives the same bits whatever the buffer size (there are no reductions here).
_BUFSIZE = 256

# Numeric hyperparameters kept per configuration, as (K,) float64 vectors.
_NUMERIC = ("momentum", "dampening", "weight_decay", "lr_decay", "eps", "alpha", "momentum_decay")


class Optimizer:
    """One optimizer rule over a stack of ``K`` configurations (see the module docstring).

    ``hparams`` holds one resolved dict per configuration (all with the same :func:`group_key`);
    ``params`` are the stacked ``(K, a, b)`` arrays, used for shapes and dtype. With
    ``cycle_momentum`` every :meth:`update` gets a ``(K,)`` momentum that replaces ``momentum``
    (sgd, rmsprop) or ``beta1`` (Adam family) for that step, as torch's CyclicLR and OneCycleLR
    do; SGD then runs its momentum path whatever the configured momentum, and a step whose
    momentum is exactly 0 skips the buffer, as torch does.
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
        K = len(full)
        if any(p.ndim != 3 or p.shape[0] != K for p in params):
            raise ValueError("params must be (K, a, b) arrays with K = len(hparams)")
        self.rule = rule = _rule(name)
        if cycle_momentum and rule == "adagrad":
            raise ValueError("adagrad has no momentum to cycle")
        self.cycle_momentum = cycle_momentum
        self.dtype = params[0].dtype
        h0 = full[0]
        self._wd = h0["weight_decay"] != 0
        self._nesterov = rule == "sgd" and bool(h0["nesterov"])
        self._centered = rule == "rmsprop" and bool(h0["centered"])
        self._amsgrad = rule in ("adam", "adamw") and bool(h0["amsgrad"])
        self._decoupled = rule == "adamw" or (
            rule == "nadam" and bool(h0["decoupled_weight_decay"])
        )
        self._momentum = rule == "sgd" and (h0["momentum"] != 0 or cycle_momentum)
        self._momentum |= rule == "rmsprop" and (h0["momentum"] > 0 or cycle_momentum)
        self._h = {n: np.array([float(h[n]) for h in full]) for n in _NUMERIC if n in h0}
        if "betas" in h0:
            self._h["beta1"] = np.array([float(h["betas"][0]) for h in full])
            self._h["beta2"] = np.array([float(h["betas"][1]) for h in full])
        self._derive()
        self._k = 0
        self._started = np.zeros(K, dtype=bool)  # SGD: momentum buffer set (torch: buf is not None)
        self._mu_product = np.ones(K)  # NAdam: prod of mu_1..mu_k
        self._state = [self._init_state(p, full) for p in params]
        self._scratch = [np.empty_like(p) for p in params]
        self._rule_step = "_adam" if rule == "adamw" else f"_{rule}"

    def _init_state(self, p: np.ndarray, full: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        rule = self.rule
        if rule == "sgd":
            return {"momentum_buffer": np.zeros_like(p)} if self._momentum else {}
        if rule == "adagrad":
            init = self._col(np.array([float(h["initial_accumulator_value"]) for h in full]))
            return {"sum": np.broadcast_to(init, p.shape).copy()}
        if rule == "rmsprop":
            names = ["square_avg"]
            names += ["momentum_buffer"] * self._momentum + ["grad_avg"] * self._centered
        else:
            names = ["exp_avg", "exp_avg_sq"] + ["max_exp_avg_sq"] * self._amsgrad
        return {n: np.zeros_like(p) for n in names}

    def _col(self, x: np.ndarray) -> np.ndarray | np.generic:
        """A (K,) float64 vector as a (K, 1, 1) array of the parameters' dtype, or as one scalar
        of that dtype when its K entries have the same bits (numpy's loops with a scalar operand
        are faster than broadcasting a column; every element gets the same operation, so the
        same bits). Bits, not ``==``: 0.0 and -0.0 are equal yet can give different results."""
        v = np.asarray(x, dtype=self.dtype).reshape(-1)
        raw = v.tobytes()  # comparing bytes is the cheapest test at these sizes
        if v.size and raw == raw[: v.itemsize] * v.size:
            return v[0]
        return v.reshape(-1, 1, 1)

    def _vec(self, x: np.ndarray | np.generic, K: int) -> np.ndarray:
        """A constant as :meth:`_col` gives it (one value or one per configuration), as a
        contiguous ``(K,)`` array of the parameters' dtype, for the compiled updates."""
        v = np.asarray(x, dtype=self.dtype).reshape(-1)
        return v if v.size == K else np.full(K, v[0], dtype=self.dtype)

    def _fusable(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> bool:
        """Whether the compiled update can run: it is built, and every array is a contiguous
        float64 or float32 array shaped as its parameter (the optimizer's own state always
        is). Otherwise the numpy code runs, and reports any mismatch."""
        return (
            _fused is not None
            and self.dtype.char in "df"
            and len(params) == len(grads)
            and all(
                p.flags.c_contiguous
                and g.flags.c_contiguous
                and p.dtype == g.dtype == self.dtype
                and p.shape == g.shape
                for p, g in zip(params, grads)
            )
        )

    def _derive(self) -> None:
        """The (K, 1, 1) constants of the rule (see :meth:`_col`), from the (K,) hyperparameters."""
        h, col = self._h, self._col
        self._c = {n: col(v) for n, v in h.items()}
        if "dampening" in h:
            self._c["1-dampening"] = col(1 - h["dampening"])
            self._damp = bool(np.any(h["dampening"] != 0))  # (1-0)*g == g: skipping is exact
        if "alpha" in h:
            self._c["1-alpha"] = col(1 - h["alpha"])
        if "beta1" in h:
            self._c["1-beta1"] = col(1 - h["beta1"])
            self._c["1-beta2"] = col(1 - h["beta2"])
        K = len(next(iter(h.values()))) if h else 0
        # The same constants as (K,) vectors for the compiled updates, made once.
        self._cv = {n: self._vec(v, K) for n, v in self._c.items()}

    def keep(self, idx: np.ndarray) -> None:
        """Keep only configurations ``idx`` (in that order), in hyperparameters and state."""
        idx = np.asarray(idx, dtype=np.intp)
        self._h = {n: v[idx] for n, v in self._h.items()}
        self._derive()
        self._started = self._started[idx]
        self._mu_product = self._mu_product[idx]
        self._state = [{n: v[idx] for n, v in st.items()} for st in self._state]
        self._scratch = [np.empty((idx.size, *s.shape[1:]), dtype=s.dtype) for s in self._scratch]

    def update(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        lr: np.ndarray,
        momentum: np.ndarray | None = None,
    ) -> None:
        """One step for all configurations, in place on ``params`` (``grads`` get overwritten)."""
        if (momentum is not None) != self.cycle_momentum:
            raise ValueError("momentum is given exactly when cycle_momentum is on")
        if np.size(lr) <= 1:  # one configuration: every operand is a scalar, no buffering
            self._update(params, grads, lr, momentum)
            return
        bufsize = np.setbufsize(_BUFSIZE)
        try:
            self._update(params, grads, lr, momentum)
        finally:
            np.setbufsize(bufsize)

    def _update(self, params, grads, lr, momentum) -> None:
        self._k += 1
        lr = np.asarray(lr, dtype=np.float64)
        mom = None if momentum is None else np.asarray(momentum, dtype=np.float64)
        if mom is None or not self._momentum or lr.size == 0:
            getattr(self, self._rule_step)(params, grads, lr, mom, self._momentum)
            return
        # Cycled momentum: torch skips the buffer at a step whose momentum is 0, and sets the
        # SGD buffer to g at the first step whose momentum is not 0. Rows that differ in these
        # cases are run as separate sub-stacks (elementwise, so the bits do not change).
        on = mom != 0
        kind = (
            np.where(on, np.where(self._started, 2, 1), 0) if self.rule == "sgd" else on.astype(int)
        )
        if np.all(kind == kind[0]):
            getattr(self, self._rule_step)(params, grads, lr, mom, bool(on[0]))
            return
        for value in np.unique(kind):
            rows = np.flatnonzero(kind == value)
            sub = copy.copy(self)
            sub.keep(rows)
            sub_params = [p[rows] for p in params]
            getattr(sub, sub._rule_step)(
                sub_params, [g[rows] for g in grads], lr[rows], mom[rows], bool(value)
            )
            for p, sp in zip(params, sub_params, strict=True):
                p[rows] = sp
            for st, sub_st in zip(self._state, sub._state, strict=True):
                for n, v in sub_st.items():
                    st[n][rows] = v
            self._started[rows] = sub._started

    def _l2(self, p: np.ndarray, g: np.ndarray, s: np.ndarray) -> None:
        """``g += wd * theta`` (torch: ``grad = grad.add(param, alpha=weight_decay)``)."""
        np.multiply(p, self._c["weight_decay"], out=s)
        np.add(g, s, out=g)

    def _sgd(self, params, grads, lr, mom, use_momentum: bool) -> None:
        """torch SGD: ``g += wd*theta``; ``b = g`` at the first step, then
        ``b = mu*b + (1-dampening)*g``; ``g = g + mu*b`` (Nesterov) or ``g = b``; ``theta -= lr*g``."""
        first = False
        if use_momentum:
            first = not self._started.any()
            self._started[:] = True
        if self._fusable(params, grads):
            K, cv = params[0].shape[0], self._cv
            consts = (
                self._vec(-lr, K),
                cv["weight_decay"] if self._wd else None,
                (cv["momentum"] if mom is None else self._vec(mom, K)) if use_momentum else None,
                cv["1-dampening"] if use_momentum and self._damp else None,
                first,
                use_momentum and self._nesterov,
            )
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                b = self._state[i]["momentum_buffer"] if use_momentum else None
                _fused.sgd(p, g, b, *consts)
            return
        c, neg_lr = self._c, self._col(-lr)
        if use_momentum:
            mu = c["momentum"] if mom is None else self._col(mom)
        for i, (p, g, s) in enumerate(zip(params, grads, self._scratch, strict=True)):
            if self._wd:
                self._l2(p, g, s)
            if use_momentum:
                b = self._state[i]["momentum_buffer"]
                if first:
                    np.copyto(b, g)
                else:
                    np.multiply(b, mu, out=b)
                    if self._damp:
                        np.multiply(g, c["1-dampening"], out=s)
                        np.add(b, s, out=b)
                    else:
                        np.add(b, g, out=b)
                if self._nesterov:
                    np.multiply(b, mu, out=s)
                    np.add(g, s, out=g)
                else:
                    g = b
            np.multiply(g, neg_lr, out=s)
            np.add(p, s, out=p)

    def _adagrad(self, params, grads, lr, mom, use_momentum: bool) -> None:
        """torch Adagrad: ``g += wd*theta``; ``clr = lr / (1 + (k-1)*lr_decay)``;
        ``s += g^2``; ``theta -= clr * g / (sqrt(s) + eps)``."""
        c = self._c
        neg_clr = self._col(-(lr / (1 + (self._k - 1) * self._h["lr_decay"])))
        for i, (p, g, s) in enumerate(zip(params, grads, self._scratch, strict=True)):
            acc = self._state[i]["sum"]
            if self._wd:
                self._l2(p, g, s)
            np.multiply(g, g, out=s)
            np.add(acc, s, out=acc)
            np.sqrt(acc, out=s)
            np.add(s, c["eps"], out=s)
            np.multiply(g, neg_clr, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)

    def _rmsprop(self, params, grads, lr, mom, use_momentum: bool) -> None:
        """torch RMSprop: ``g += wd*theta``; ``v = alpha*v + (1-alpha)*g^2``; centered:
        ``m = m + (1-alpha)*(g-m)``, ``d = sqrt(v - m^2) + eps``, else ``d = sqrt(v) + eps``;
        momentum: ``b = mu*b + g/d``, ``theta -= lr*b``; else ``theta -= lr*g/d``."""
        c, neg_lr = self._c, self._col(-lr)
        mu = c["momentum"] if mom is None else self._col(mom)
        for i, (p, g, s) in enumerate(zip(params, grads, self._scratch, strict=True)):
            st = self._state[i]
            v = st["square_avg"]
            if self._wd:
                self._l2(p, g, s)
            np.multiply(g, c["1-alpha"], out=s)
            np.multiply(s, g, out=s)
            np.multiply(v, c["alpha"], out=v)
            np.add(v, s, out=v)
            if self._centered:
                m = st["grad_avg"]
                np.subtract(g, m, out=s)  # torch: grad_avg.lerp_(grad, 1 - alpha)
                np.multiply(s, c["1-alpha"], out=s)
                np.add(m, s, out=m)
                np.multiply(m, m, out=s)
                np.subtract(v, s, out=s)
                np.sqrt(s, out=s)
            else:
                np.sqrt(v, out=s)
            np.add(s, c["eps"], out=s)
            if use_momentum:
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

    def _decay(self, lr: np.ndarray) -> np.ndarray | None:
        """AdamW's factor ``1 - lr*wd`` (with this step's lr), or None."""
        return self._col(1 - lr * self._h["weight_decay"]) if self._decoupled else None

    def _moments(self, p, g, s, st, decay, b1col) -> None:
        """Shared Adam/NAdam start: weight decay, ``m = m + (1-beta1)*(g-m)``,
        ``v = beta2*v + (1-beta2)*g^2``."""
        c = self._c
        if self._wd:
            if decay is not None:
                np.multiply(p, decay, out=p)
            else:
                self._l2(p, g, s)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        np.subtract(g, m, out=s)  # torch: exp_avg.lerp_(grad, 1 - beta1)
        np.multiply(s, b1col, out=s)
        np.add(m, s, out=m)
        np.multiply(g, c["1-beta2"], out=s)
        np.multiply(s, g, out=s)
        np.multiply(v, c["beta2"], out=v)
        np.add(v, s, out=v)

    def _adam(self, params, grads, lr, mom, use_momentum: bool) -> None:
        """torch Adam/AdamW: moments as in :meth:`_moments`; amsgrad: ``v = max(v_max, v)``;
        ``theta -= lr/(1-beta1^k) * m / (sqrt(v)/sqrt(1-beta2^k) + eps)``."""
        k, h, c = self._k, self._h, self._c
        beta1 = h["beta1"] if mom is None else mom
        if not self._amsgrad and self._fusable(params, grads):
            K, vec, cv = params[0].shape[0], self._vec, self._cv
            decoupled = self._wd and self._decoupled
            consts = (
                cv["1-beta1"] if mom is None else vec(1 - mom, K),
                cv["1-beta2"],
                cv["beta2"],
                vec(-(lr / (1 - beta1**k)), K),
                vec((1 - h["beta2"] ** k) ** 0.5, K),
                cv["eps"],
                cv["weight_decay"] if self._wd and not decoupled else None,
                vec(1 - lr * h["weight_decay"], K) if decoupled else None,
            )
            for p, g, st in zip(params, grads, self._state, strict=True):
                _fused.adam(p, g, st["exp_avg"], st["exp_avg_sq"], *consts)
            return
        b1col = c["1-beta1"] if mom is None else self._col(1 - mom)
        neg_step = self._col(-(lr / (1 - beta1**k)))
        bc2_sqrt = self._col((1 - h["beta2"] ** k) ** 0.5)
        decay = self._decay(lr)
        for i, (p, g, s) in enumerate(zip(params, grads, self._scratch, strict=True)):
            st = self._state[i]
            self._moments(p, g, s, st, decay, b1col)
            v = st["exp_avg_sq"]
            if self._amsgrad:
                v = np.maximum(st["max_exp_avg_sq"], v, out=st["max_exp_avg_sq"])
            np.sqrt(v, out=s)
            np.divide(s, bc2_sqrt, out=s)
            np.add(s, c["eps"], out=s)
            np.multiply(st["exp_avg"], neg_step, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)

    def _nadam(self, params, grads, lr, mom, use_momentum: bool) -> None:
        """torch NAdam: ``mu_k = beta1*(1 - 0.5*0.96^(k*psi))``, ``P_k = P_{k-1}*mu_k``; moments
        as in :meth:`_moments`; ``d = sqrt(v/(1-beta2^k)) + eps``;
        ``theta -= lr*(1-mu_k)/(1-P_k) * g/d + lr*mu_{k+1}/(1-P_k*mu_{k+1}) * m/d``."""
        k, h, c = self._k, self._h, self._c
        beta1 = h["beta1"] if mom is None else mom
        b1col = c["1-beta1"] if mom is None else self._col(1 - mom)
        psi = h["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (k * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((k + 1) * psi))
        self._mu_product = prod = self._mu_product * mu
        coef_g = self._col(-lr * (1.0 - mu) / (1.0 - prod))
        coef_m = self._col(-lr * mu_next / (1.0 - prod * mu_next))
        bc2 = self._col(1 - h["beta2"] ** k)
        decay = self._decay(lr)
        for i, (p, g, s) in enumerate(zip(params, grads, self._scratch, strict=True)):
            st = self._state[i]
            self._moments(p, g, s, st, decay, b1col)
            np.divide(st["exp_avg_sq"], bc2, out=s)
            np.sqrt(s, out=s)
            np.add(s, c["eps"], out=s)
            np.multiply(g, coef_g, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)
            np.multiply(st["exp_avg"], coef_m, out=g)
            np.divide(g, s, out=g)
            np.add(p, g, out=p)
