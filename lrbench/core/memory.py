"""How much memory a sweep will need, from the shapes of its runs, before anything is trained.

The estimate is an upper bound built from what the engine and the sweep hold at their peak
(bytes; ``s`` is the dtype's item size, 8 for float64; ``W`` the width of a lockstep chunk;
``T`` steps, ``L = ceil(T / log_every)`` logged steps, ``E`` evaluation points, ``B`` the batch,
``P`` the parameters of one configuration, ``d`` features, ``H`` the sum of hidden widths and
``C`` the outputs):

- **data**: ``(n_train + n_val) * (d + 1) * 8`` per task, once in every process;
- **training**, per worker, its largest chunk: parameters, gradients, scratch and up to four
  state arrays per update rule (``8 * W * P * s``); the minibatch and the activations of the
  forward and backward pass (``W * B * (d + 3 * (H + C)) * s``); the learning-rate tables
  (``W * T * (8 + 2 s)``: float64, then in the dtype, then per stack row); the records
  (``W * (2 L + 3 E) * 8``, and as much again for the results cut from them); the chunk's
  ``curves.csv`` lines as text and as a list of lines (``W * (L + E) * 260``); and a fixed
  :data:`EVAL_BYTES` for the evaluation passes;
- **planning**: the learning-rate tables of the largest group, twice (``2 * K * T * 8``);
- **results**, kept by the main process for the whole sweep: every run's records
  (``(3 L + 4 E) * 8``) and its ``curves.csv`` text twice (the lines, then the joined file:
  ``2 * (L + E) * 100``).

The machine's memory is its physical memory, or the container's limit (cgroup) when lower.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LINE_BYTES = 100  # one curves.csv line: run id, step, epoch and up to five floats
LINE_OBJECT_BYTES = 160  # the same line as a Python str in a list (object header, pointer)
EVAL_BYTES = 16 * 2**20  # evaluation chunks (models.EVAL_BYTES-bounded activations) and copies
STATE_ARRAYS = 8  # parameters, gradients, scratch, up to 4 optimizer states, one reindex copy


@dataclass(frozen=True)
class Shape:
    """What the estimate needs to know about one lockstep group of runs."""

    runs: int  # configurations in the group
    width: int  # configurations in its largest chunk
    steps: int
    logged: int  # logged steps (ceil(steps / log_every))
    evals: int  # evaluation points
    batch: int  # rows in a minibatch (the training rows for full batch)
    params: int  # parameters of one configuration
    features: int
    activations: int  # sum of hidden widths plus outputs
    itemsize: int  # bytes of the dtype
    rows: int  # training plus validation rows


@dataclass(frozen=True)
class MemoryPlan:
    """The planned peak memory of a sweep, by part (bytes), and the machine's memory."""

    data: int
    training: int
    planning: int
    results: int
    workers: int
    machine: int | None

    @property
    def total(self) -> int:
        return self.data + self.training + self.planning + self.results

    @property
    def fits(self) -> bool:
        return self.machine is None or self.total <= self.machine

    def text(self) -> str:
        """``planned memory: 1.2 GiB (training 0.9 GiB in 2 workers, ...); this machine
        has 23 GiB``."""
        parts = (
            f"training {size_text(self.training)} in {self.workers} "
            f"{'worker' if self.workers == 1 else 'workers'}, "
            f"results {size_text(self.results)}, data {size_text(self.data)}, "
            f"planning {size_text(self.planning)}"
        )
        machine = "unknown" if self.machine is None else size_text(self.machine)
        return f"planned memory: {size_text(self.total)} ({parts}); this machine has {machine}"


def size_text(n: int) -> str:
    """Bytes in binary units with three significant digits: ``512 B``, ``1.5 MiB``, ``12 GiB``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
    return f"{n} B"


def chunk_bytes(g: Shape) -> int:
    """Peak bytes of one worker training the group's largest chunk (see the module docstring)."""
    w, s = g.width, g.itemsize
    stack = STATE_ARRAYS * w * g.params * s
    passes = w * g.batch * (g.features + 3 * g.activations) * s
    tables = w * g.steps * (8 + 2 * s)
    records = 2 * w * (2 * g.logged + 3 * g.evals) * 8
    texts = w * (g.logged + g.evals) * (LINE_BYTES + LINE_OBJECT_BYTES)
    return stack + passes + tables + records + texts + EVAL_BYTES


def result_bytes(g: Shape) -> int:
    """Bytes the main process keeps for every run of the group until the tables are written."""
    per_run = (3 * g.logged + 4 * g.evals) * 8 + 2 * (g.logged + g.evals) * LINE_BYTES
    return g.runs * per_run


def plan(groups: Sequence[Shape], jobs: int, machine: int | None) -> MemoryPlan:
    """The planned peak of training ``groups`` with ``jobs`` worker processes (one process
    trains when ``jobs`` is 1). Each worker is assumed to hold the largest chunk."""
    if not groups:
        return MemoryPlan(0, 0, 0, 0, 0, machine)
    chunks = sum(math.ceil(g.runs / g.width) for g in groups)
    workers = max(1, min(jobs, chunks))
    processes = 1 + (workers if jobs > 1 else 0)
    data = processes * sum(g.rows * (g.features + 1) * 8 for g in groups)
    training = workers * max(chunk_bytes(g) for g in groups)
    planning = max(2 * g.runs * g.steps * 8 for g in groups)
    results = sum(result_bytes(g) for g in groups)
    return MemoryPlan(data, training, planning, results, workers, machine)


def machine_memory() -> int | None:
    """Physical memory, or the cgroup (container) limit when lower; None when unknown."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            sizes.append(int(text))
    sizes = [s for s in sizes if s > 0]
    return min(sizes) if sizes else None
