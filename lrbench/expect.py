"""Expectations: assertions over a sweep's aggregated results, declared in a config's ``expect:``.

Each item is a mapping validated with :class:`~lrbench.params.Param`, like every other config
value (no expression strings, no eval)::

    expect:
      - {what: metric, metric: final_val_accuracy, at_least: 0.9}
      - {what: best_lr, optimizer: adam, between: [0.0001, 0.01], name: adam's lr}

``what`` names the measured quantity (:data:`WHATS`); ``task``, ``optimizer`` and ``schedule``
narrow the runs it is measured on (a name or a label, see :func:`task_names`, :func:`part_names`);
exactly one of ``at_least``, ``at_most`` (inclusive) or ``between: [low, high]`` (inclusive) is
the bound. A filter that names nothing in the config's grid is an error at load time.

This module is vocabulary: the config passes its grid in (:class:`Grid`), so it imports no
registry. Evaluation against results is :mod:`lrbench.sweep.expect`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lrbench.errors import ConfigError
from lrbench.params import Param, did_you_mean, resolve
from lrbench.spec import Params, TaskSpec, part_label

#: ``what`` -> what is measured (the README's table says the same).
WHATS = {
    "metric": "the best cell's mean over seeds of `metric` (direction taken from the metric)",
    "best_lr": "the learning rate of that best cell",
    "diverged_fraction": "the fraction of the selected runs that diverged",
    "max_stable_lr": "the largest learning rate at which no selected run diverged",
    "steps_to_target": "the best cell's median over seeds of the steps to analysis.target",
}
METRIC_WHATS = ("metric", "best_lr")  # the kinds that take a `metric`
FILTERS = ("task", "optimizer", "schedule")
BOUNDS = ("at_least", "at_most", "between")

#: The range a bound may take, per kind (a learning rate is positive, a fraction in [0, 1]).
_BOUND_RANGE = {
    "metric": Param("bound", None, "float"),
    "best_lr": Param("bound", None, "float", low=0.0, low_open=True),
    "max_stable_lr": Param("bound", None, "float", low=0.0, low_open=True),
    "diverged_fraction": Param("bound", None, "float", low=0.0, high=1.0),
    "steps_to_target": Param("bound", None, "float", low=0.0),
}

RowNames = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class Grid:
    """What a config's expectations may name: its tasks, optimizers and schedules (each with its
    parameters), its metric names, analysis settings and the registries' defaults (for labels)."""

    tasks: Sequence[TaskSpec]
    optimizers: Sequence[tuple[str, Mapping[str, Any]]]
    schedules: Sequence[tuple[str, Mapping[str, Any]]]
    metrics: Sequence[str]
    default_metric: str
    target: float | None
    defaults: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Expectation:
    """One validated ``expect:`` item (``metric`` resolved for the kinds that take one)."""

    what: str
    at_least: float | None = None
    at_most: float | None = None
    between: tuple[float, float] | None = None
    metric: str | None = None
    task: str | None = None
    optimizer: str | None = None
    schedule: str | None = None
    name: str | None = None

    @property
    def bound(self) -> str:
        """``>= 0.9``, ``<= 0.25`` or ``in [0.0001, 0.01]``."""
        if self.between is not None:
            return f"in [{number(self.between[0])}, {number(self.between[1])}]"
        if self.at_least is not None:
            return f">= {number(self.at_least)}"
        return f"<= {number(self.at_most)}"

    @property
    def title(self) -> str:
        """``name`` if given, else e.g. ``best_lr (optimizer=adam) in [0.0001, 0.01]``."""
        if self.name:
            return self.name
        head = {"metric": f"metric {self.metric}", "best_lr": f"best_lr by {self.metric}"}
        head = head.get(self.what, self.what)
        given = [f"{k}={getattr(self, k)}" for k in FILTERS if getattr(self, k) is not None]
        where = f" ({', '.join(given)})" if given else ""
        return f"{head}{where} {self.bound}"

    def holds(self, value: float | None) -> bool:
        """Whether a measured value meets the bound (inclusive); a missing value never does."""
        if value is None or value != value:  # None or NaN
            return False
        if self.between is not None:
            return self.between[0] <= value <= self.between[1]
        if self.at_least is not None:
            return value >= self.at_least
        return value <= self.at_most

    def limits(self) -> tuple[float, ...]:
        """The bound's end points."""
        if self.between is not None:
            return self.between
        return (self.at_least,) if self.at_least is not None else (self.at_most,)

    def selects(self, names: RowNames) -> bool:
        """Whether a row (its task, optimizer and schedule names) passes every filter."""
        return all(
            f is None or _norm(f) in {_norm(n) for n in choices}
            for f, choices in zip((self.task, self.optimizer, self.schedule), names)
        )

    def to_dict(self) -> dict[str, Any]:
        """The item as it would be written in YAML (for the saved ``config.yaml``)."""
        out: dict[str, Any] = {"what": self.what}
        if self.metric is not None:
            out["metric"] = self.metric
        for key in (*FILTERS, "at_least", "at_most"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.between is not None:
            out["between"] = list(self.between)
        if self.name:
            out["name"] = self.name
        return out


def number(x: float) -> str:
    """A bound as written: ``400``, ``0.0001``, ``0.95``."""
    return f"{x:g}" if abs(x) < 1e16 else repr(x)


def task_names(task: TaskSpec) -> tuple[str, ...]:
    """What a ``task:`` filter may say: the label (``digits/mlp[32]``), the dataset
    (``digits``, or a CSV's path or file name) or ``dataset/model`` (``digits/mlp``, every
    hidden size)."""
    short = task.dataset.rsplit("/", 1)[-1]
    return tuple(dict.fromkeys((task.label, task.dataset, short, f"{short}/{task.model}")))


def part_names(
    name: str, params: Params | Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]
) -> tuple[str, ...]:
    """What an ``optimizer:`` or ``schedule:`` filter may say: the registry name (``adam``,
    every Adam of the grid) or the label with its non-default parameters
    (``adam(betas=[0.9, 0.99])``, that one; spaces do not matter)."""
    items = params.items() if isinstance(params, Mapping) else params
    return tuple(dict.fromkeys((name, part_label(name, items, defaults))))


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


_PARAMS = (
    Param("what", None, "choice", "what is measured", choices=tuple(WHATS)),
    Param("task", None, "str", "only runs of this task"),
    Param("optimizer", None, "str", "only runs of this optimizer"),
    Param("schedule", None, "str", "only runs of this schedule"),
    Param("at_least", None, "float", "the value must be >= this"),
    Param("at_most", None, "float", "the value must be <= this"),
    Param("between", None, "floats", "[low, high]: low <= value <= high", length=2),
    Param("name", None, "str", "a name for reports (default: built from the item)"),
)


def parse_expectations(value: Any, grid: Grid) -> tuple[Expectation, ...]:
    """Validate a config's ``expect:`` list against its grid; raise :class:`ConfigError`."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("expect", value, "a list of {what: ..., at_least/at_most/between: ...}")
    return tuple(_item(item, f"expect[{i}]", grid) for i, item in enumerate(value))


def _item(item: Any, path: str, grid: Grid) -> Expectation:
    if not isinstance(item, Mapping):
        raise ConfigError(path, item, "a mapping such as {what: metric, at_least: 0.9}")
    metric_param = Param("metric", None, "choice", choices=tuple(grid.metrics))
    given = resolve((*_PARAMS, metric_param), item, path)
    what = given["what"]
    if what is None:
        raise ConfigError(f"{path}.what", None, "one of " + ", ".join(WHATS))
    if what == "steps_to_target" and grid.target is None:
        raise ConfigError(
            f"{path}.what", what, "a quantity the config measures (set analysis.target first)"
        )
    metric = given["metric"]
    if metric is not None and what not in METRIC_WHATS:
        raise ConfigError(f"{path}.metric", metric, f"no metric for what: {what}")
    if what in METRIC_WHATS and metric is None:
        metric = grid.default_metric
    bounds = [k for k in BOUNDS if given[k] is not None]
    if len(bounds) != 1:
        shown = {k: item[k] for k in BOUNDS if k in item} or dict(item)
        raise ConfigError(path, shown, "exactly one of at_least, at_most, between")
    rng = _BOUND_RANGE[what]
    for key in bounds:
        for j, x in enumerate(given[key] if key == "between" else (given[key],)):
            rng.check(x, f"{path}.{key}" + (f"[{j}]" if key == "between" else ""))
    if given["between"] is not None and given["between"][0] > given["between"][1]:
        raise ConfigError(f"{path}.between", list(given["between"]), "[low, high] with low <= high")
    _check_filters(given, path, grid)
    return Expectation(
        what=what,
        at_least=given["at_least"],
        at_most=given["at_most"],
        between=given["between"],
        metric=metric,
        task=given["task"],
        optimizer=given["optimizer"],
        schedule=given["schedule"],
        name=given["name"],
    )


def _check_filters(given: Mapping[str, Any], path: str, grid: Grid) -> None:
    """Each filter must name at least one task, optimizer or schedule of the grid."""
    known = {
        "task": [task_names(t) for t in grid.tasks],
        "optimizer": [part_names(n, p, grid.defaults) for n, p in grid.optimizers],
        "schedule": [part_names(n, p, grid.defaults) for n, p in grid.schedules],
    }
    for key, per_item in known.items():
        want = given[key]
        if want is None:
            continue
        options = list(dict.fromkeys(n for names in per_item for n in names))
        if _norm(want) not in {_norm(n) for n in options}:
            raise ConfigError(
                f"{path}.{key}",
                want,
                f"{'an' if key == 'optimizer' else 'a'} {key} of this config: "
                + ", ".join(options),
                did_you_mean(want, options),
            )
