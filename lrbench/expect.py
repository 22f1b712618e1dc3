"""Expectations: assertions over a sweep's aggregated results, declared in a config's ``expect:``.

Each item is a mapping validated with :class:`~lrbench.params.Param`, like every other config
value (no expression strings, no eval)::

    expect:
      - {what: metric, metric: final_val_accuracy, at_least: 0.9}
      - {what: best_lr, optimizer: adam, between: [0.0001, 0.01], name: adam's lr}

``what`` names the measured quantity (:data:`WHATS`); ``task``, ``optimizer`` and ``schedule``
narrow the runs it is measured on (a name or a label, see :func:`task_names`, :func:`part_names`),
and ``lr`` to one learning rate of each row (``lowest``, ``highest`` or a grid value); exactly one
of ``at_least``, ``at_most`` (inclusive), ``between: [low, high]`` (inclusive), ``above`` or
``below`` (strict) is the bound. A filter that names nothing in the config's grid is an error at
load time.

Comparisons (``metric_difference``, ``diverged_fraction_difference``) measure two selections,
``a`` and ``b`` (each a mapping of the same filters, narrowing the item's own), and bound the
difference ``a - b``. ``for_each: task`` states the item once per task of the grid (one verdict
each); ``claim: true`` marks a statement under study, whose verdict reads *holds* or *does not
hold* instead of pass or fail::

    - {what: metric_difference, metric: final_train_loss, at: same_lr, below: 0,
       a: {schedule: cosine}, b: {schedule: constant}, for_each: task, claim: true}

This module is vocabulary: the config passes its grid in (:class:`Grid`), so it imports no
registry. Evaluation against results is :mod:`lrbench.sweep.expect`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
    "status_fraction": "the fraction of the selected runs whose status is one of `status`",
    "metric_difference": "a's metric minus b's, paired by seed (`at`: each side's best lr, or "
    "both at b's best lr)",
    "diverged_fraction_difference": "a's diverged fraction minus b's",
    "best_lr_slope": "the slope of log(best lr) on log(batch size), mean over seeds",
}
METRIC_WHATS = ("metric", "best_lr", "metric_difference", "best_lr_slope")  # take a `metric`
COMPARISONS = ("metric_difference", "diverged_fraction_difference")  # take `a` and `b`
FILTERS = ("task", "optimizer", "schedule")
BOUNDS = ("at_least", "at_most", "between", "above", "below")
#: Run statuses a ``status_fraction`` may count (as :data:`lrbench.sweep.findings.STATUSES`).
RUN_STATUSES = ("ok", "slow", "unstable", "diverged")
LR_WORDS = ("lowest", "highest")

#: The range a bound may take, per kind (a learning rate is positive, a fraction in [0, 1]).
_BOUND_RANGE = {
    "metric": Param("bound", None, "float"),
    "best_lr": Param("bound", None, "float", low=0.0, low_open=True),
    "max_stable_lr": Param("bound", None, "float", low=0.0, low_open=True),
    "diverged_fraction": Param("bound", None, "float", low=0.0, high=1.0),
    "steps_to_target": Param("bound", None, "float", low=0.0),
    "status_fraction": Param("bound", None, "float", low=0.0, high=1.0),
    "metric_difference": Param("bound", None, "float"),
    "diverged_fraction_difference": Param("bound", None, "float", low=-1.0, high=1.0),
    "best_lr_slope": Param("bound", None, "float"),
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
    lrs: Sequence[float] = ()  # the grid's learning rates (before any lr_scaling)
    batch_sizes: Sequence[int | None] = ()  # train.batch_size (None: full batch)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: filters that narrow the item's own (``None``: no narrowing)."""

    task: str | None = None
    optimizer: str | None = None
    schedule: str | None = None
    lr: float | str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def selects(self, names: RowNames) -> bool:
        """Whether a row (its task, optimizer and schedule names) passes this side's filters."""
        return matches((self.task, self.optimizer, self.schedule), names)

    def text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.to_dict().items()) or "all runs"


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
    above: float | None = None
    below: float | None = None
    lr: float | str | None = None  # one lr of each row: lowest, highest or a grid value
    status: tuple[str, ...] = ()  # status_fraction: the statuses counted
    a: Side | None = None  # comparisons: the two selections, value a - b
    b: Side | None = None
    at: str = "best"  # metric_difference: "best" (each side's best lr) or "same_lr" (b's)
    relative: bool = False  # metric_difference: (a - b) / |b|, per seed
    claim: bool = False  # a claim under study: holds / does not hold

    @property
    def bound(self) -> str:
        """``>= 0.9``, ``<= 0.25``, ``in [0.0001, 0.01]``, ``> 0`` or ``< 0``."""
        if self.between is not None:
            return f"in [{number(self.between[0])}, {number(self.between[1])}]"
        if self.at_least is not None:
            return f">= {number(self.at_least)}"
        if self.above is not None:
            return f"> {number(self.above)}"
        if self.below is not None:
            return f"< {number(self.below)}"
        assert self.at_most is not None  # exactly one bound is set (checked when parsed)
        return f"<= {number(self.at_most)}"

    @property
    def title(self) -> str:
        """``name`` if given, else e.g. ``best_lr (optimizer=adam) in [0.0001, 0.01]``."""
        if self.name:
            return self.name
        heads = {"metric": f"metric {self.metric}", "best_lr": f"best_lr by {self.metric}"}
        head = heads.get(self.what, self.what)
        given = [
            f"{k}={getattr(self, k)}" for k in (*FILTERS, "lr") if getattr(self, k) is not None
        ]
        if self.a is not None and self.b is not None:
            given.append(f"a: {self.a.text()}; b: {self.b.text()}")
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
        if self.above is not None:
            return value > self.above
        if self.below is not None:
            return value < self.below
        assert self.at_most is not None  # exactly one bound is set (checked when parsed)
        return value <= self.at_most

    def limits(self) -> tuple[float, ...]:
        """The bound's end points."""
        if self.between is not None:
            return self.between
        ends = (self.at_least, self.above, self.below, self.at_most)
        return (next(x for x in ends if x is not None),)

    def selects(self, names: RowNames) -> bool:
        """Whether a row (its task, optimizer and schedule names) passes every filter."""
        return matches((self.task, self.optimizer, self.schedule), names)

    def to_dict(self) -> dict[str, Any]:
        """The item as it would be written in YAML (for the saved ``config.yaml``)."""
        out: dict[str, Any] = {"what": self.what}
        if self.metric is not None:
            out["metric"] = self.metric
        for key in (*FILTERS, "lr", "at_least", "at_most", "above", "below"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.between is not None:
            out["between"] = list(self.between)
        if self.status:
            out["status"] = list(self.status)
        if self.a is not None and self.b is not None:
            out.update(a=self.a.to_dict(), b=self.b.to_dict())
        if self.what == "metric_difference":
            out.update(at=self.at, relative=self.relative)
        if self.claim:
            out["claim"] = True
        if self.name:
            out["name"] = self.name
        return out


def matches(filters: Sequence[str | None], names: RowNames) -> bool:
    """Whether each filter (task, optimizer, schedule; None: any) names the row."""
    return all(
        f is None or _norm(f) in {_norm(n) for n in choices} for f, choices in zip(filters, names)
    )


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
    name: str,
    params: Params | Mapping[str, Any],
    defaults: Mapping[str, Mapping[str, Any]],
    full: bool = True,
) -> tuple[str, ...]:
    """What an ``optimizer:`` or ``schedule:`` filter may say: the registry name (``adam``,
    every Adam of the grid), the label with its non-default parameters
    (``adam(betas=[0.9, 0.99])``, that one; spaces do not matter) or, last, the label with
    every parameter (``constant(warmup=0)``: the constant schedule without warmup, where
    ``constant`` also names ``constant(warmup=0.1)``; left out with ``full=False``)."""
    items = tuple(params.items() if isinstance(params, Mapping) else params)
    names = (name, part_label(name, items, defaults)) + ((part_label(name, items),) if full else ())
    return tuple(dict.fromkeys(names))


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
    Param("above", None, "float", "the value must be > this"),
    Param("below", None, "float", "the value must be < this"),
    Param("name", None, "str", "a name for reports (default: built from the item)"),
    Param(
        "at",
        "best",
        "choice",
        "metric_difference: each side's best lr, or b's best lr for both",
        choices=("best", "same_lr"),
    ),
    Param("relative", False, "bool", "metric_difference: (a - b) / |b|"),
    Param("for_each", None, "choice", "state the item once per task", choices=("task",)),
    Param("claim", False, "bool", "a claim under study: its verdict reads holds / does not hold"),
)
#: Keys checked by hand (not plain Params): an lr filter, statuses and the two sides.
_OTHER_KEYS = ("lr", "status", "a", "b")


def parse_expectations(value: Any, grid: Grid) -> tuple[Expectation, ...]:
    """Validate a config's ``expect:`` list against its grid; raise :class:`ConfigError`."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("expect", value, "a list of {what: ..., at_least/at_most/between: ...}")
    out: list[Expectation] = []
    for i, item in enumerate(value):
        e = _item(item, f"expect[{i}]", grid)
        out += (
            _for_each_task(e, grid) if isinstance(item, Mapping) and item.get("for_each") else [e]
        )
    return tuple(out)


def _for_each_task(e: Expectation, grid: Grid) -> list[Expectation]:
    """``e`` stated once per task label of the grid that its own ``task`` filter keeps."""
    keep = [t for t in grid.tasks
            if e.task is None or _norm(e.task) in {_norm(n) for n in task_names(t)}]  # fmt: skip
    labels = [t.label for t in keep]
    return [replace(e, task=label, name=f"{e.title}: {label}") for label in dict.fromkeys(labels)]


def _item(item: Any, path: str, grid: Grid) -> Expectation:
    if not isinstance(item, Mapping):
        raise ConfigError(path, item, "a mapping such as {what: metric, at_least: 0.9}")
    metric_param = Param("metric", None, "choice", choices=tuple(grid.metrics))
    plain = {k: v for k, v in item.items() if k not in _OTHER_KEYS}
    unknown = [k for k in plain if k not in {p.name for p in _PARAMS} | {"metric"}]
    if unknown:
        allowed = [p.name for p in _PARAMS] + ["metric", *_OTHER_KEYS]
        raise ConfigError(f"{path}.{unknown[0]}", item[unknown[0]], "a known key: " +
                          ", ".join(allowed), did_you_mean(unknown[0], allowed))  # fmt: skip
    given = resolve((*_PARAMS, metric_param), plain, path)
    what = given["what"]
    if what is None:
        raise ConfigError(f"{path}.what", None, "one of " + ", ".join(WHATS))
    if what == "steps_to_target" and grid.target is None:
        raise ConfigError(
            f"{path}.what", what, "a quantity the config measures (set analysis.target first)"
        )
    if what == "best_lr_slope" and len(grid.batch_sizes) < 2:
        raise ConfigError(f"{path}.what", what,
                          "a quantity the config measures (give train.batch_size a list)")  # fmt: skip
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
    for key in ("at", "relative"):
        if key in item and what != "metric_difference":
            raise ConfigError(f"{path}.{key}", item[key], f"no {key} for what: {what}")
    lr = _lr_filter(item.get("lr"), f"{path}.lr", grid)
    a, b = (_side(item.get(k), f"{path}.{k}", grid, what) for k in ("a", "b"))
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
        above=given["above"],
        below=given["below"],
        lr=lr,
        status=_statuses(item.get("status"), f"{path}.status", what),
        a=a,
        b=b,
        at=given["at"],
        relative=bool(given["relative"]),
        claim=bool(given["claim"]),
    )


def _lr_filter(value: Any, path: str, grid: Grid) -> float | str | None:
    """``lowest``, ``highest``, a learning rate of the grid, or None."""
    if value is None or value in LR_WORDS:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not grid.lrs or any(abs(value - x) <= 1e-12 * x for x in grid.lrs):
            return float(value)
    grid_text = ", ".join(f"{x:g}" for x in grid.lrs)
    raise ConfigError(path, value, "lowest, highest or a learning rate of the grid: " + grid_text)


def _statuses(value: Any, path: str, what: str) -> tuple[str, ...]:
    """``status_fraction``'s statuses (a name or a list of names of :data:`RUN_STATUSES`)."""
    if what != "status_fraction":
        if value is not None:
            raise ConfigError(path, value, f"no status for what: {what}")
        return ()
    values = value if isinstance(value, list) else [value]
    if value is None or not values or any(v not in RUN_STATUSES for v in values):
        raise ConfigError(path, value, "statuses among " + ", ".join(RUN_STATUSES))
    return tuple(dict.fromkeys(values))


def _side(value: Any, path: str, grid: Grid, what: str) -> Side | None:
    """One side of a comparison (``a`` or ``b``): a mapping of filters; required exactly for
    the comparison kinds."""
    if what not in COMPARISONS:
        if value is not None:
            raise ConfigError(path, value, f"no {path.rsplit('.', 1)[-1]} for what: {what}")
        return None
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(path, value, "a mapping of filters, e.g. {schedule: cosine}")
    keys = (*FILTERS, "lr")
    for key in value:
        if key not in keys:
            raise ConfigError(f"{path}.{key}", value[key], "a filter: " + ", ".join(keys),
                              did_you_mean(key, keys))  # fmt: skip
    names = {k: value.get(k) for k in FILTERS}
    for k, v in names.items():
        if v is not None and not isinstance(v, str):
            raise ConfigError(f"{path}.{k}", v, "a name or a label")
    _check_filters(names, path, grid)
    return Side(**names, lr=_lr_filter(value.get("lr"), f"{path}.lr", grid))


def _check_filters(given: Mapping[str, Any], path: str, grid: Grid) -> None:
    """Each filter must name at least one task, optimizer or schedule of the grid."""
    known = {
        "task": [task_names(t) for t in grid.tasks],
        "optimizer": [part_names(n, p, grid.defaults) for n, p in grid.optimizers],
        "schedule": [part_names(n, p, grid.defaults) for n, p in grid.schedules],
    }
    shown = {
        "task": known["task"],
        "optimizer": [part_names(n, p, grid.defaults, False) for n, p in grid.optimizers],
        "schedule": [part_names(n, p, grid.defaults, False) for n, p in grid.schedules],
    }
    for key, per_item in known.items():
        want = given[key]
        if want is None:
            continue
        accepted = {_norm(n) for names in per_item for n in names}
        options = list(dict.fromkeys(n for names in shown[key] for n in names))
        if _norm(want) not in accepted:
            raise ConfigError(
                f"{path}.{key}",
                want,
                f"{'an' if key == 'optimizer' else 'a'} {key} of this config: "
                + ", ".join(options),
                did_you_mean(want, options),
            )
