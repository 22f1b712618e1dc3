"""Experiment configs: YAML in, a validated :class:`Config` and its grid of run specs out.

The grid is tasks x optimizers x schedules x learning rates x seeds. A list where an optimizer,
schedule, dataset or model hyperparameter expects one value (or a list of lists where it
expects a list) is a grid axis too: ``{momentum: {momentum: [0.5, 0.9, 0.99]}}`` is three
optimizers, ``{adam: {weight_decay: [0, 1e-4, 1e-3]}}`` three weight decays. So is a list of
``train.early_stopping`` settings (``[null, {patience: 5}]``: without and with it). Every
error names the key path, the value and what is allowed, and validation reports every problem
of a config in one pass.

The package: this module (the :class:`Config`, :func:`load_config`, :func:`validate` and the
run specs), :mod:`lrbench.config.files` (YAML files and ``--set`` overrides),
:mod:`lrbench.config.sections` (the plain sections) and :mod:`lrbench.config.entries` (tasks,
optimizers and schedules expanded over their list values). Every name is importable from here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrbench.config.entries import (
    MAX_RUNS,
    TASK_KEYS,
    _entries,
    _plain,
    _task_dict,
    _tasks,
    _unknown,
    expand_grid,
)
from lrbench.config.files import (
    apply_overrides,
    default_config_path,
    example_config,
    parse_value,
    read_yaml,
)
from lrbench.config.sections import (
    ANALYSIS_PARAMS,
    EARLY_STOPPING_PARAMS,
    LR_SCALING_PARAMS,
    METRIC_CHOICES,
    ROW_PARTS,
    TRACKED,
    TRAIN_PARAMS,
    _analysis,
    _cycle_momentum,
    _grid_size,
    _lr_scaling,
    _lrs,
    _name,
    _seeds,
    _stopping_dict,
    _train,
)
from lrbench.core.models import MODELS
from lrbench.core.optimizers import OPTIMIZERS, resolve_optimizer
from lrbench.core.schedules import SCHEDULES, resolve_schedule
from lrbench.core.tasks import steps_per_epoch, train_size
from lrbench.errors import FAILED, ErrorList
from lrbench.spec import EarlyStopping, RunSpec, TaskSpec, TrainSpec, freeze, registry_defaults

if TYPE_CHECKING:
    from lrbench.expect import Expectation

__all__ = [
    "ANALYSIS_PARAMS",
    "EARLY_STOPPING_PARAMS",
    "LR_GRID",
    "LR_SCALING_PARAMS",
    "MAX_RUNS",
    "METRIC_CHOICES",
    "ROW_PARTS",
    "TASK_KEYS",
    "TOP_KEYS",
    "TRACKED",
    "TRAIN_PARAMS",
    "Config",
    "apply_overrides",
    "default_config_path",
    "example_config",
    "expand_grid",
    "load_config",
    "parse_value",
    "read_yaml",
    "scaled_lr",
    "validate",
]

LR_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
TOP_KEYS = ("name", "seeds", "tasks", "train", "lr", "optimizers", "schedules", "analysis",
            "expect", "lr_scaling")  # fmt: skip


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
    if raw.get("expect") is not None and all(
        a is not FAILED for a in (tasks, optimizers, schedules, analysis)
    ):
        from lrbench.expect import Grid, parse_expectations  # configs with expect: only (~6 ms)

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
