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
:func:`lrbench.finder.divergence.detect_divergence` to each seed's curve afterwards.

Where a stability bound is known for the run (full batch, ``logreg``/``linear``, an SGD-type
optimizer: :func:`stability_cap`), every suggestion is capped at it (:func:`cap_suggestion`).

Logic only: checked settings in (:mod:`lrbench.finder.settings`), an :class:`Outcome` out;
:mod:`lrbench.finder.output` turns it into rows and files (with the trust report of
:mod:`lrbench.finder.trust`), the CLI renders and prints.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lrbench.config import Config
from lrbench.core.engine import train_group
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.sharing import group_key
from lrbench.core.tasks import load_task_data, optimizer_bound, stability_bound
from lrbench.finder import suggest as sg
from lrbench.finder.divergence import Divergence, detect_divergence
from lrbench.finder.settings import Settings
from lrbench.spec import RunSpec, TaskSpec, TrainSpec, freeze, part_label, registry_defaults

PROBE_SALT = 12345
DISAGREE_RATIO = 10.0
#: Optimizers that divide the gradient by a running RMS of itself: a step of at most about the
#: lr per coordinate whatever the gradient's scale (:func:`lrbench.finder.suggest.budget_floor`).
NORMALIZED_STEP = frozenset({"adam", "adamw", "amsgrad", "nadam", "rmsprop", "adagrad"})
#: The Adam family: a normalised step with bias-corrected moments, so even the range test's
#: first steps move a weight by about the lr. ``--suggest auto`` recommends ``knee`` for them
#: and ``minimum`` for every other optimizer (``make bench-findlr``, BENCHMARKS.md: on the 18
#: Adam tasks of its first 80, ``minimum`` lands a median 0.65 decades above the best lr of the
#: sweep; RMSprop has no bias correction, its first steps are up to 10x the lr, and ``knee``
#: falls short).
BIAS_CORRECTED = frozenset({"adam", "adamw", "amsgrad", "nadam"})


def recommended_method(suggest: str, optimizer: str) -> str:
    """The method whose cross-seed median is recommended: ``suggest`` itself, or for
    ``auto`` ``knee`` with an optimizer of :data:`BIAS_CORRECTED` and ``minimum`` otherwise."""
    if suggest != "auto":
        return suggest
    return "knee" if optimizer in BIAS_CORRECTED else "minimum"


@dataclass
class SeedCurve:
    """One seed's range test: both curves (NaN-padded to ``num_iter``), where it stopped, and
    each method's suggestion. ``rows`` = steps recorded (``num_iter``, or up to the step where
    the engine stopped on a non-finite minibatch loss, that step included)."""

    seed: int
    probe_post: np.ndarray
    batch_pre: np.ndarray
    rows: int
    divergence: Divergence
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
    method: str = "minimum"  # the recommended method (recommended_method)
    recommended: float | None = None
    recommended_base: float | None = None  # range: base_lr
    methods_disagree: bool | None = None
    cap: float | None = None  # the stability bound every suggestion was capped at (stability_cap)
    cap_rule: str = ""  # which bound, e.g. "2(1+mu)/L, mu = 0.9 (heavy ball, full batch)"
    budget: int | None = None  # steps of the run knee's lower bound is for (NORMALIZED_STEP only)

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


def stability_cap(
    two_over_l: float | None,
    optimizer: str,
    params: dict[str, Any],
    batch_size: int | None,
    n_train: int,
) -> tuple[float, str] | None:
    """``(cap, rule)`` when a stability bound is known for this run, else None: full-batch
    gradient descent (``batch_size`` None or >= ``n_train``) on ``logreg``/``linear``
    (``two_over_l`` set) with SGD, heavy-ball or Nesterov momentum
    (:func:`lrbench.core.tasks.optimizer_bound`). For least squares the bound is exact; for
    logistic regression ``L`` bounds the curvature everywhere, so the cap is where stability is
    guaranteed, not where it ends."""
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


def cap_suggestion(
    s: sg.Suggestion, cap: float | None, rule: str = "the stability bound"
) -> sg.Suggestion:
    """``s`` with its learning rate at most ``cap``, a known stability bound of the run it is for
    (full-batch gradient descent on a quadratic diverges above ``2/L``; heavy ball above
    ``2(1+mu)/L``), or ``s`` itself when ``cap`` is None or not exceeded.

    A capped ``range`` keeps ``base_lr = max_lr / 4`` (so ``base_lr = cap / 4``). A capped value
    is no longer a lower bound: whatever lies beyond ``end_lr``, the answer cannot exceed the cap.
    The reason says what the value was and which bound (``rule``) capped it.
    """
    if cap is None or s.lr is None or s.lr <= cap:
        return s
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError(f"cap must be finite and > 0, got {cap!r}")
    base = None if s.base_lr is None else cap / sg.RANGE_BASE_DIV
    why = f"{s.reason}; capped at {rule} = {cap:.3g} (was {s.lr:.3g})"
    return dataclasses.replace(
        s, lr=cap, base_lr=base, reason=why, lower_bound_only=False, capped=True
    )


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
    warnings = settings.warnings()
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
        # the steps of the sweep the suggestion is for (its budget), as the sweep counts them
        budget = config.train_spec(task).steps if oname in NORMALIZED_STEP else None
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
                _seed_curve(r, lrs, settings, budget)
                for r in results[j * len(seeds) : (j + 1) * len(seeds)]
            ],
            budget=budget,
        )
        _cap_seeds(pair)
        _analyse(pair, lrs, settings, budget)
        out.append(pair)
        if pair.n_stopped < len(seeds):
            what = "no divergence in range" if settings.div_factor else "no non-finite loss"
            warnings.append(
                f"{task.label} / {pair.label}: {what} for {len(seeds) - pair.n_stopped} of "
                f"{len(seeds)} seeds; knee, minimum and range are lower bounds (raise --end-lr)"
            )
    return Outcome(config, settings, lrs, out, warnings)


def _seed_curve(result: Any, lrs: np.ndarray, st: Settings, budget: int | None) -> SeedCurve:
    n = lrs.size
    probe = np.full(n, np.nan)
    post = np.asarray(result.extra["probe_loss"], dtype=np.float64)
    probe[: post.size] = post
    batch = np.full(n, np.nan)
    batch[: result.log_loss.size] = result.log_loss
    curve = probe if st.curve == "probe" else batch
    div = detect_divergence(
        curve,
        beta=st.smooth_beta,
        div_factor=st.div_factor,
        loss_floor=st.loss_floor,
        skip_start=st.skip_start,
        momentum=has_momentum(result.spec.optimizer, dict(result.spec.optimizer_params)),
    )
    sugg = {m: _suggest(lrs, curve, m, st, div.stop_step, budget) for m in sg.METHODS}
    rows = max(post.size, result.log_loss.size)
    return SeedCurve(int(result.spec.seed), probe, batch, rows, div, sugg)


def _suggest(
    lrs: np.ndarray,
    curve: np.ndarray,
    method: str,
    st: Settings,
    stop: int | None,
    budget: int | None,
) -> sg.Suggestion:
    """One method on one curve; ``budget``: the run's steps for a normalised-step optimizer
    (:data:`NORMALIZED_STEP`), else None."""
    return sg.suggest(
        lrs, curve, method, mode=st.mode, stop_step=stop, window=st.window(),
        skip_start=st.skip_start, skip_end=st.skip_end, min_div=st.min_div,
        loss_floor=st.loss_floor, budget_steps=budget, normalized_step=budget is not None,
    )  # fmt: skip


def _cap_seeds(pair: PairResult) -> None:
    """Set the pair's stability cap (:func:`stability_cap`) and cap every seed's suggestions."""
    capped = stability_cap(
        pair.bound, pair.optimizer, pair.optimizer_params, pair.batch_size, pair.n_train
    )
    if capped is not None:
        pair.cap, pair.cap_rule = capped
        for s in pair.seeds:
            s.suggestions = {m: _cap(v, pair) for m, v in s.suggestions.items()}


def _cap(s: sg.Suggestion, pair: PairResult) -> sg.Suggestion:
    return cap_suggestion(s, pair.cap, pair.cap_rule)


def _analyse(pair: PairResult, lrs: np.ndarray, st: Settings, budget: int | None) -> None:
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
        pair.mean_suggestions[m] = _cap(_suggest(lrs, pair.mean_curve, m, st, None, budget), pair)
    pair.method = recommended_method(st.suggest, pair.optimizer)
    chosen = pair.aggregates[pair.method]
    pair.recommended = chosen["median"]
    if pair.method == "range" and chosen["base"]["median"] is not None:
        pair.recommended_base = chosen["base"]["median"]
    a, b = pair.aggregates["steepest"]["median"], pair.aggregates["minimum"]["median"]
    if a is not None and b is not None:
        pair.methods_disagree = bool(max(a, b) / min(a, b) > DISAGREE_RATIO)
