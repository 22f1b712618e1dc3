"""Run a grid of specs: group them, skip finished ones, train groups in worker processes.

Parallelism comes from processes, each with one BLAS thread (``threadpoolctl``), the main
process included: a product split over two threads can round differently, and one thread per
process is both faster here and the condition for identical bits whatever ``--jobs`` is.
Each run file is written (atomically) as soon as its chunk ends, by the process that trained
it, which also formats the run's ``curves.csv`` lines: the two serialisations of a finished run
then run in parallel with training elsewhere, and the main process only collects and
concatenates.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from lrbench.engine import group_key, train_group
from lrbench.spec import RunResult, RunSpec
from lrbench.store import ResultsDir, run_texts

# Events sent to the caller: ("steps", n) as training advances, ("group", results) when a
# group ends (its runs are already saved).
Event = tuple[str, object]
OnEvent = Callable[[str, object], None]

_worker_queue = None


def limit_blas_threads() -> None:
    """One BLAS thread in this process (reproducible bits, and faster at these shapes).

    Also keeps glibc from returning freed memory to the system after every training step: the
    step's temporaries are a few MB, and trimming and faulting them back in each step made an
    MLP step about twice as slow. (Linux/glibc only; elsewhere nothing changes.)
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not hasattr(os, "sched_getaffinity"):
        return
    try:
        libc = ctypes.CDLL(name)
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
    """What a sweep will do: runs already finished and groups still to train."""

    done: dict[str, RunResult]
    groups: list[list[RunSpec]]

    @property
    def pending_steps(self) -> int:
        return sum(len(g) * g[0].train.steps for g in self.groups)

    @property
    def pending_runs(self) -> int:
        return sum(len(g) for g in self.groups)


MAX_WIDTH = 64  # configurations a chunk: wide enough for numpy, small enough to save often


def make_groups(specs: Sequence[RunSpec], jobs: int = 1) -> list[list[RunSpec]]:
    """Group specs for lockstep training, costliest first.

    Specs with equal :func:`lrbench.engine.group_key` train together, in chunks of at most
    :data:`MAX_WIDTH` configurations: runs are saved when their chunk ends, so an interrupted
    sweep loses at most the chunks in progress. A group is cut by striding (chunk ``i`` takes
    every ``n``-th spec from ``i``), so its chunks share the same mix of optimizers and learning
    rates. With several workers and few chunks (fewer than four a worker), chunks are also cut
    where the workers' equal shares of the estimated cost end (McNaughton's wrap-around rule),
    so the workers finish together with at most ``jobs - 1`` extra cuts. Cutting never changes
    a run's numbers.
    """
    by_key: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        by_key[group_key(s)].append(s)
    chunks = []
    for g in by_key.values():
        n = -(-len(g) // MAX_WIDTH)
        chunks += [g[i::n] for i in range(n)]
    if jobs > 1 and len(chunks) < 4 * jobs:
        chunks = _share(sorted(chunks, key=_cost, reverse=True), jobs)
    return sorted(chunks, key=_cost, reverse=True)


def _share(chunks: list[list[RunSpec]], jobs: int) -> list[list[RunSpec]]:
    """Lay the chunks end to end and cut them at every ``total / jobs`` of cost. A cut piece
    is a stride of its chunk (same mix); pieces under a quarter of a share are not cut off."""
    share = sum(_cost(c) for c in chunks) / jobs
    out: list[list[RunSpec]] = []
    room = share
    for c in chunks:
        per = _cost(c) / len(c)
        while _cost(c) > room + share / 4:
            k = min(len(c) - 1, round(room / per))
            if k < 1 or k * per < share / 4:
                break  # no piece of a useful size fits: the chunk stays whole
            take = {int(i * len(c) / k) for i in range(k)}
            out.append([x for i, x in enumerate(c) if i in take])
            c = [x for i, x in enumerate(c) if i not in take]
            room = share
        out.append(c)
        room -= _cost(c)
        if room <= share / 4:
            room = share
    return out


def _cost(group: Sequence[RunSpec]) -> float:
    """Relative training cost: configurations x steps x (1 + sum of hidden widths / 32). The
    weights come from W1 timings: an MLP 64-64-10 step costs about 3 logreg steps (a step's
    fixed numpy-call cost weighs as much as the products at these sizes)."""
    s = group[0]
    hidden = dict(s.task.model_params).get("hidden", ())
    width = 1 + sum(hidden) / 32
    return len(group) * s.train.steps * width


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


def _init_worker(q) -> None:  # pragma: no cover - runs in a child process
    global _worker_queue
    _worker_queue = q
    limit_blas_threads()


def _run_in_worker(
    group: list[RunSpec], store: ResultsDir | None
) -> list[tuple[RunResult, str]]:  # pragma: no cover - child
    k = len(group)
    q = _worker_queue

    def progress(n: int) -> None:
        if q is not None:
            q.put(n * k)

    return [finish_run(r, store) for r in train_group(group, progress=progress)]


def finish_run(result: RunResult, store: ResultsDir | None) -> tuple[RunResult, str]:
    """Save a trained run's file (when there is a results folder) and format its
    ``curves.csv`` lines."""
    run_file, curves = run_texts(result)
    if store is not None:
        store.save(result, run_file)
    return result, curves


def execute(
    the_plan: Plan,
    store: ResultsDir | None,
    jobs: int = 1,
    on_event: OnEvent | None = None,
) -> Executed:
    """Train every pending group; each run is saved as its chunk ends; return all results.

    ``KeyboardInterrupt`` propagates after the workers are stopped; runs of finished chunks
    are already on disk.
    """
    done = Executed(dict(the_plan.done), {})
    emit = on_event or (lambda kind, payload: None)

    def collect(finished: list[tuple[RunResult, str]]) -> None:
        for r, text in finished:
            done.results[r.spec.run_id] = r
            done.curves[r.spec.run_id] = text
        emit("group", [r for r, _ in finished])

    groups = the_plan.groups
    if not groups:
        return done
    jobs = max(1, min(jobs, len(groups)))
    if jobs == 1:
        limit_blas_threads()
        for g in groups:
            k = len(g)
            trained = train_group(g, progress=lambda n, k=k: emit("steps", n * k))
            collect([finish_run(r, store) for r in trained])
        return done

    limit_blas_threads()
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    q = ctx.Queue()
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(q,))
    futures: set[Future] = set()
    try:
        futures = {pool.submit(_run_in_worker, g, store) for g in groups}
        while futures:
            finished, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(q, emit)
            for f in finished:
                collect(f.result())
        _drain(q, emit)
    except BaseException:
        for f in futures:
            f.cancel()
        for p in list(getattr(pool, "_processes", {}).values()):
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        if store is not None:
            store.remove_partial()
        raise
    pool.shutdown()
    return done


def _drain(q, emit) -> None:
    while True:
        try:
            n = q.get_nowait()
        except queue.Empty:
            return
        emit("steps", n)


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
