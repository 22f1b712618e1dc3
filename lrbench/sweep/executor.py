"""Run a grid of specs: group them, skip finished ones, train the chunks with an executor.

Planning (:func:`plan`, :func:`make_groups`) cuts the pending runs into lockstep chunks; an
:class:`Executor` trains them: :class:`LocalExecutor` (worker processes here, the default) or
the Dask one (:mod:`lrbench.sweep.dask_executor`), chosen in one place
(:func:`lrbench.sweep.executors.open_executor`).
Parallelism comes from processes, each with one BLAS thread (``threadpoolctl``), the main
process included: a product split over two threads can round differently, and one thread per
process is both faster here and the condition for identical bits whatever ``--jobs`` or the
executor is. (The ``lrbench`` command also asks for one thread before numpy loads:
``lrbench/__main__.py``.) Each run file is written (atomically) as soon as its chunk ends; the
process that trained it formats it and the run's ``curves.csv`` lines, so the serialisations
run in parallel with training elsewhere, and local workers also write the file.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import sys
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing.queues import Queue

import numpy as np

from lrbench.core.engine import train_group
from lrbench.core.optimizers import group_key as optimizer_group_key
from lrbench.core.sharing import GroupPlan, families, group_key, lr_tables, plan_group
from lrbench.spec import RunResult, RunSpec
from lrbench.sweep.store import ResultsDir, run_texts

# Events sent to the caller: ("steps", n) as training advances, ("group", results) when a
# group ends (its runs are already saved).
Event = tuple[str, object]
OnEvent = Callable[[str, object], None]

_worker_queue: Queue[int] | None = None  # a local worker's channel for progress (row steps)


def limit_blas_threads() -> None:
    """One BLAS thread in this process (reproducible bits, and faster at these shapes).

    Also keeps glibc from returning freed memory to the system after every training step: the
    step's temporaries are a few MB, and trimming and faulting them back in each step made an
    MLP step about twice as slow. (Linux/glibc only; elsewhere nothing changes.)
    """
    from threadpoolctl import threadpool_limits  # ~9 ms; lrbench validate imports this module

    threadpool_limits(1)
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        # The process's own symbols, libc's among them (ctypes.util.find_library("c") would
        # run ldconfig in a subprocess: about 20 ms in every worker).
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return


@dataclass
class Executed:
    """Every run's result by run id, and the ``curves.csv`` lines (one string a run) of the
    runs trained here."""

    results: dict[str, RunResult]
    curves: dict[str, str]


@dataclass(frozen=True)
class Plan:
    """What a sweep will do: runs already finished and groups still to train (planned)."""

    done: dict[str, RunResult]
    groups: list[GroupPlan]

    @property
    def pending_steps(self) -> int:
        return sum(len(g) * g[0].train.steps for g in self.groups)

    @property
    def pending_runs(self) -> int:
        return sum(len(g) for g in self.groups)


MAX_WIDTH = 64  # configurations a chunk: wide enough for numpy, small enough to save often


def make_groups(specs: Sequence[RunSpec], jobs: int = 1) -> list[GroupPlan]:
    """Group specs for lockstep training, costliest first, each group planned once.

    Specs with equal :func:`lrbench.core.sharing.group_key` train together, in chunks of at most
    :data:`MAX_WIDTH` configurations (unless one family is wider): runs are saved when their
    chunk ends, so an interrupted sweep loses at most the chunks in progress. Chunks are made of
    whole :func:`lrbench.core.sharing.families` (specs that may share a prefix stay together, so
    cutting loses no sharing). A group is cut by striding over its families (chunk ``i`` takes
    every ``n``-th from ``i``), so its chunks share the same mix of optimizers and learning rates.
    With several workers and few chunks (fewer than four a worker), chunks are also cut where
    the workers' equal shares of the estimated cost end (McNaughton's wrap-around rule), so the
    workers finish together with at most ``jobs - 1`` extra cuts. Cutting never changes a run's
    numbers. Each group's learning-rate table is computed once, here (:func:`lr_tables`): the
    families, their costs and the chunks' plans (:func:`lrbench.core.sharing.plan_group`, which
    the engine trains) read columns of it.
    """
    by_key: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        by_key[group_key(s)].append(s)
    chunks: list[list[_Unit]] = []
    for g in by_key.values():
        units = _units(g)
        n = -(-len(g) // MAX_WIDTH)
        while n < len(units) and any(_size(units[i::n]) > MAX_WIDTH for i in range(n)):
            n += 1
        chunks += [units[i::n] for i in range(n)]
    if jobs > 1 and len(chunks) < 4 * jobs:
        chunks = _share(sorted(chunks, key=_cost, reverse=True), jobs)
    chunks.sort(key=_cost, reverse=True)
    return [_plan(c) for c in chunks]


class _Unit:
    """A family of specs that stays in one chunk, with its learning-rate table ``lrs`` (its
    columns of the group's) and its estimated cost."""

    def __init__(self, specs: list[RunSpec], lrs: np.ndarray) -> None:
        self.specs = specs
        self.lrs = lrs
        rows = plan_group(specs, lrs).row_steps
        self.cost = rows * _row_weight(specs[0]) + SAVE_ROWS * len(specs)


def _units(specs: Sequence[RunSpec]) -> list[_Unit]:
    """The families of specs of one group (:func:`lrbench.core.sharing.families`), with their
    costs, from the group's learning-rate table computed once."""
    lrs = lr_tables(specs)
    return [_Unit([specs[i] for i in f], lrs[:, f]) for f in families(specs, lrs)]


def _plan(chunk: Sequence[_Unit]) -> GroupPlan:
    """A chunk planned for the engine, from its families' learning-rate tables."""
    specs = [s for u in chunk for s in u.specs]
    return plan_group(specs, np.concatenate([u.lrs for u in chunk], axis=1))


def _share(chunks: list[list[_Unit]], jobs: int) -> list[list[_Unit]]:
    """Lay the chunks end to end and cut them at every ``total / jobs`` of cost. A piece cut
    off a chunk is a cost-weighted stride of it (it takes each family whose cost midpoint falls
    in its proportion, so it keeps the chunk's mix); pieces under a quarter of a share are not
    cut off."""
    cuts = (jobs - 1) * max(_fixed(c) for c in chunks)  # each cut adds a stack's fixed cost
    share = (sum(_cost(c) for c in chunks) + cuts) / jobs
    out: list[list[_Unit]] = []
    room = share
    for c in chunks:
        while _cost(c) > room + share / 4 and len(c) > 1 and room >= share / 4:
            piece, rest = _stride(c, (room - _fixed(c)) / (_cost(c) - _fixed(c)))
            if not piece or not rest:
                break  # no piece of a useful size fits: the chunk stays whole
            out.append(piece)
            c = rest
            room = share
        out.append(c)
        room -= _cost(c)
        if room <= share / 4:
            room = share
    return out


def _stride(units: list[_Unit], frac: float) -> tuple[list[_Unit], list[_Unit]]:
    """Split ``units`` into a piece holding about ``frac`` of their cost, spread evenly along
    the list (a Bresenham walk over cumulative cost, then the one move between piece and rest
    that brings the piece closest to its target, if any), and the rest."""
    piece, rest = [], []
    seen = taken = 0.0
    for u in units:
        seen += u.cost
        if taken + u.cost / 2 <= frac * seen:
            piece.append(u)
            taken += u.cost
        else:
            rest.append(u)
    # the walk decides locally; one move between the two may land closer to the target
    gap = frac * seen - taken
    src, dst, sign = (rest, piece, 1) if gap > 0 else (piece, rest, -1)
    best = min(src, key=lambda u: abs(gap - sign * u.cost), default=None)
    if best is not None and abs(gap - sign * best.cost) < abs(gap):
        src.remove(best)
        dst.append(best)
    return piece, rest


# A stack pays a fixed cost every step (the numpy calls of the passes and of each update
# rule), in units of one logreg + sgd row-step: about 0.17 ms against 16 us on W1.
FIXED_ROWS = 10.0
# Saving a finished run (its file and curves.csv lines, for 900 logged steps): about 2.2 ms.
SAVE_ROWS = 120.0


def _fixed(chunk: Sequence[_Unit]) -> float:
    return FIXED_ROWS * chunk[0].specs[0].train.steps if chunk else 0.0


def _cost(chunk: Sequence[_Unit]) -> float:
    return _fixed(chunk) + sum(u.cost for u in chunk)


def _size(chunk: Sequence[_Unit]) -> int:
    return sum(len(u.specs) for u in chunk)


# Relative cost of an update per row by update rule (sgd without momentum = 1), measured on
# W1's shapes for sgd, momentum and adam (MLP 1 / 1.08 / 1.41, logreg 1 / 1.14 / 1.25) and
# set by their number of state arrays for the others.
_RULE_WEIGHT = {"sgd": 1.0, "momentum": 1.1, "adagrad": 1.15, "rmsprop": 1.2}


def _row_weight(spec: RunSpec) -> float:
    """Relative cost of one row-step: ``(1 + sum of hidden widths / 32)`` x the update rule's
    weight. From W1 timings, an MLP 64-64-10 row-step costs about 3 logreg ones (a step's fixed
    numpy-call cost weighs as much as the products at these sizes)."""
    hidden = dict(spec.task.model_params).get("hidden", ())
    key = optimizer_group_key(spec.optimizer, dict(spec.optimizer_params))
    rule = "momentum" if key[0] == "sgd" and key[1] else key[0]
    return (1 + sum(hidden) / 32) * _RULE_WEIGHT.get(rule, 1.35)


def estimated_cost(specs: Sequence[RunSpec]) -> float:
    """Relative cost of training specs of one group as one stack and saving them: a fixed cost
    per step, each family's row steps (:attr:`lrbench.core.sharing.GroupPlan.row_steps`, shared
    prefixes counted once) x the cost of its row-step (:func:`_row_weight`), and a cost per run
    saved."""
    return _cost(_units(specs)) if specs else 0.0


def plan(specs: Sequence[RunSpec], store: ResultsDir | None, jobs: int = 1) -> Plan:
    """Finished runs (from ``store``) and the groups of the rest."""
    done: dict[str, RunResult] = {}
    todo = []
    for s in specs:
        r = store.load(s) if store is not None else None
        if r is None:
            todo.append(s)
        else:
            done[s.run_id] = r
    return Plan(done, make_groups(todo, jobs) if todo else [])


class Executor(ABC):
    """Where planned chunks train: a small interface with two implementations,
    :class:`LocalExecutor` (worker processes of this machine) and
    :class:`lrbench.sweep.dask_executor.DaskExecutor` (a Dask cluster), chosen in one place
    (:func:`lrbench.sweep.executors.open_executor`).

    :meth:`run` trains every chunk and, in this process, calls ``on_result`` with each chunk's
    :class:`Finished` runs as the chunk ends and ``on_event("steps", n)`` as training advances
    (``n`` row steps). Every implementation trains a chunk with :func:`train_chunk`, in a
    process limited to one BLAS thread, so results are the same bits whichever runs them. An
    executor is a context manager: leaving it frees what it started (a cluster, say), so one
    executor can serve several sweeps (``lrbench batch``).
    """

    jobs: int  # the workers the chunks are planned for

    @abstractmethod
    def run(
        self,
        chunks: Sequence[GroupPlan],
        store: ResultsDir | None,
        on_result: OnFinished,
        on_event: OnEvent,
    ) -> None:
        """Train ``chunks``. ``store``: the results folder, for workers that share this
        machine's files and save their runs themselves (their :attr:`Finished.run_file` is then
        ``None``); the caller saves the others."""

    @abstractmethod
    def close(self) -> None:
        """Free what the executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Finished:
    """A trained run as an executor hands it back: the result, its ``curves.csv`` lines, and
    its run file's text when the worker did not save it (``None``: saved already)."""

    result: RunResult
    curves: str
    run_file: str | None = None


OnFinished = Callable[[list[Finished]], None]


def train_chunk(
    chunk: GroupPlan,
    progress: Callable[[int], None] | None = None,
    store: ResultsDir | None = None,
) -> list[Finished]:
    """Train one planned chunk (:func:`lrbench.core.engine.train_group`) and serialise each run
    (:func:`lrbench.sweep.store.run_texts`) in the process that trained it; with ``store``,
    save each run file there too. ``progress(n)``: ``n`` row steps done (steps x the chunk's
    width) since its last call."""
    k = len(chunk)
    report = None if progress is None else (lambda n: progress(n * k))
    out = []
    for r in train_group(chunk, progress=report):
        run_file, curves = run_texts(r)
        if store is not None:
            store.save(r, run_file)
        out.append(Finished(r, curves, None if store is not None else run_file))
    return out


class LocalExecutor(Executor):
    """Worker processes of this machine (``jobs``; forked where possible), each with one BLAS
    thread, or this process alone when one worker is enough. Workers save their runs' files
    themselves, in parallel with training elsewhere; this process collects."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(
        self,
        chunks: Sequence[GroupPlan],
        store: ResultsDir | None,
        on_result: OnFinished,
        on_event: OnEvent,
    ) -> None:
        limit_blas_threads()
        jobs = min(self.jobs, len(chunks))
        if jobs <= 1:
            for c in chunks:
                on_result(train_chunk(c, lambda n: on_event("steps", n), store))
            return
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        # numpy.ma is loaded on first use by np.union1d (every worker's curves) and np.median
        # (this process's analysis), about 10 ms each time: imported once before the fork, the
        # workers share it (BENCHMARKS.md, session 9)
        import numpy.ma  # noqa: F401

        q = ctx.Queue()
        pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(q,))
        futures: set[Future] = set()
        try:
            futures = {pool.submit(_run_in_worker, c, store) for c in chunks}
            while futures:
                finished, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(q, on_event)
                for f in finished:
                    on_result(f.result())
            _drain(q, on_event)
        except BaseException:
            for f in futures:
                f.cancel()
            for p in list(getattr(pool, "_processes", {}).values()):
                p.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    def close(self) -> None:
        """Nothing to free: each :meth:`run`'s process pool ends with it."""


def _init_worker(q: Queue[int]) -> None:  # pragma: no cover - runs in a child process
    global _worker_queue
    _worker_queue = q
    limit_blas_threads()


def _run_in_worker(
    chunk: GroupPlan, store: ResultsDir | None
) -> list[Finished]:  # pragma: no cover - child
    q = _worker_queue
    return train_chunk(chunk, q.put if q is not None else None, store)


def _drain(q: Queue[int], emit: OnEvent) -> None:
    while True:
        try:
            n = q.get_nowait()
        except queue.Empty:
            return
        emit("steps", n)


def execute(
    the_plan: Plan,
    store: ResultsDir | None,
    jobs: int = 1,
    on_event: OnEvent | None = None,
    executor: Executor | None = None,
) -> Executed:
    """Train every pending group with ``executor`` (default: ``jobs`` local processes); each
    run is saved as its chunk ends (by its worker, or here); return all results.

    ``KeyboardInterrupt`` propagates after the executor stopped its work; runs of finished
    chunks are already on disk, and no partial file is left.
    """
    done = Executed(dict(the_plan.done), {})
    emit = on_event or (lambda kind, payload: None)

    def collect(finished: list[Finished]) -> None:
        for f in finished:
            if f.run_file is not None and store is not None:
                store.save(f.result, f.run_file)
            done.results[f.result.spec.run_id] = f.result
            done.curves[f.result.spec.run_id] = f.curves
        emit("group", [f.result for f in finished])

    if not the_plan.groups:
        return done
    runner = executor if executor is not None else LocalExecutor(jobs)
    try:
        runner.run(the_plan.groups, store, collect, emit)
    except BaseException:
        if store is not None:
            store.remove_partial()
        raise
    return done


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
