"""What a sweep checks before it trains anything, so that bad input fails in seconds, not in a
worker an hour later: every task's data loads (a CSV file's errors name its column and row),
the batch fits the training rows, and the planned memory fits the machine
(:mod:`lrbench.core.memory`). ``lrbench validate`` runs the same checks and prints the plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lrbench.core.data import Data
from lrbench.core.memory import MemoryPlan, Shape, machine_memory, plan
from lrbench.core.sharing import group_key
from lrbench.core.tasks import load_task_data
from lrbench.errors import FAILED, ConfigError, ErrorList, LrbenchError
from lrbench.spec import RunSpec
from lrbench.sweep.executor import MAX_WIDTH


def preflight(specs: Sequence[RunSpec], jobs: int) -> MemoryPlan:
    """Check ``specs`` before training with ``jobs`` workers and return the memory plan.

    Raises :class:`ConfigError` (every task's problems at once) for data that does not load or
    a batch larger than a task's training rows, and :class:`LrbenchError` with the estimate when
    the planned memory exceeds the machine's (:func:`lrbench.core.memory.machine_memory`).
    """
    groups: dict[tuple, list[RunSpec]] = {}
    for s in specs:
        groups.setdefault(group_key(s), []).append(s)
    errors = ErrorList()
    shapes = []
    for group in groups.values():
        first = group[0]
        data = errors.attempt(load_task_data, first.task, first.train.dtype)
        if data is FAILED:
            continue
        n_train = len(data.y_train)
        batch = first.train.batch_size
        if batch is not None and batch > n_train:
            errors.add(
                ConfigError(
                    "train.batch_size",
                    batch,
                    f"at most the {n_train} training rows of {first.task.label}, or full",
                )
            )
            continue
        shapes.append(_shape(group, data, MAX_WIDTH))
    errors.raise_if_any()
    memory = plan(shapes, jobs, machine_memory())
    if not memory.fits:
        raise LrbenchError(
            f"the grid needs more memory than this machine has: {memory.text()}; "
            "use fewer workers (--jobs), log less often (train.log_every, train.eval_every), "
            "fewer steps, or split the grid into several configs"
        )
    return memory


def _shape(group: Sequence[RunSpec], data: Data, max_width: int) -> Shape:
    """The :class:`Shape` of one lockstep group on its loaded data."""
    first = group[0]
    train = first.train
    n_train = len(data.y_train)
    d = data.n_features
    n_out = data.n_classes or 1
    hidden = tuple(dict(first.task.model_params).get("hidden", ()))
    sizes = (d, *hidden, n_out)
    batch = n_train if train.batch_size is None else min(train.batch_size, n_train)
    per_epoch = 1 if batch >= n_train else math.ceil(n_train / batch)
    eval_every = train.eval_every or per_epoch
    T = train.steps
    return Shape(
        runs=len(group),
        width=min(len(group), max_width),
        steps=T,
        logged=math.ceil(T / train.log_every),
        evals=math.ceil(T / eval_every) + 1,
        batch=batch,
        params=sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])),
        features=d,
        activations=sum(hidden) + n_out,
        itemsize=8 if train.dtype == "float64" else 4,
        rows=n_train + len(data.y_val),
    )
