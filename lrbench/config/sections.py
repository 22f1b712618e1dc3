"""The plain config sections: ``name``, ``seeds``, ``lr``, ``train`` (with its batch-size and
early-stopping axes and ``track``), ``analysis`` and ``lr_scaling``; and the cross-checks of the
whole grid (cycle momentum, at most :data:`MAX_RUNS` runs). Each validator reports every problem
of its section in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from lrbench.config.entries import MAX_RUNS, _unknown, expand_grid
from lrbench.core.optimizers import check_cycle_momentum
from lrbench.errors import ConfigError, ErrorList
from lrbench.params import Param, check_each, did_you_mean, resolve
from lrbench.spec import EarlyStopping

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
