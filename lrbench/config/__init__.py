"""Experiment configs: YAML in, a validated :class:`Config` and its grid of run specs out.

The grid is tasks x optimizers x schedules x learning rates x seeds. A list where an optimizer,
schedule, dataset or model hyperparameter expects one value (or a list of lists where it
expects a list) is a grid axis too: ``{momentum: {momentum: [0.5, 0.9, 0.99]}}`` is three
optimizers, ``{adam: {weight_decay: [0, 1e-4, 1e-3]}}`` three weight decays. So is a list of
``train.early_stopping`` settings (``[null, {patience: 5}]``: without and with it). Every
error names the key path, the value and what is allowed, and validation reports every problem
of a config in one pass.

(Over 450 lines: one validator per config section, each collecting all its problems.)
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrbench import safeyaml
from lrbench.core.data import DATASETS, dataset_kind, resolve_dataset
from lrbench.core.models import MODELS, model_task, resolve_model
from lrbench.core.optimizers import OPTIMIZERS, check_cycle_momentum, resolve_optimizer
from lrbench.core.schedules import SCHEDULES, resolve_schedule
from lrbench.core.tasks import steps_per_epoch, train_size
from lrbench.errors import FAILED, ConfigError, ErrorList
from lrbench.expect import Expectation, Grid, parse_expectations
from lrbench.params import Param, check_each, did_you_mean, is_axis, lookup, resolve
from lrbench.spec import EarlyStopping, RunSpec, TaskSpec, TrainSpec, freeze, registry_defaults

LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
TOP_KEYS = ("name", "seeds", "tasks", "train", "lr", "optimizers", "schedules", "analysis",
            "expect", "lr_scaling")  # fmt: skip
TASK_KEYS = ("dataset", "model", "target", "test_size", "data_seed")
METRIC_CHOICES = (
    "final_val_loss",
    "best_val_loss",
    "final_train_loss",
    "final_val_accuracy",
    "best_val_accuracy",
    "final_gap_loss",
    "final_gap_accuracy",
    "best_gap_loss",
    "best_gap_accuracy",
    "best_step",
)
#: Parts a heatmap row may name (``analysis.rows``), in the default order of unnamed parts.
ROW_PARTS = ("optimizer", "weight_decay", "schedule", "early_stopping")
EARLY_STOPPING_PARAMS = (
    Param("patience", 5, "int", "evaluations without improvement before a run stops", low=1),
    Param("min_delta", 0.0, "float", "improving means lowering the best val loss by more", low=0),
    Param("restore_best", True, "bool", "final metrics are the best evaluation point's"),
)
# Keys read apart from their section's plain settings (their own validators), declared so that an
# unknown key's message lists them too.
_STOPPING_KEY = Param("early_stopping", None, "str", "null, a mapping or a list", nullable=True)
_TRACK_KEY = Param("track", None, "str", "what to measure at evaluations: sharpness", nullable=True)
_ROWS_KEY = Param("rows", None, "str", "the parts of a row label, in order", nullable=True)

TRAIN_PARAMS = (
    Param("epochs", 20, "int", "training length in epochs (or give steps)", low=1, nullable=True),
    Param(
        "steps",
        None,
        "int",
        "training length in optimizer steps (overrides epochs)",
        low=1,
        nullable=True,
    ),
    Param(
        "batch_size",
        32,
        "int",
        "minibatch size, or full for full-batch gradient descent (a list: a grid axis)",
        low=1,
    ),
    Param(
        "eval_every",
        None,
        "int",
        "evaluate every N steps; 'epoch' (default) once an epoch",
        low=1,
        nullable=True,
    ),
    Param("log_every", 1, "int", "record minibatch loss and lr every N steps", low=1),
    Param("dtype", "float64", "choice", "floating-point precision", choices=("float64", "float32")),
    Param(
        "divergence_factor",
        1e3,
        "float",
        "stop a run whose minibatch loss exceeds this multiple of its initial loss",
        low=1.0,
        low_open=True,
    ),
)
TRACKED = ("sharpness",)  # what train.track may ask for (lrbench.core.sharpness)
LR_SCALING_PARAMS = (
    Param(
        "rule",
        "none",
        "choice",
        "rescale each grid lr by the batch size B: linear lr*B/N, sqrt lr*sqrt(B/N)",
        choices=("none", "linear", "sqrt"),
    ),
    Param(
        "base_batch_size",
        None,
        "int",
        "N: the batch size the grid's lrs are for",
        low=1,
        nullable=True,
    ),
)
ANALYSIS_PARAMS = (
    Param(
        "metric",
        "final_val_loss",
        "choice",
        "metric that ranks learning rates",
        choices=METRIC_CHOICES,
    ),
    Param(
        "target",
        None,
        "float",
        "validation loss that counts as reached for steps_to_target",
        nullable=True,
    ),
)


@dataclass(frozen=True)
class Config:
    """A validated experiment config (``raw`` keeps it with defaults filled, for saving)."""

    name: str
    seeds: tuple[int, ...]
    tasks: tuple[TaskSpec, ...]
    train: dict[str, Any]
    lrs: tuple[float, ...]
    optimizers: tuple[tuple[str, dict[str, Any]], ...]
    schedules: tuple[tuple[str, dict[str, Any]], ...]
    analysis: dict[str, Any]
    raw: dict[str, Any]
    expect: tuple[Expectation, ...] = ()  # lrbench/expect.py; evaluated by lrbench.sweep.expect
    batch_sizes: tuple[int | None, ...] = ()  # train.batch_size as a grid axis (None: full)
    lr_scaling: dict[str, Any] | None = None  # {rule, base_batch_size} when a rule is set

    def specs(self) -> list[RunSpec]:
        """Every run of the grid, in a stable order (task, early stopping, batch size, optimizer,
        schedule, lr, seed); with ``lr_scaling``, each grid lr is rescaled by the batch size
        (:func:`scaled_lr`) and kept as the spec's ``base_lr``."""
        out = []
        for task in self.tasks:
            for stopping in self.train.get("early_stopping", (None,)):
                for batch in self.batch_sizes or (self.train["batch_size"],):
                    train = self.train_spec(task, batch, stopping)
                    for (oname, oparams), (sname, sparams), lr, seed in itertools.product(
                        self.optimizers, self.schedules, self.lrs, self.seeds
                    ):
                        used, base = lr, None
                        if self.lr_scaling is not None:
                            used, base = self._scaled(task, batch, lr), lr
                        out.append(RunSpec(task, train, oname, freeze(oparams), sname,
                                           freeze(sparams), used, seed, base))  # fmt: skip
        return out

    def _scaled(self, task: TaskSpec, batch: int | None, lr: float) -> float:
        """A grid lr rescaled for ``batch`` (full batch: the task's training-set size)."""
        assert self.lr_scaling is not None
        size = train_size(task, self.train["dtype"]) if batch is None else batch
        return scaled_lr(lr, size, self.lr_scaling["base_batch_size"], self.lr_scaling["rule"])

    def train_spec(
        self,
        task: TaskSpec,
        batch: int | None | str = "config",
        early_stopping: EarlyStopping | None = None,
    ) -> TrainSpec:
        """Training settings for a task (epochs resolve against its training-set size,
        :func:`lrbench.core.tasks.train_size`: known without loading the data for bundled and
        generated datasets), at ``batch`` (default: ``train.batch_size``, the first of a list),
        with ``early_stopping`` (one entry of ``train.early_stopping``)."""
        t = self.train
        if batch == "config":
            batch = t["batch_size"]
        assert batch is None or isinstance(batch, int)
        steps = t["steps"]
        if steps is None:
            steps = t["epochs"] * steps_per_epoch(train_size(task, t["dtype"]), batch)
        return TrainSpec(
            steps=int(steps),
            batch_size=batch,
            eval_every=t["eval_every"],
            log_every=t["log_every"],
            dtype=t["dtype"],
            divergence_factor=t["divergence_factor"],
            early_stopping=early_stopping,
            track=tuple(t.get("track", ())),
        )


def scaled_lr(lr: float, batch: int, base_batch: int, rule: str) -> float:
    """A grid learning rate rescaled for batch size ``batch`` (``N = base_batch``): ``linear``
    ``lr * B / N`` (Goyal et al. 2017), ``sqrt`` ``lr * sqrt(B / N)`` (Krizhevsky 2014; Hoffer et
    al. 2017), ``none`` ``lr``. Computed exactly so: ``lr * B / N`` and ``lr * math.sqrt(B / N)``
    in float64."""
    if rule == "linear":
        return lr * batch / base_batch
    if rule == "sqrt":
        return lr * math.sqrt(batch / base_batch)
    return lr


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping with the safe loader and the limits of :mod:`lrbench.safeyaml`
    (size, nesting, alias expansion); a clear one-line error for a missing or bad file."""
    data = safeyaml.load_file(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("(top level)", type(data).__name__, "a mapping of config keys")
    return data


def parse_value(text: str, source: str) -> Any:
    """A ``--set`` value: YAML with the limits of :mod:`lrbench.safeyaml`; empty text is null."""
    return safeyaml.loads(text, source) if text.strip() else None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set key.path=value`` overrides (values parsed as YAML) to a copy of ``raw``.

    Path parts are mapping keys or list indices: ``train.epochs=5``, ``lr=[0.1,0.3]``,
    ``tasks.0.hidden=[32]``. Every bad override is reported (one :class:`ConfigErrors`).
    """
    errors = ErrorList()
    out = copy.deepcopy(raw)
    for item in overrides:
        errors.attempt(_override, out, item)
    errors.raise_if_any()
    return out


def _override(out: dict[str, Any], item: str) -> None:
    """Apply one ``key.path=value`` to ``out`` in place."""
    if "=" not in item:
        raise ConfigError("--set", item, "key.path=value, e.g. train.epochs=5")
    path, text = item.split("=", 1)
    parts = [p for p in path.strip().split(".") if p]
    if not parts:
        raise ConfigError("--set", item, "key.path=value with a key path before '='")
    try:
        value = parse_value(text, f"--set {path.strip()}")
    except safeyaml.YamlProblem as problem:
        raise ConfigError(f"--set {path.strip()}", text, "a YAML value", problem.reason) from None
    node: Any = out
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {here}", part, f"a list index 0..{len(node) - 1}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {here}", node, "a mapping or list to descend into")


def load_config(
    paths: Sequence[str | Path] | str | Path | None = None, overrides: Sequence[str] = ()
) -> Config:
    """Read, merge (later files win, key by key at the top level), override and validate.

    Every problem is reported at once: all bad overrides, or else all problems of the config.
    """
    if paths is None:
        paths = [default_config_path()]
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    raw: dict[str, Any] = {}
    for p in paths:
        raw.update(read_yaml(p))
    if "name" not in raw and paths:
        raw["name"] = Path(paths[0]).stem
    return validate(apply_overrides(raw, overrides))


def default_config_path() -> Path:
    """The bundled quick-start config."""
    return Path(__file__).parents[1] / "configs" / "quickstart.yaml"


def validate(raw: Mapping[str, Any]) -> Config:
    """Check every key and value; fill defaults; return a :class:`Config`.

    Every problem is reported at once (a :class:`lrbench.errors.ConfigErrors` when there are
    several): each section, list item and key is checked even after an earlier one failed.
    """
    errors = ErrorList()
    errors.attempt(_unknown, raw, TOP_KEYS, "")
    name = errors.attempt(_name, raw.get("name", "sweep"))
    seeds = errors.attempt(_seeds, raw.get("seeds", 1))
    train = errors.attempt(_train, raw.get("train") or {})
    lrs = errors.attempt(_lrs, raw.get("lr", list(LR_GRID)))
    tasks = errors.attempt(_tasks, raw.get("tasks"))
    optimizers = errors.attempt(
        _entries,
        raw.get("optimizers", ["sgd"]),
        "optimizers",
        OPTIMIZERS,
        "optimizer",
        resolve_optimizer,
    )
    schedules = errors.attempt(
        _entries,
        raw.get("schedules", ["constant"]),
        "schedules",
        SCHEDULES,
        "schedule",
        resolve_schedule,
    )
    analysis = errors.attempt(_analysis, raw.get("analysis") or {})
    scaling = errors.attempt(_lr_scaling, raw.get("lr_scaling"))
    if optimizers is not FAILED and schedules is not FAILED:
        errors.attempt(_cycle_momentum, optimizers, schedules)
    axes = (tasks, optimizers, schedules, lrs, seeds)
    if all(a is not FAILED for a in (*axes, train)):
        extra = {"early_stopping": train["early_stopping"], "batch sizes": train["batch_sizes"]}
        errors.attempt(_grid_size, axes, {k: a for k, a in extra.items() if len(a) > 1})
    expect: tuple[Expectation, ...] = ()
    if all(a is not FAILED for a in (tasks, optimizers, schedules, analysis)):
        grid = Grid(tasks, optimizers, schedules, METRIC_CHOICES, analysis["metric"],
                    analysis["target"], registry_defaults(MODELS, OPTIMIZERS, SCHEDULES),
                    lrs if lrs is not FAILED else (),
                    train["batch_sizes"] if train is not FAILED else ())  # fmt: skip
        expect = errors.attempt(parse_expectations, raw.get("expect"), grid)
    errors.raise_if_any()
    batches = train.pop("batch_sizes")
    shown_batch = [b or "full" for b in batches] if len(batches) > 1 else batches[0] or "full"
    resolved = {
        "name": name,
        "seeds": list(seeds),
        "tasks": [_task_dict(t) for t in tasks],
        "train": {
            **{k: v for k, v in train.items() if k != "early_stopping"},
            "batch_size": shown_batch,
            "eval_every": train["eval_every"] or "epoch",
            **_stopping_dict(train["early_stopping"]),
        },
        "lr": list(lrs),
        "optimizers": [{n: _plain(p)} for n, p in optimizers],
        "schedules": [{n: _plain(p)} for n, p in schedules],
        "analysis": {k: v for k, v in analysis.items() if k != "rows" or v is not None},
        **({"expect": [e.to_dict() for e in expect]} if expect else {}),
        **({"lr_scaling": scaling} if scaling else {}),
    }
    if "track" in train:
        resolved["train"]["track"] = list(train["track"])
    return Config(name, seeds, tasks, train, lrs, optimizers, schedules, analysis, resolved, expect,
                  batches if len(batches) > 1 else (), scaling)  # fmt: skip


MAX_RUNS = 100_000  # runs in one grid (and cases of one expanded entry); W1 has 126


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError("name", name, "a non-empty folder name without '/'")
    return name


def _cycle_momentum(optimizers: tuple, schedules: tuple) -> None:
    errors = ErrorList()
    for i, (sname, sp) in enumerate(schedules):
        if sp.get("cycle_momentum"):
            for j, (oname, _) in enumerate(optimizers):
                errors.attempt(
                    check_cycle_momentum,
                    oname,
                    f"optimizers[{j}] with schedules[{i}].{sname}.cycle_momentum",
                )
    errors.raise_if_any()


def _grid_size(
    axes: Sequence[Sequence[Any]], extra: Mapping[str, Sequence[Any]] | None = None
) -> None:
    """At most :data:`MAX_RUNS` runs; ``extra``: further axes by name (early stopping, batch
    sizes), given when they have more than one value."""
    extra = extra or {}
    all_axes = (*axes, *extra.values())
    n = math.prod(len(a) for a in all_axes)
    if n > MAX_RUNS:
        sizes = " x ".join(str(len(a)) for a in all_axes)
        names = " x ".join(("tasks", "optimizers", "schedules", "lr", "seeds", *extra))
        raise ConfigError(
            "(grid)",
            f"{n} runs ({names} = {sizes})",
            f"at most {MAX_RUNS} runs",
            "split the study into several configs",
        )


def _unknown(mapping: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    """Every key of ``mapping`` that is not ``allowed``, one error each."""
    errors = ErrorList()
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            errors.add(
                ConfigError(
                    where,
                    mapping[key],
                    "a known key: " + ", ".join(allowed),
                    did_you_mean(key, allowed),
                )
            )
    errors.raise_if_any()


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1 or value > MAX_RUNS:
            raise ConfigError(
                "seeds", value, f"a count in [1, {MAX_RUNS}] or a list of integer seeds"
            )
        return tuple(range(value))
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        if len(set(value)) != len(value):
            raise ConfigError("seeds", value, "distinct seeds")
        return tuple(value)
    raise ConfigError("seeds", value, "a count >= 1 or a non-empty list of integers >= 0")


def _lrs(value: Any) -> tuple[float, ...]:
    values = value if isinstance(value, list) else [value]
    errors = ErrorList()
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            path = f"lr[{i}]" if isinstance(value, list) else "lr"
            errors.add(ConfigError(path, v, "positive numbers"))
            continue
        out.append(float(v))
    errors.raise_if_any()
    if not out:
        raise ConfigError("lr", value, "a non-empty list of positive numbers")
    if len(set(out)) != len(out):
        raise ConfigError("lr", value, "distinct learning rates")
    return tuple(out)


def _section(given: Any, params: Sequence[Param], path: str) -> dict[str, Any]:
    """A mapping of plain settings (``train``, ``analysis``): every bad key reported."""
    if not isinstance(given, Mapping):
        raise ConfigError(path, given, "a mapping")
    errors = ErrorList()
    names = [p.name for p in params]
    errors.attempt(_unknown, given, names, path)
    out = {}
    for p in params:
        value = given.get(p.name, p.default)
        out[p.name] = (
            errors.attempt(p.check, value, f"{path}.{p.name}") if p.name in given else value
        )
    errors.raise_if_any()
    return out


def _train(given: Any) -> dict[str, Any]:
    """The ``train`` section: its settings, ``batch_sizes`` (the batch-size axis, ``None`` for
    full batch; ``batch_size`` is its first value) and ``track``; every problem reported."""
    if not isinstance(given, Mapping):
        raise ConfigError("train", given, "a mapping of training settings")
    given = dict(given)
    stopping = given.pop("early_stopping", None)
    errors = ErrorList()
    batches = errors.attempt(_batch_sizes, given.pop("batch_size", 32))
    track = errors.attempt(_track, given.pop("track", None))
    if given.get("eval_every") == "epoch":
        given["eval_every"] = None
    v = given.get("eval_every")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        errors.add(ConfigError("train.eval_every", v, "an integer >= 1 or epoch"))
        del given["eval_every"]
    t = errors.attempt(_section, given, (*TRAIN_PARAMS, _STOPPING_KEY, _TRACK_KEY), "train")
    stops = errors.attempt(_early_stopping, stopping)
    errors.raise_if_any()
    t["early_stopping"] = stops
    t["batch_size"], t["batch_sizes"] = batches[0], batches
    del t["track"]  # declared for the unknown-key message only; kept below when asked for
    if track:
        t["track"] = track
    if t["epochs"] is None and t["steps"] is None:
        raise ConfigError("train.epochs", None, "a number of epochs (or give train.steps)")
    return t


def _early_stopping(value: Any) -> tuple[EarlyStopping | None, ...]:
    """``train.early_stopping``: null (off), a mapping of :data:`EARLY_STOPPING_PARAMS`, or a
    list of those (an axis); a list inside a mapping is an axis too (``{patience: [3, 10]}``)."""
    path = "train.early_stopping"
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(
            path, value, "null, a mapping {patience, min_delta, restore_best} or a list"
        )
    errors = ErrorList()
    out: list[EarlyStopping | None] = []
    for i, item in enumerate(items):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        if item is None:
            out.append(None)
            continue
        if not isinstance(item, Mapping):
            errors.add(
                ConfigError(where, item, "null or a mapping {patience, min_delta, restore_best}")
            )
            continue
        problems = check_each(EARLY_STOPPING_PARAMS, item, where)
        for problem in problems:
            errors.add(problem)
        if not problems:
            for case in expand_grid(item, EARLY_STOPPING_PARAMS, where):
                out.append(EarlyStopping(**resolve(EARLY_STOPPING_PARAMS, case, where)))
    errors.raise_if_any()
    if len(set(out)) != len(out):
        raise ConfigError(path, value, "distinct early-stopping settings")
    return tuple(out)


def _stopping_dict(stops: tuple[EarlyStopping | None, ...]) -> dict[str, Any]:
    """``train.early_stopping`` in the resolved config: absent when off (the resolved config of
    a config without it is as it was), else one setting or the list."""
    if stops == (None,):
        return {}
    plain = [None if s is None else s.to_dict() for s in stops]
    return {"early_stopping": plain[0] if len(plain) == 1 else plain}


def _analysis(given: Any) -> dict[str, Any]:
    """The ``analysis`` section; ``rows`` (null, or a list of :data:`ROW_PARTS`) names the parts
    of a heatmap row, in order (:func:`lrbench.sweep.pivot.pivot`)."""
    if not isinstance(given, Mapping):
        raise ConfigError("analysis", given, "a mapping")
    given = dict(given)
    rows = given.pop("rows", None)
    errors = ErrorList()
    out = errors.attempt(_section, given, (*ANALYSIS_PARAMS, _ROWS_KEY), "analysis")
    parts = errors.attempt(_row_parts, rows)
    errors.raise_if_any()
    out["rows"] = parts
    return out


def _row_parts(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    allowed = "a list of distinct row parts: " + ", ".join(ROW_PARTS)
    if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value):
        raise ConfigError("analysis.rows", value, allowed)
    for i, part in enumerate(value):
        if part not in ROW_PARTS:
            raise ConfigError(f"analysis.rows[{i}]", part, allowed, did_you_mean(part, ROW_PARTS))
    return tuple(value)


def _batch_sizes(value: Any) -> tuple[int | None, ...]:
    """``train.batch_size``: an integer >= 1 or ``full`` (None), or a list of them (a grid
    axis, distinct values)."""
    values = value if isinstance(value, list) and value else [value]
    errors = ErrorList()
    out: list[int | None] = []
    for i, v in enumerate(values):
        path = f"train.batch_size[{i}]" if isinstance(value, list) else "train.batch_size"
        if v == "full":
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, int) or v < 1:
            errors.add(ConfigError(path, v, "an integer >= 1 or full (or a list of them)"))
        else:
            out.append(v)
    errors.raise_if_any()
    if len(set(out)) != len(out):
        raise ConfigError("train.batch_size", value, "distinct batch sizes")
    return tuple(out)


def _track(value: Any) -> tuple[str, ...]:
    """``train.track``: what to measure at every evaluation point besides the losses."""
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    for i, v in enumerate(values):
        if v not in TRACKED:
            raise ConfigError(f"train.track[{i}]", v, "one of " + ", ".join(TRACKED),
                              did_you_mean(v, TRACKED))  # fmt: skip
    return tuple(dict.fromkeys(values))


def _lr_scaling(value: Any) -> dict[str, Any] | None:
    """``lr_scaling: {rule, base_batch_size}``: None when absent or ``rule: none``."""
    if value is None:
        return None
    given = _section(value, LR_SCALING_PARAMS, "lr_scaling")
    if given["rule"] == "none":
        return None
    if given["base_batch_size"] is None:
        raise ConfigError("lr_scaling.base_batch_size", None,
                          f"the batch size the lrs are for, with rule {given['rule']}")  # fmt: skip
    return given


def _tasks(value: Any) -> tuple[TaskSpec, ...]:
    if value is None:
        raise ConfigError(
            "tasks", value, "a list of tasks, e.g. [{dataset: digits, model: logreg}]"
        )
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError("tasks", value, "a non-empty list of tasks")
    errors = ErrorList()
    out: list[TaskSpec] = []
    for i, item in enumerate(value):
        path = f"tasks[{i}]"
        if not isinstance(item, Mapping):
            errors.add(ConfigError(path, item, "a mapping with dataset and model"))
            continue
        out.extend(errors.attempt(_task, dict(item), path) or ())
    errors.raise_if_any()
    if len(set(out)) != len(out):
        raise ConfigError("tasks", value, "distinct tasks")
    if len(out) > MAX_RUNS:
        raise ConfigError("tasks", f"{len(out)} tasks", f"at most {MAX_RUNS}")
    return tuple(out)


def _task(item: dict[str, Any], path: str) -> list[TaskSpec]:
    """One ``tasks[i]`` entry, expanded over its list-valued parameters; every problem of the
    entry is reported."""
    dataset = item.pop("dataset", None)
    model = item.pop("model", None)
    target = item.pop("target", None)
    test_size = item.pop("test_size", 0.2)
    data_seed = item.pop("data_seed", 0)
    errors = ErrorList()
    if dataset is None:
        errors.add(
            ConfigError(
                f"{path}.dataset",
                None,
                "a dataset: " + ", ".join(sorted(DATASETS)) + " or a path ending in .csv",
            )
        )
    elif not (isinstance(dataset, str) and dataset.endswith(".csv")):
        if (
            errors.attempt(
                lookup, DATASETS, dataset, f"{path}.dataset", "dataset (or a path ending in .csv)"
            )
            is FAILED
        ):
            dataset = None
    if model is None:
        errors.add(ConfigError(f"{path}.model", None, "a model: " + ", ".join(sorted(MODELS))))
    elif errors.attempt(lookup, MODELS, model, f"{path}.model", "model") is FAILED:
        model = None
    test_size_param = Param("test_size", 0.2, "float", low=0, high=1, low_open=True, high_open=True)
    errors.attempt(test_size_param.check, test_size, f"{path}.test_size")
    seed_param = Param("data_seed", 0, "int", low=0, high=2**32 - 1)  # numpy's random_state
    errors.attempt(seed_param.check, data_seed, f"{path}.data_seed")
    if dataset is not None and model is not None:
        errors.attempt(_task_kind, dataset, model, target, path)
    dentry = DATASETS.get(dataset) if isinstance(dataset, str) else None
    dnames = [p.name for p in dentry.params] if dentry else []
    mnames = [p.name for p in MODELS[model].params] if model is not None else []
    if dataset is not None and model is not None:
        errors.attempt(_unknown, item, list(TASK_KEYS) + dnames + mnames, path)
    dgiven = {k: v for k, v in item.items() if k in dnames}
    mgiven = {k: v for k, v in item.items() if k in mnames}
    for problem in check_each(dentry.params if dentry else (), dgiven, path):
        errors.add(problem)
    for problem in check_each(MODELS[model].params if model else (), mgiven, path):
        errors.add(problem)
    errors.raise_if_any()
    out = []
    dcases = expand_grid(dgiven, dentry.params if dentry else (), path)
    mcases = expand_grid(mgiven, MODELS[model].params, path)
    for dcase in dcases:
        dparams = errors.attempt(resolve_dataset, dataset, dcase, path)
        for mcase in mcases:
            mparams = errors.attempt(resolve_model, model, mcase, path)
            if dparams is FAILED or mparams is FAILED:
                continue
            out.append(
                TaskSpec(
                    dataset,
                    model,
                    freeze(dparams),
                    freeze(mparams),
                    target,
                    float(test_size),
                    int(data_seed),
                )
            )
    errors.raise_if_any()
    return out


def _task_kind(dataset: str, model: str, target: Any, path: str) -> None:
    """The dataset suits the model (classification or regression), and a CSV names its target."""
    kind = dataset_kind(dataset)
    task_kind = model_task(model)
    if kind != "csv" and kind != task_kind:
        raise ConfigError(f"{path}.dataset", dataset, f"a {task_kind} dataset for model {model}")
    if kind == "csv":
        errors = ErrorList()
        errors.attempt(resolve_dataset, dataset, {}, path)
        if not isinstance(target, str):
            errors.add(
                ConfigError(f"{path}.target", target, "the name of the CSV column to predict")
            )
        errors.raise_if_any()
    elif target is not None:
        raise ConfigError(f"{path}.target", target, "no target (only CSV datasets take one)")


def _task_dict(t: TaskSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"dataset": t.dataset, "model": t.model}
    d.update(_plain(dict(t.dataset_params)))
    d.update(_plain(dict(t.model_params)))
    if t.target is not None:
        d["target"] = t.target
    d["test_size"] = t.test_size
    d["data_seed"] = t.data_seed
    return d


def expand_grid(
    given: Mapping[str, Any], params: Sequence[Param], path: str = ""
) -> list[dict[str, Any]]:
    """Expand list values into the product of single-valued cases.

    A list for a scalar parameter, or a list of lists for a list parameter, is an axis
    (:func:`lrbench.params.is_axis`). More than :data:`MAX_RUNS` cases is a :class:`ConfigError`
    at ``path``, raised before any case is built.
    """
    kinds = {p.name: p for p in params}
    keys = list(given)
    axes = [list(given[k]) if is_axis(given[k], kinds.get(k)) else [given[k]] for k in keys]
    n = math.prod(len(a) for a in axes)
    if n > MAX_RUNS:
        sizes = " x ".join(str(len(a)) for a in axes)
        raise ConfigError(path or "(grid)", f"{n} cases ({sizes})", f"at most {MAX_RUNS}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)] if keys else [{}]


def _entries(value: Any, path: str, registry: Mapping[str, Any], what: str, resolve) -> tuple:
    """The ``optimizers`` or ``schedules`` list, each entry expanded; every bad entry and key
    is reported."""
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            path, value, f"a non-empty list of {what} names or {{name: {{param: value}}}}"
        )
    errors = ErrorList()
    out: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(value):
        out.extend(errors.attempt(_entry, item, f"{path}[{i}]", registry, what, resolve) or ())
    errors.raise_if_any()
    keys = [(n, repr(sorted(p.items()))) for n, p in out]
    if len(set(keys)) != len(keys):
        raise ConfigError(path, value, f"distinct {what}s")
    if len(out) > MAX_RUNS:
        raise ConfigError(path, f"{len(out)} {what}s", f"at most {MAX_RUNS}")
    return tuple(out)


def _entry(item: Any, ipath: str, registry: Mapping[str, Any], what: str, resolve) -> list:
    """One entry: a name or ``{name: {param: value}}``, expanded over its list values."""
    given: Any
    if isinstance(item, str):
        name, given = item, {}
    elif isinstance(item, Mapping) and len(item) == 1:
        name, given = next(iter(item.items()))
        given = given or {}
        if not isinstance(given, Mapping):
            raise ConfigError(f"{ipath}.{name}", given, "a mapping of hyperparameters")
    else:
        raise ConfigError(
            ipath, item, f"a {what} name or a one-key mapping {{name: {{param: value}}}}"
        )
    entry = lookup(registry, name, ipath, what)
    errors = ErrorList()
    for problem in check_each(entry.params, given, f"{ipath}.{name}"):
        errors.add(problem)
    errors.raise_if_any()  # each key checked alone first; then the cases and their cross-checks
    out = []
    for case in expand_grid(given, entry.params, f"{ipath}.{name}"):
        params = errors.attempt(resolve, name, case, f"{ipath}.{name}")
        if params is not FAILED:
            out.append((name, params))
    errors.raise_if_any()
    return out


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def example_config() -> str:
    """The commented example config that ``lrbench init`` writes."""
    return (Path(__file__).parents[1] / "configs" / "example.yaml").read_text()
