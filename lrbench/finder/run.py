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
    min_div: float = 10.0

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


def run(config: Config, settings: Settings) -> Outcome:
    """Run the range test for every task x optimizer of ``config`` and analyse it.

    ``config.train`` gives ``batch_size`` and ``dtype``; epochs, steps, schedules and the lr grid
    are ignored. Each run's spec has schedule ``constant`` and ``lr = start_lr`` (the engine's
    ``lr_table`` replaces both).
    """
    from threadpoolctl import threadpool_limits

    from lrbench.core.engine import train_group
    from lrbench.core.optimizers import OPTIMIZERS
    from lrbench.core.sharing import group_key
    from lrbench.core.tasks import load_task_data, stability_bound
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
        if m == "range":
            agg["base"] = sg.aggregate([g.base_lr for g in got])
        pair.aggregates[m] = agg
        pair.mean_suggestions[m] = _suggest(lrs, pair.mean_curve, m, st, None)
    chosen = pair.aggregates[st.suggest]
    pair.recommended = chosen["median"]
    if st.suggest == "range" and chosen["base"]["median"] is not None:
        pair.recommended_base = chosen["base"]["median"]
    a, b = pair.aggregates["steepest"]["median"], pair.aggregates["minimum"]["median"]
    if a is not None and b is not None:
        pair.methods_disagree = bool(max(a, b) / min(a, b) > DISAGREE_RATIO)


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
    keys = ("lr", "base_lr", "lower_bound_only", "reason")
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
        "recommended": recommended,
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
