"""What the theory checks add to each run's metrics: task labels that tell tasks apart, the batch
size and grid lr, and the descent check of full-batch gradient descent.

- **Task labels.** A task's label (``digits/logreg``) leaves out most parameters, so two tasks of
  one sweep can share it (``regression/linear`` at three condition numbers). Such tasks get the
  parameters that tell them apart, ``regression/linear (condition_number=10)``; and a task
  trained at several batch sizes (``train.batch_size: [16, 64]``) one table per batch size,
  ``digits/logreg (batch 16)``. A sweep without either keeps its labels as they were.
- **Batch size and base lr.** With a batch-size grid or ``lr_scaling``, ``batch_size`` (``full``
  for full batch) and ``base_lr`` (the grid's value; ``lr`` is the one used) become columns of
  ``runs.csv``.
- **Descent check.** For an L-smooth loss, gradient descent with ``lr <= 2/L`` never raises the
  loss: ``f(x - lr g) <= f(x) - lr (1 - lr L / 2) |g|**2`` (the descent lemma). A run is checked
  when it is full-batch (one step an epoch) plain gradient descent (``sgd``-type, momentum 0,
  weight decay 0) on ``linear`` or ``logreg``, whose largest learning rate is at most the task's
  ``2/L`` (:func:`lrbench.core.tasks.stability_bound`). Its full training losses (the loss of
  every logged step, which in full batch is the training loss before that update, then the final
  evaluation) are read in order; each rise above ``DESCENT_RTOL`` (relative, by dtype: round-off
  of the loss itself) counts as a violation: a bug, or a wrong bound. ``descent_violations`` is
  the count (``None`` when the run is not checked) and ``first_rise_step`` the step whose loss
  rose first. With ``train.log_every: k`` only every k-th step is seen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from lrbench.spec import RunResult, RunSpec, TaskSpec, show
from lrbench.sweep.findings import RunMetrics

#: A rise of the loss smaller than this fraction of it is round-off, by training dtype.
DESCENT_RTOL = {"float64": 1e-10, "float32": 1e-4}
CONVEX_MODELS = ("linear", "logreg")
SGD_TYPES = ("sgd", "momentum", "nesterov")


def task_labels(specs: Sequence[RunSpec]) -> dict[tuple[TaskSpec, int | None], str]:
    """The label of every (task, batch size) of a sweep (module docstring)."""
    tasks = list(dict.fromkeys(s.task for s in specs))
    batches: dict[TaskSpec, set[int | None]] = {}
    for s in specs:
        batches.setdefault(s.task, set()).add(s.train.batch_size)
    out = {}
    for task in tasks:
        twins = [t for t in tasks if t.label == task.label]
        parts = [f"{k}={show(v)}" for k, v in _differing(task, twins)]
        for batch in sorted(batches[task], key=lambda b: math.inf if b is None else b):
            extra = parts + ([_batch_text(batch)] if len(batches[task]) > 1 else [])
            out[(task, batch)] = task.label + (f" ({', '.join(extra)})" if extra else "")
    return out


def _batch_text(batch: int | None) -> str:
    return "full batch" if batch is None else f"batch {batch}"


def _differing(task: TaskSpec, twins: Sequence[TaskSpec]) -> list[tuple[str, Any]]:
    """``task``'s settings that differ among ``twins`` (tasks sharing its label)."""
    if len(twins) < 2:
        return []

    def settings(t: TaskSpec) -> dict[str, Any]:
        return {**dict(t.dataset_params), **dict(t.model_params), "test_size": t.test_size,
                "data_seed": t.data_seed, "dataset": t.dataset}  # fmt: skip

    mine = settings(task)
    keys = [k for k in mine if any(settings(t).get(k) != mine[k] for t in twins)]
    return [(k, mine[k]) for k in keys]


def descent_check(result: RunResult, bound: float | None) -> tuple[int | None, int | None]:
    """``(violations, first rising step)`` of a checked run, ``(None, None)`` for a run the
    check does not apply to (module docstring)."""
    if not checks_descent(result, bound):
        return None, None
    loss = np.asarray(result.log_loss, dtype=float)
    steps = np.asarray(result.log_step)
    if (
        result.status != "diverged"
        and len(result.eval_step)
        and (not steps.size or result.eval_step[-1] > steps[-1])
    ):
        loss = np.append(loss, result.eval_train_loss[-1])
        steps = np.append(steps, result.eval_step[-1])
    rtol = DESCENT_RTOL.get(result.spec.train.dtype, DESCENT_RTOL["float32"])
    rises = np.flatnonzero(np.diff(loss) > rtol * np.abs(loss[:-1]))
    # a non-finite loss after a finite one is a rise too (the engine stops there)
    jumps = np.flatnonzero(np.isfinite(loss[:-1]) & ~np.isfinite(loss[1:]))
    rises = np.union1d(rises, jumps)
    return int(rises.size), (int(steps[rises[0] + 1]) if rises.size else None)


def checks_descent(result: RunResult, bound: float | None) -> bool:
    """Whether the descent check applies: full-batch plain gradient descent on a convex model
    whose largest learning rate is at most ``bound`` (2/L)."""
    s = result.spec
    p = dict(s.optimizer_params)
    plain = s.optimizer in SGD_TYPES and not p.get("momentum") and not p.get("weight_decay")
    if bound is None or not plain or s.task.model not in CONVEX_MODELS:
        return False
    if result.steps_per_epoch != 1:
        return False
    lrs = np.asarray(result.log_lr, dtype=float)
    peak = max([s.lr, *lrs[np.isfinite(lrs)].tolist()])
    return peak <= bound


def annotate(
    runs: Sequence[RunMetrics],
    results: Sequence[RunResult],
    bounds: Mapping[TaskSpec, float] | None = None,
) -> list[RunMetrics]:
    """``runs`` (one per result, in order) with the labels, batch size, base lr and descent
    check of this module; ``bounds`` maps tasks to their 2/L."""
    specs = [r.spec for r in results]
    labels = task_labels(specs)
    show_batch = (
        any(s.base_lr is not None for s in specs) or len({s.train.batch_size for s in specs}) > 1
    )
    out = []
    for m, r in zip(runs, results, strict=True):
        s = r.spec
        violations, first = descent_check(r, (bounds or {}).get(s.task))
        batch = s.train.batch_size if s.train.batch_size is not None else "full"
        out.append(replace(
            m, task=labels[(s.task, s.train.batch_size)],
            batch_size=batch if show_batch else None,
            base_lr=s.base_lr, descent_violations=violations, first_rise_step=first,
        ))  # fmt: skip
    return out
