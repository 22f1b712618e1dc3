"""Experiment configs: YAML in, a validated :class:`Config` and its grid of run specs out.

The grid is tasks x optimizers x schedules x learning rates x seeds. A list where an optimizer,
schedule, dataset or model hyperparameter expects one value (or a list of lists where it
expects a list) is a grid axis too: ``{momentum: {momentum: [0.5, 0.9, 0.99]}}`` is three
optimizers. Every error names the key path, the value and what is allowed.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lrbench.core.data import DATASETS, dataset_kind, resolve_dataset
from lrbench.core.models import MODELS, model_task, resolve_model
from lrbench.core.optimizers import OPTIMIZERS, check_cycle_momentum, resolve_optimizer
from lrbench.core.schedules import SCHEDULES, resolve_schedule
from lrbench.core.tasks import steps_per_epoch, train_size
from lrbench.errors import ConfigError, LrbenchError
from lrbench.expect import Expectation, Grid, parse_expectations
from lrbench.params import Param, did_you_mean, lookup
from lrbench.spec import RunSpec, TaskSpec, TrainSpec, freeze, registry_defaults

LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
TOP_KEYS = ("name", "seeds", "tasks", "train", "lr", "optimizers", "schedules", "analysis",
            "expect")  # fmt: skip
TASK_KEYS = ("dataset", "model", "target", "test_size", "data_seed")
METRIC_CHOICES = (
    "final_val_loss",
    "best_val_loss",
    "final_train_loss",
    "final_val_accuracy",
    "best_val_accuracy",
)

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
        "batch_size", 32, "int", "minibatch size, or full for full-batch gradient descent", low=1
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

    def specs(self) -> list[RunSpec]:
        """Every run of the grid, in a stable order (task, optimizer, schedule, lr, seed)."""
        out = []
        for task in self.tasks:
            train = self.train_spec(task)
            for (oname, oparams), (sname, sparams), lr, seed in itertools.product(
                self.optimizers, self.schedules, self.lrs, self.seeds
            ):
                out.append(
                    RunSpec(task, train, oname, freeze(oparams), sname, freeze(sparams), lr, seed)
                )
        return out

    def train_spec(self, task: TaskSpec) -> TrainSpec:
        """Training settings for a task (epochs resolve against its training-set size,
        :func:`lrbench.core.tasks.train_size`: known without loading the data for bundled and
        generated datasets)."""
        t = self.train
        batch = t["batch_size"]
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
        )


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping with the safe loader; a clear error for a missing or bad file."""
    p = Path(path)
    if not p.is_file():
        raise LrbenchError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise LrbenchError(f"{p}: {problem}{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("(top level)", type(data).__name__, "a mapping of config keys")
    return data


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set key.path=value`` overrides (values parsed as YAML) to a copy of ``raw``.

    Path parts are mapping keys or list indices: ``train.epochs=5``, ``lr=[0.1,0.3]``,
    ``tasks.0.hidden=[32]``.
    """
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise LrbenchError(f"--set {item!r}: expected key.path=value, e.g. train.epochs=5")
        path, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise LrbenchError(f"--set {item!r}: the value is not valid YAML") from None
        parts = [p for p in path.strip().split(".") if p]
        if not parts:
            raise LrbenchError(f"--set {item!r}: empty key path")
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
    return out


def load_config(
    paths: Sequence[str | Path] | str | Path | None = None, overrides: Sequence[str] = ()
) -> Config:
    """Read, merge (later files win, key by key at the top level), override and validate."""
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
    return Path(__file__).parent / "configs" / "quickstart.yaml"


def validate(raw: Mapping[str, Any]) -> Config:
    """Check every key and value; fill defaults; return a :class:`Config`."""
    _unknown(raw, TOP_KEYS, "")
    name = raw.get("name", "sweep")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError("name", name, "a non-empty folder name without '/'")
    seeds = _seeds(raw.get("seeds", 1))
    train = _train(raw.get("train") or {})
    lrs = _lrs(raw.get("lr", list(LR_GRID)))
    tasks = _tasks(raw.get("tasks"))
    optimizers = _entries(
        raw.get("optimizers", ["sgd"]), "optimizers", OPTIMIZERS, "optimizer", resolve_optimizer
    )
    schedules = _entries(
        raw.get("schedules", ["constant"]), "schedules", SCHEDULES, "schedule", resolve_schedule
    )
    analysis = _section(raw.get("analysis") or {}, ANALYSIS_PARAMS, "analysis")
    for i, (sname, sp) in enumerate(schedules):
        if sp.get("cycle_momentum"):
            for j, (oname, _) in enumerate(optimizers):
                check_cycle_momentum(
                    oname, f"optimizers[{j}] with schedules[{i}].{sname}.cycle_momentum"
                )
    grid = Grid(tasks, optimizers, schedules, METRIC_CHOICES, analysis["metric"], analysis["target"],
                registry_defaults(OPTIMIZERS, SCHEDULES, MODELS))  # fmt: skip
    expect = parse_expectations(raw.get("expect"), grid)
    resolved = {
        "name": name,
        "seeds": list(seeds),
        "tasks": [_task_dict(t) for t in tasks],
        "train": {
            **train,
            "batch_size": train["batch_size"] or "full",
            "eval_every": train["eval_every"] or "epoch",
        },
        "lr": list(lrs),
        "optimizers": [{n: _plain(p)} for n, p in optimizers],
        "schedules": [{n: _plain(p)} for n, p in schedules],
        "analysis": analysis,
        **({"expect": [e.to_dict() for e in expect]} if expect else {}),
    }
    return Config(name, seeds, tasks, train, lrs, optimizers, schedules, analysis, resolved, expect)


def _unknown(mapping: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(
                where,
                mapping[key],
                "a known key: " + ", ".join(allowed),
                did_you_mean(key, allowed),
            )


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError("seeds", value, "a count >= 1 or a list of integer seeds")
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
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ConfigError(
                f"lr[{i}]" if isinstance(value, list) else "lr", v, "positive numbers"
            )
        out.append(float(v))
    if not out:
        raise ConfigError("lr", value, "a non-empty list of positive numbers")
    if len(set(out)) != len(out):
        raise ConfigError("lr", value, "distinct learning rates")
    return tuple(out)


def _section(given: Any, params: Sequence[Param], path: str) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise ConfigError(path, given, "a mapping")
    names = [p.name for p in params]
    _unknown(given, names, path)
    return {
        p.name: (p.check(given[p.name], f"{path}.{p.name}") if p.name in given else p.default)
        for p in params
    }


def _train(given: Any) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise ConfigError("train", given, "a mapping of training settings")
    given = dict(given)
    full = given.get("batch_size") == "full"
    if full:
        del given["batch_size"]
    if given.get("eval_every") == "epoch":
        given["eval_every"] = None
    for key, word in (("batch_size", "full"), ("eval_every", "epoch")):
        v = given.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(f"train.{key}", v, f"an integer >= 1 or {word}")
    t = _section(given, TRAIN_PARAMS, "train")
    if full:
        t["batch_size"] = None
    if t["epochs"] is None and t["steps"] is None:
        raise ConfigError("train.epochs", None, "a number of epochs (or give train.steps)")
    return t


def _tasks(value: Any) -> tuple[TaskSpec, ...]:
    if value is None:
        raise ConfigError(
            "tasks", value, "a list of tasks, e.g. [{dataset: digits, model: logreg}]"
        )
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError("tasks", value, "a non-empty list of tasks")
    out: list[TaskSpec] = []
    for i, item in enumerate(value):
        path = f"tasks[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(path, item, "a mapping with dataset and model")
        out.extend(_task(dict(item), path))
    if len(set(out)) != len(out):
        raise ConfigError("tasks", value, "distinct tasks")
    return tuple(out)


def _task(item: dict[str, Any], path: str) -> list[TaskSpec]:
    dataset = item.pop("dataset", None)
    model = item.pop("model", None)
    if dataset is None:
        raise ConfigError(
            f"{path}.dataset",
            None,
            "a dataset: " + ", ".join(sorted(DATASETS)) + " or a path ending in .csv",
        )
    if model is None:
        raise ConfigError(f"{path}.model", None, "a model: " + ", ".join(sorted(MODELS)))
    lookup(MODELS, model, f"{path}.model", "model")
    if not (isinstance(dataset, str) and dataset.endswith(".csv")):
        lookup(DATASETS, dataset, f"{path}.dataset", "dataset (or a path ending in .csv)")
    target = item.pop("target", None)
    test_size = item.pop("test_size", 0.2)
    data_seed = item.pop("data_seed", 0)
    Param("test_size", 0.2, "float", low=0, high=1, low_open=True, high_open=True).check(
        test_size, f"{path}.test_size"
    )
    Param("data_seed", 0, "int", low=0).check(data_seed, f"{path}.data_seed")
    kind = dataset_kind(dataset)
    task_kind = model_task(model)
    if kind != "csv" and kind != task_kind:
        raise ConfigError(f"{path}.dataset", dataset, f"a {task_kind} dataset for model {model}")
    if kind == "csv":
        resolve_dataset(dataset, {}, f"{path}.dataset")
        if not isinstance(target, str):
            raise ConfigError(f"{path}.target", target, "the name of the CSV column to predict")
    elif target is not None:
        raise ConfigError(f"{path}.target", target, "no target (only CSV datasets take one)")
    dentry = DATASETS.get(dataset)
    dnames = [p.name for p in dentry.params] if dentry else []
    mnames = [p.name for p in MODELS[model].params]
    allowed = list(TASK_KEYS) + dnames + mnames
    _unknown(item, allowed, path)
    dgiven = {k: v for k, v in item.items() if k in dnames}
    mgiven = {k: v for k, v in item.items() if k in mnames}
    out = []
    for dcase in expand_grid(dgiven, dentry.params if dentry else ()):
        dparams = resolve_dataset(dataset, dcase, path)
        for mcase in expand_grid(mgiven, MODELS[model].params):
            mparams = resolve_model(model, mcase, path)
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
    return out


def _task_dict(t: TaskSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"dataset": t.dataset, "model": t.model}
    d.update(_plain(dict(t.dataset_params)))
    d.update(_plain(dict(t.model_params)))
    if t.target is not None:
        d["target"] = t.target
    d["test_size"] = t.test_size
    d["data_seed"] = t.data_seed
    return d


def expand_grid(given: Mapping[str, Any], params: Sequence[Param]) -> list[dict[str, Any]]:
    """Expand list values into the product of single-valued cases.

    A list for a scalar parameter, or a list of lists for a list parameter, is an axis.
    """
    kinds = {p.name: p for p in params}
    axes: list[list[Any]] = []
    keys = list(given)
    for k in keys:
        v = given[k]
        p = kinds.get(k)
        is_axis = (
            isinstance(v, list)
            and v
            and (
                (p is not None and p.is_list and all(isinstance(x, list) for x in v))
                or (p is None or not p.is_list)
            )
        )
        axes.append(list(v) if is_axis else [v])
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes)] if keys else [{}]


def _entries(value: Any, path: str, registry: Mapping[str, Any], what: str, resolve) -> tuple:
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            path, value, f"a non-empty list of {what} names or {{name: {{param: value}}}}"
        )
    out = []
    for i, item in enumerate(value):
        ipath = f"{path}[{i}]"
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
        for case in expand_grid(given, entry.params):
            out.append((name, resolve(name, case, f"{ipath}.{name}")))
    keys = [(n, repr(sorted(p.items()))) for n, p in out]
    if len(set(keys)) != len(keys):
        raise ConfigError(path, value, f"distinct {what}s")
    return tuple(out)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def example_config() -> str:
    """The commented example config that ``lrbench init`` writes."""
    return (Path(__file__).parent / "configs" / "example.yaml").read_text()
