"""The LR range test (``lrbench find-lr``): ramp the learning rate, record the loss, suggest.

Every task x optimizer of a config is trained for ``num_iter`` steps with the learning rate of
step ``t`` set to ``ramp[t]`` (:func:`lrbench.finder.suggest.ramp`: exponential or linear, both ends
exact), once per seed, all seeds (and all pairs of one lockstep group) in one
:func:`lrbench.core.engine.train_group` call. Each seed is a fresh model from its own seed; the
engine's own generators are the only randomness, so the global RNG is never touched and the same
settings give the same bits.

Two curves are recorded per seed: ``loss_probe_post[t]``, the mean loss on a fixed subset of
training rows after update ``t`` (the subset is drawn once per seed by
``np.random.default_rng([seed, 12345]).choice(n_train, size, replace=False)``, sorted; a probe
size >= ``n_train`` takes every row in order), and ``loss_batch_pre[t]``, the minibatch loss of
step ``t`` computed before update ``t`` (fastai/Lightning's curve, one step behind its lr).
``curve`` picks which one the divergence rule and the suggestions read. The engine runs with
``divergence_factor=inf`` (it only stops on a non-finite minibatch loss); the finder applies
:func:`lrbench.finder.suggest.detect_divergence` to each seed's curve afterwards.

Logic only: data in, data out (:func:`write` writes the files); the CLI renders and prints.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lrbench.config import Config
from lrbench.errors import ConfigError
from lrbench.finder import suggest as sg
from lrbench.spec import RunSpec, TaskSpec, TrainSpec, freeze

CURVES = ("probe", "batch")
PROBE_SALT = 12345
DISAGREE_RATIO = 10.0
CURVE_COLUMNS = (
    "task", "optimizer", "seed", "step", "lr", "loss_probe_post", "loss_batch_pre",
    "loss_ema", "loss_smooth", "diverged",
)  # fmt: skip
SUGGESTION_COLUMNS = (
    "task", "optimizer", "method", "kind", "seed", "lr", "base_lr", "step", "lower_bound_only",
    "recommended", "min", "max", "sd_log10", "unstable", "n", "reason",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Range-test settings (the ``find-lr`` flags); :meth:`check` validates them.

    ``div_factor=None`` disables the rise rule (``--no-stop-div``); ``smooth_window=None`` means
    :func:`lrbench.finder.suggest.default_window`.
    """

    start_lr: float = 1e-6
    end_lr: float = 10.0
    num_iter: int = 100
    mode: str = "exp"
    curve: str = "probe"
    seeds: int = 5
    probe_size: int = 1024
    smooth_beta: float = 0.95
    smooth_window: int | None = None
    div_factor: float | None = 4.0
    loss_floor: float = 0.0
    skip_start: int = 10
    skip_end: int = 3
    suggest: str = "minimum"
    min_div: float = sg.MIN_DIV

    def check(self) -> list[str]:
        """Raise :class:`ConfigError` for a bad value; return warnings (strings)."""
        for value, path, choices in (
            (self.mode, "--mode", sg.MODES),
            (self.curve, "--curve", CURVES),
            (self.suggest, "--suggest", sg.METHODS),
        ):
            _choice(value, path, choices)
        _integer(self.seeds, "--seeds", 1)
        _integer(self.probe_size, "--probe-size", 1)
        need = _integer(self.skip_start, "--skip-start", 0) + _integer(
            self.skip_end, "--skip-end", 0
        )
        need += 10
        _integer(
            self.num_iter, "--num-iter", need, f"an integer >= skip_start + skip_end + 10 = {need}"
        )
        _positive(self.start_lr, "--start-lr", "a finite number > 0")
        _positive(
            self.end_lr,
            "--end-lr",
            f"a finite number > --start-lr {self.start_lr:g}",
            self.start_lr,
        )
        _positive(self.min_div, "--min-div", "a finite number > 0")
        if self.div_factor is not None:
            _positive(self.div_factor, "--div-factor", "a finite number > 1", 1.0)
        sg.detect_divergence(np.ones(1), beta=self.smooth_beta, loss_floor=self.loss_floor)
        if self.smooth_window is not None:
            sg.hann_weights(self.smooth_window)  # an odd integer >= 1
        decades = math.log10(self.end_lr / self.start_lr)
        per_decade = (self.num_iter - 1) / decades
        warnings = []
        if self.mode == "exp" and per_decade < 10:
            warnings.append(
                f"only {per_decade:.1f} points per decade ({self.num_iter} steps over {decades:.1f} "
                "decades): suggestions are coarse; raise --num-iter or narrow the range"
            )
        if self.mode == "linear" and decades > 1:
            warnings.append(
                f"a linear ramp over {decades:.1f} decades spends almost every step near --end-lr; "
                "keep a linear range within one decade (Smith) or use --mode exp"
            )
        return warnings

    def window(self) -> int:
        return self.smooth_window or sg.default_window(self.num_iter)

    def seed_list(self) -> list[int]:
        return list(range(self.seeds))


def _choice(value: Any, path: str, choices: Sequence[str]) -> None:
    if value not in choices:
        from lrbench.params import did_you_mean

        raise ConfigError(path, value, "one of " + ", ".join(choices), did_you_mean(value, choices))


def _integer(value: Any, path: str, low: int, allowed: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(path, value, allowed or f"an integer >= {low}")
    return int(value)


def _positive(value: Any, path: str, allowed: str, low: float = 0.0) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= low:
        raise ConfigError(path, value, allowed)
    return float(value)


# ------------------------------------------------------------------------------ the run


@dataclass
class SeedCurve:
    """One seed's range test: both curves (NaN-padded to ``num_iter``), where it stopped, and
    each method's suggestion. ``rows`` = steps recorded (``num_iter``, or up to the step where
    the engine stopped on a non-finite minibatch loss, that step included)."""

    seed: int
    probe_post: np.ndarray
    batch_pre: np.ndarray
    rows: int
    divergence: sg.Divergence
    suggestions: dict[str, sg.Suggestion]

    def curve(self, which: str) -> np.ndarray:
        return self.probe_post if which == "probe" else self.batch_pre


@dataclass
class PairResult:
    """The range test of one task x optimizer over every seed, and what it suggests."""

    task: TaskSpec
    optimizer: str
    optimizer_params: dict[str, Any]
    label: str  # optimizer label, e.g. ``momentum(momentum=0.5)``
    batch_size: int | None
    n_train: int
    probe_size: int
    bound: float | None  # 2/L of the full-batch training loss (logreg, linear)
    seeds: list[SeedCurve]
    aggregates: dict[str, dict[str, Any]] = field(default_factory=dict)
    mean_curve: np.ndarray = field(default_factory=lambda: np.empty(0))
    mean_suggestions: dict[str, sg.Suggestion] = field(default_factory=dict)
    recommended: float | None = None
    recommended_base: float | None = None  # range: base_lr
    methods_disagree: bool | None = None
    cap: float | None = None  # the stability bound every suggestion was capped at (stability_cap)
    cap_rule: str = ""  # which bound, e.g. "2(1+mu)/L, mu = 0.9 (heavy ball, full batch)"

    @property
    def n_stopped(self) -> int:
        return sum(s.divergence.stopped for s in self.seeds)


@dataclass
class Outcome:
    """Everything one ``find-lr`` run found: per pair results, the ramp, warnings."""

    config: Config
    settings: Settings
    lrs: np.ndarray
    pairs: list[PairResult]
    warnings: list[str]


def probe_rows(n_train: int, size: int, seed: int) -> np.ndarray:
    """The probe subset of one seed: every row in order if ``size >= n_train``, else ``size``
    distinct rows from ``np.random.default_rng([seed, 12345])``, sorted."""
    if size >= n_train:
        return np.arange(n_train)
    rng = np.random.default_rng([seed, PROBE_SALT])
    return np.sort(rng.choice(n_train, size, replace=False))


def stability_bound(task: TaskSpec, dtype: str = "float64") -> float | None:
    """``2/L`` of the full-batch training loss for ``logreg`` and ``linear`` (models.smoothness),
    else None. Plain gradient descent is stable below it (heavy-ball momentum mu: 2(1+mu)/L)."""
    from lrbench.core.engine import load_task_data
    from lrbench.core.models import smoothness

    if task.model not in ("logreg", "linear"):
        return None
    data = load_task_data(task, dtype)
    L = smoothness(task.model, data.X_train, data.y_train, data.n_classes)
    return 2.0 / L if L else None


def optimizer_bound(two_over_l: float, optimizer: str, params: dict[str, Any]) -> float | None:
    """The largest stable constant lr of full-batch ``optimizer`` on a quadratic whose Hessian
    has top eigenvalue ``L = 2 / two_over_l``, or None when no such bound is known.

    Per eigen-direction (curvature ``lam``, weight decay ``wd`` adds to it: ``lam' = lam + wd``),
    PyTorch's SGD (``b = mu*b + (1-d)*g``, ``theta -= lr*b``; heavy ball) is the linear
    recurrence ``theta' = theta - lr*(1-d)*lam'*theta + mu*(theta - theta_prev)``, stable iff
    ``0 < lr*(1-d)*lam' < 2*(1+mu)`` (Polyak 1964; the Jury conditions of its characteristic
    polynomial). Nesterov (``theta -= lr*(g + mu*b)``, ``d = 0``) has characteristic polynomial
    ``z^2 - (1+mu)(1-h)z + mu(1-h)``, ``h = lr*lam'``, stable iff ``0 < h < 2(1+mu)/(1+2mu)``:

    - ``sgd`` / ``momentum``: ``2*(1+mu) / ((1-d)*(L+wd))``; ``mu = 0`` gives ``2/(L+wd)``;
    - ``nesterov``: ``2*(1+mu) / ((1+2*mu)*(L+wd))``;
    - adaptive optimizers (adam, rmsprop, ...): None (their step is not ``lr x gradient``).
    """
    if optimizer not in ("sgd", "momentum", "nesterov"):
        return None
    L = 2.0 / two_over_l + float(params.get("weight_decay", 0.0))
    mu, damp = float(params.get("momentum", 0.0)), float(params.get("dampening", 0.0))
    if params.get("nesterov"):
        return 2.0 * (1.0 + mu) / ((1.0 + 2.0 * mu) * L)
    if damp >= 1.0:
        return None  # b never moves: no step at all
    return 2.0 * (1.0 + mu) / ((1.0 - damp) * L)


def stability_cap(
    two_over_l: float | None,
    optimizer: str,
    params: dict[str, Any],
    batch_size: int | None,
    n_train: int,
) -> tuple[float, str] | None:
    """``(cap, rule)`` when a stability bound is known for this run, else None: full-batch
    gradient descent (``batch_size`` None or >= ``n_train``) on ``logreg``/``linear``
    (``two_over_l`` set) with SGD, heavy-ball or Nesterov momentum (:func:`optimizer_bound`).
    For least squares the bound is exact; for logistic regression ``L`` bounds the curvature
    everywhere, so the cap is where stability is guaranteed, not where it ends."""
    if two_over_l is None or (batch_size is not None and batch_size < n_train):
        return None
    cap = optimizer_bound(two_over_l, optimizer, params)
    if cap is None:
        return None
    mu, wd = params.get("momentum", 0.0), params.get("weight_decay", 0.0)
    L = "(L + wd)" if wd else "L"
    if params.get("nesterov"):
        rule = f"2(1+mu)/((1+2mu){L}), mu = {mu:g} (Nesterov, full batch)"
    elif mu:
        damp = params.get("dampening", 0.0)
        rule = f"2(1+mu)/({'(1-d)' if damp else ''}{L}), mu = {mu:g} (heavy ball, full batch)"
    else:
        rule = f"2/{L} (gradient descent, full batch)"
    return cap, rule


def has_momentum(optimizer: str, params: dict[str, Any]) -> bool:
    """Whether the update carries a momentum term (its loss may rise and fall while stable):
    SGD-type and RMSprop with ``momentum > 0`` (Nesterov included), the Adam family
    (``beta1 > 0``); Adagrad never."""
    betas = params.get("betas")
    if betas is not None:
        return float(betas[0]) > 0.0
    return float(params.get("momentum", 0.0)) > 0.0


def run(config: Config, settings: Settings) -> Outcome:
    """Run the range test for every task x optimizer of ``config`` and analyse it.

    ``config.train`` gives ``batch_size`` and ``dtype``; epochs, steps, schedules and the lr grid
    are ignored. Each run's spec has schedule ``constant`` and ``lr = start_lr`` (the engine's
    ``lr_table`` replaces both).
    """
    from threadpoolctl import threadpool_limits

    from lrbench.core.engine import group_key, load_task_data, train_group
    from lrbench.core.optimizers import OPTIMIZERS
    from lrbench.spec import part_label, registry_defaults

    warnings = settings.check()
    n = settings.num_iter
    lrs = sg.ramp(settings.start_lr, settings.end_lr, n, settings.mode)
    dtype = config.train["dtype"]
    train = TrainSpec(
        steps=n,
        batch_size=config.train["batch_size"],
        eval_every=n + 1,  # evaluate at the start and the end only
        log_every=1,
        dtype=dtype,
        divergence_factor=math.inf,  # the engine stops on non-finite losses only
    )
    pairs = [(t, o, p) for t in config.tasks for o, p in config.optimizers]
    seeds = settings.seed_list()
    specs = [
        RunSpec(t, train, o, freeze(p), "constant", (), settings.start_lr, s)
        for t, o, p in pairs
        for s in seeds
    ]
    groups: dict[tuple, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(group_key(spec), []).append(i)
    results: list[Any] = [None] * len(specs)
    with threadpool_limits(1):  # one BLAS thread: the same bits whatever the machine
        for idx in groups.values():
            batch = [specs[i] for i in idx]
            data = load_task_data(batch[0].task, dtype)
            n_train = len(data.y_train)
            probe = np.stack([probe_rows(n_train, settings.probe_size, s.seed) for s in batch])
            table = np.repeat(lrs[:, None], len(batch), axis=1)
            for i, r in zip(idx, train_group(batch, data, lr_table=table, probe_idx=probe)):
                results[i] = r
    defaults = registry_defaults(OPTIMIZERS)
    out = []
    for j, (task, oname, oparams) in enumerate(pairs):
        n_train = len(load_task_data(task, dtype).y_train)
        pair = PairResult(
            task=task,
            optimizer=oname,
            optimizer_params=dict(oparams),
            label=part_label(oname, freeze(oparams), defaults),
            batch_size=train.batch_size,
            n_train=n_train,
            probe_size=min(settings.probe_size, n_train),
            bound=stability_bound(task, dtype),
            seeds=[
                _seed_curve(r, lrs, settings)
                for r in results[j * len(seeds) : (j + 1) * len(seeds)]
            ],
        )
        capped = stability_cap(pair.bound, oname, pair.optimizer_params, pair.batch_size, n_train)
        if capped is not None:
            pair.cap, pair.cap_rule = capped
            for s in pair.seeds:
                s.suggestions = {m: _cap(v, pair) for m, v in s.suggestions.items()}
        _analyse(pair, lrs, settings)
        out.append(pair)
        if pair.n_stopped < len(seeds):
            what = "no divergence in range" if settings.div_factor else "no non-finite loss"
            warnings.append(
                f"{task.label} / {pair.label}: {what} for {len(seeds) - pair.n_stopped} of "
                f"{len(seeds)} seeds; minimum and range are lower bounds (raise --end-lr)"
            )
    return Outcome(config, settings, lrs, out, warnings)


def _seed_curve(result: Any, lrs: np.ndarray, st: Settings) -> SeedCurve:
    n = lrs.size
    probe = np.full(n, np.nan)
    post = np.asarray(result.extra["probe_loss"], dtype=np.float64)
    probe[: post.size] = post
    batch = np.full(n, np.nan)
    batch[: result.log_loss.size] = result.log_loss
    curve = probe if st.curve == "probe" else batch
    div = sg.detect_divergence(
        curve,
        beta=st.smooth_beta,
        div_factor=st.div_factor,
        loss_floor=st.loss_floor,
        skip_start=st.skip_start,
        momentum=has_momentum(result.spec.optimizer, dict(result.spec.optimizer_params)),
    )
    sugg = {m: _suggest(lrs, curve, m, st, div.stop_step) for m in sg.METHODS}
    rows = max(post.size, result.log_loss.size)
    return SeedCurve(int(result.spec.seed), probe, batch, rows, div, sugg)


def _suggest(
    lrs: np.ndarray, curve: np.ndarray, method: str, st: Settings, stop: int | None
) -> sg.Suggestion:
    return sg.suggest(
        lrs, curve, method, mode=st.mode, stop_step=stop, window=st.window(),
        skip_start=st.skip_start, skip_end=st.skip_end, min_div=st.min_div,
    )  # fmt: skip


def _cap(s: sg.Suggestion, pair: PairResult) -> sg.Suggestion:
    return sg.cap_suggestion(s, pair.cap, pair.cap_rule)


def _analyse(pair: PairResult, lrs: np.ndarray, st: Settings) -> None:
    """Cross-seed aggregates, the mean-curve suggestions, the recommendation and the flags."""
    padded = []
    for s in pair.seeds:
        c = s.curve(st.curve).copy()
        if s.divergence.stop_step is not None:
            c[s.divergence.stop_step :] = np.nan
        padded.append(c)
    pair.mean_curve = sg.mean_curve(np.stack(padded))
    for m in sg.METHODS:
        got = [s.suggestions[m] for s in pair.seeds]
        agg = sg.aggregate([g.lr for g in got])
        agg["n_lower_bound"] = sum(g.lower_bound_only for g in got)
        agg["lower_bound_only"] = agg["n_lower_bound"] > 0
        agg["reasons"] = sorted({g.reason for g in got if g.lr is None})
        agg["n_capped"] = sum(g.capped for g in got)
        if m == "range":
            agg["base"] = sg.aggregate([g.base_lr for g in got])
        pair.aggregates[m] = agg
        pair.mean_suggestions[m] = _cap(_suggest(lrs, pair.mean_curve, m, st, None), pair)
    chosen = pair.aggregates[st.suggest]
    pair.recommended = chosen["median"]
    if st.suggest == "range" and chosen["base"]["median"] is not None:
        pair.recommended_base = chosen["base"]["median"]
    a, b = pair.aggregates["steepest"]["median"], pair.aggregates["minimum"]["median"]
    if a is not None and b is not None:
        pair.methods_disagree = bool(max(a, b) / min(a, b) > DISAGREE_RATIO)


def trust(pair: PairResult, outcome: Outcome) -> dict[str, Any]:
    """How far to trust one pair's recommendation: the facts, each with its count.

    - ``seed_spread``: the recommended method's ``max/min`` and ``sd_log10`` over seeds, and
      ``unstable`` (:func:`lrbench.finder.suggest.aggregate`);
    - ``clear_minimum``: seeds whose smoothed curve has a clear minimum
      (:func:`lrbench.finder.suggest.clear_minimum`: a bottom inside the usable range, then a
      detected divergence); ``diverged``: seeds where the divergence rule fired;
    - ``capped``: seeds whose recommended value was capped at the stability bound;
    - ``range_test`` and ``sweep``: batch size and steps of the range test and of the sweep it
      proposes (``config.train``: ``steps``, or ``epochs`` x steps per epoch), and
      ``same_setup``. A range test always runs ``num_iter`` steps, so a sweep of another length
      is the usual case: the best lr of a longer run is often smaller;
    - ``notes``: one sentence per fact that lowers the trust.
    """
    from lrbench.core.engine import steps_per_epoch

    st, n = outcome.settings, len(pair.seeds)
    chosen = pair.aggregates[st.suggest]
    ratio = None if not chosen["n"] else chosen["max"] / chosen["min"]
    clear = sum(
        sg.clear_minimum(
            s.curve(st.curve), stop_step=s.divergence.stop_step, window=st.window(),
            skip_start=st.skip_start, skip_end=st.skip_end,
        )
        for s in pair.seeds
    )  # fmt: skip
    train = outcome.config.train
    batch = train["batch_size"]
    steps = train["steps"] or train["epochs"] * steps_per_epoch(pair.n_train, batch)
    test = {"batch_size": pair.batch_size or "full", "steps": st.num_iter}
    sweep = {"batch_size": batch or "full", "steps": steps, "epochs": train["epochs"]}
    if train["steps"]:
        sweep["epochs"] = None
    same = test["batch_size"] == sweep["batch_size"] and test["steps"] == steps
    notes = []
    if chosen["unstable"]:
        notes.append(
            f"seeds disagree: {st.suggest} spans x{ratio:.3g} (sd log10 {chosen['sd_log10']:.2f})"
        )
    if clear < n:
        notes.append(f"no clear minimum for {n - clear}/{n} seeds")
    if pair.n_stopped < n:
        notes.append(f"no divergence detected for {n - pair.n_stopped}/{n} seeds: a lower bound")
    if chosen["n_capped"]:
        notes.append(
            f"capped at {pair.cap_rule} = {pair.cap:.3g} for {chosen['n_capped']}/{n} seeds"
        )
    if not same:
        what = f"{steps} steps" + (f" ({sweep['epochs']} epochs)" if sweep["epochs"] else "")
        notes.append(
            f"the range test ran {st.num_iter} steps at batch {test['batch_size']}; the sweep it "
            f"proposes trains {what} at batch {sweep['batch_size']}"
        )
    return {
        "method": st.suggest,
        "seed_spread": {"max_over_min": ratio, "sd_log10": chosen["sd_log10"],
                        "unstable": chosen["unstable"], "n": chosen["n"]},
        "clear_minimum": clear,
        "diverged": pair.n_stopped,
        "capped": chosen["n_capped"],
        "n_seeds": n,
        "range_test": test,
        "sweep": sweep,
        "same_setup": same,
        "notes": notes,
    }  # fmt: skip


# ------------------------------------------------------------------------------ outputs


def curve_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """``curve.csv``: one row per pair, seed and recorded step (:data:`CURVE_COLUMNS`).

    ``loss_ema`` (the divergence rule's causal EMA) and ``loss_smooth`` (the centred curve the
    suggestions read, empty from the stop on) are computed on the chosen ``--curve``;
    ``diverged`` is true from the stop step on.
    """
    st, lrs = outcome.settings, outcome.lrs
    rows = []
    for p in outcome.pairs:
        for s in p.seeds:
            c, stop = s.curve(st.curve), s.divergence.stop_step
            ema = sg.ema(c[: s.rows], st.smooth_beta)
            smooth = sg.smooth_usable(c, stop_step=stop, window=st.window())
            for t in range(s.rows):
                values = (p.task.label, p.label, s.seed, t, lrs[t], s.probe_post[t], s.batch_pre[t])
                values += (ema[t], smooth[t], stop is not None and t >= stop)
                rows.append(dict(zip(CURVE_COLUMNS, values)))
    return rows


def suggestion_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """``suggestions.csv``: per pair and method one row per seed (``kind=seed``), one for the
    mean curve (``kind=mean_curve``) and one aggregate (``kind=median``: ``lr`` is the
    cross-seed median, ``min``/``max``/``sd_log10``/``unstable`` its spread)."""
    rows = []
    for p in outcome.pairs:
        for m in sg.METHODS:
            head = {"task": p.task.label, "optimizer": p.label, "method": m}
            for s in p.seeds:
                rows.append({**head, "kind": "seed", "seed": s.seed, **_sugg(s.suggestions[m])})
            rows.append({**head, "kind": "mean_curve", **_sugg(p.mean_suggestions[m])})
            a = p.aggregates[m]
            agg = {k: a[k] for k in ("min", "max", "sd_log10", "unstable", "n", "lower_bound_only")}
            agg.update(lr=a["median"], base_lr=a["base"]["median"] if m == "range" else None)
            agg.update(recommended=m == outcome.settings.suggest, reason="; ".join(a["reasons"]))
            rows.append({**head, "kind": "median", **agg})
    return rows


def _sugg(s: sg.Suggestion) -> dict[str, Any]:
    keys = ("lr", "base_lr", "lower_bound_only", "capped", "reason")
    return {k: getattr(s, k) for k in keys} | {"step": s.index}


def summary(
    outcome: Outcome, out_dir: Path | None = None, command: str | None = None
) -> dict[str, Any]:
    """``summary.json``: the settings and, per task x optimizer, the suggestions (per seed, on the
    mean curve and aggregated), the recommendation, 2/L and where each seed stopped and why."""
    st = outcome.settings
    settings = dataclasses.asdict(st) | {"seeds": st.seed_list(), "smooth_window": st.window()}
    settings["stop_div"] = st.div_factor is not None
    settings["points_per_decade"] = (st.num_iter - 1) / math.log10(st.end_lr / st.start_lr)
    data = {
        "name": outcome.config.name,
        "settings": settings,
        "results": [_pair_json(p, outcome) for p in outcome.pairs],
        "sweep_command": command,
        "warnings": list(outcome.warnings),
        "out": None if out_dir is None else str(out_dir),
    }
    return _plain(data)


def _plain(v: Any) -> Any:
    """JSON-ready: tuples as lists, numpy scalars as Python numbers, non-finite floats as None."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _pair_json(p: PairResult, outcome: Outcome) -> dict[str, Any]:
    methods = {}
    for m in sg.METHODS:
        per_seed = [_sugg(s.suggestions[m]) for s in p.seeds]
        methods[m] = {
            **p.aggregates[m],
            "mean_curve": _sugg(p.mean_suggestions[m]),
            "per_seed": per_seed,
        }
    stops = []
    for s in p.seeds:
        d = s.divergence
        lr = None if d.stop_step is None else float(outcome.lrs[d.stop_step])
        keys = ("seed", "stopped", "stop_step", "stop_lr", "reason")
        stops.append(dict(zip(keys, (s.seed, d.stopped, d.stop_step, lr, d.reason))))
    t, chosen = p.task, outcome.settings.suggest
    recommended = {"method": chosen, "lr": p.recommended, "base_lr": p.recommended_base}
    recommended["lower_bound_only"] = p.aggregates[chosen]["lower_bound_only"]
    recommended["capped"] = p.aggregates[chosen]["n_capped"] > 0
    return {
        "task": t.label,
        "dataset": t.dataset,
        "dataset_params": dict(t.dataset_params),
        "model": t.model,
        "model_params": dict(t.model_params),
        "target": t.target,
        "optimizer": p.optimizer,
        "optimizer_params": p.optimizer_params,
        "optimizer_label": p.label,
        "batch_size": p.batch_size or "full",
        "dtype": outcome.config.train["dtype"],
        "n_train": p.n_train,
        "probe_size": p.probe_size,
        "stability_bound_2_over_L": p.bound,
        "stability_cap": None if p.cap is None else {"lr": p.cap, "rule": p.cap_rule},
        "recommended": recommended,
        "trust": trust(p, outcome),
        "methods_disagree": p.methods_disagree,
        "n_seeds": len(p.seeds),
        "n_stopped": p.n_stopped,
        "stops": stops,
        "methods": methods,
    }


def lr_grid(recommended: Sequence[float]) -> list[float]:
    """A 3x grid around the recommendations: ``r_min * 3**k`` for ``k = -1 .. K`` with
    ``K = max(1, ceil(log3(r_max / r_min)))``; one recommendation r gives ``[r/3, r, 3r]``."""
    lo, hi = min(recommended), max(recommended)
    top = max(1, math.ceil(math.log(hi / lo) / math.log(3.0) - 1e-9))
    return [lo * 3.0**k for k in range(-1, top + 1)]


def yaml_number(v: float) -> str:
    """3 significant digits, written so that YAML 1.1 (PyYAML) reads a float: ``1.0e-05``."""
    s = f"{v:.3g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant if '.' in mant else mant + '.0'}e{exp}"
    return s


def sweep_command(
    outcome: Outcome, config_file: str | Path, overrides: Sequence[str] = ()
) -> str | None:
    """``lrbench sweep CONFIG [--set ...] --set 'lr=[a, b, c]'`` with :func:`lr_grid` around the
    recommended lrs; None when nothing was recommended."""
    import shlex

    rec = [p.recommended for p in outcome.pairs if p.recommended is not None]
    if not rec:
        return None
    grid = "lr=[" + ", ".join(yaml_number(v) for v in lr_grid(rec)) + "]"
    parts = ["lrbench", "sweep", str(config_file)]
    for item in [*overrides, grid]:
        parts += ["--set", item]
    return " ".join(shlex.quote(x) for x in parts)


def write(outcome: Outcome, out_dir: Path, command: str | None, plot: bool = True) -> list[Path]:
    """Write (atomically) ``config.yaml`` (the tasks, optimizers and training settings tested, as
    a sweep config), ``curve.csv``, ``suggestions.csv``, ``summary.json`` and ``plot.png``."""
    import json

    import yaml

    from lrbench.files import atomic_write, csv_text

    out_dir = Path(out_dir)
    files = [out_dir / n for n in ("config.yaml", "curve.csv", "suggestions.csv", "summary.json")]
    atomic_write(files[0], yaml.safe_dump(outcome.config.raw, sort_keys=False))
    atomic_write(files[1], csv_text(curve_rows(outcome), CURVE_COLUMNS))
    atomic_write(files[2], csv_text(suggestion_rows(outcome), SUGGESTION_COLUMNS))
    atomic_write(
        files[3], json.dumps(summary(outcome, out_dir, command), indent=2, allow_nan=False) + "\n"
    )
    if plot:
        from lrbench.report.findlr_plot import findlr_plot

        files.append(findlr_plot(outcome, out_dir / "plot.png"))
    return files
