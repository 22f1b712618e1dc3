"""The grid's entries: ``tasks``, ``optimizers`` and ``schedules``, each expanded over its
list-valued parameters (:func:`expand_grid`), every bad entry and key reported.

Also the checks the sections share: unknown keys (:func:`_unknown`) and the grid limit
(:data:`MAX_RUNS`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from lrbench.core.data import DATASETS, dataset_kind, resolve_dataset
from lrbench.core.models import MODELS, model_task, resolve_model
from lrbench.errors import FAILED, ConfigError, ErrorList
from lrbench.params import Param, check_each, did_you_mean, is_axis, lookup
from lrbench.spec import TaskSpec, freeze

TASK_KEYS = ("dataset", "model", "target", "test_size", "data_seed")
MAX_RUNS = 100_000  # runs in one grid (and cases of one expanded entry); W1 has 126


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
