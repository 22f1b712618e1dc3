"""Run a grid of specs: group them, skip finished ones, train groups in worker processes.

Parallelism comes from processes, each with one BLAS thread (``threadpoolctl``), the main
process included: a product split over two threads can round differently, and one thread per
process is both faster here and the condition for identical bits whatever ``--jobs`` is.
Only the main process writes files; each group's runs are saved as soon as the group ends.
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
from lrbench.store import ResultsDir

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
    sweep loses at most the chunks in progress. With several workers and few groups (fewer
    than four a worker), each group is also cut into at least ``jobs`` chunks so the workers
    finish together. Cutting never changes a run's numbers.
    """
    by_key: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        by_key[group_key(s)].append(s)
    groups = list(by_key.values())
    few = jobs > 1 and len(groups) < 4 * jobs
    chunks = []
    for g in groups:
        n = max(-(-len(g) // MAX_WIDTH), min(jobs, len(g)) if few else 1)
        size = -(-len(g) // n)
        chunks += [g[i : i + size] for i in range(0, len(g), size)]
    return sorted(chunks, key=_cost, reverse=True)


def _cost(group: Sequence[RunSpec]) -> float:
    """Relative training cost: configurations x steps x (matrix-product work per sample)."""
    s = group[0]
    hidden = dict(s.task.model_params).get("hidden", ())
    width = 1 + sum(hidden) / 16
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


def _run_in_worker(group: list[RunSpec]) -> list[RunResult]:  # pragma: no cover - child
    k = len(group)
    q = _worker_queue

    def progress(n: int) -> None:
        if q is not None:
            q.put(n * k)

    return train_group(group, progress=progress)


def execute(
    the_plan: Plan,
    store: ResultsDir | None,
    jobs: int = 1,
    on_event: OnEvent | None = None,
) -> dict[str, RunResult]:
    """Train every pending group; save each run as its group ends; return all results.

    ``KeyboardInterrupt`` propagates after the workers are stopped; runs of finished groups
    are already on disk.
    """
    results = dict(the_plan.done)
    emit = on_event or (lambda kind, payload: None)

    def finish(group_results: list[RunResult]) -> None:
        for r in group_results:
            if store is not None:
                store.save(r)
            results[r.spec.run_id] = r
        emit("group", group_results)

    groups = the_plan.groups
    if not groups:
        return results
    jobs = max(1, min(jobs, len(groups)))
    if jobs == 1:
        limit_blas_threads()
        for g in groups:
            k = len(g)
            finish(train_group(g, progress=lambda n, k=k: emit("steps", n * k)))
        return results

    limit_blas_threads()
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    q = ctx.Queue()
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(q,))
    futures: set[Future] = set()
    try:
        futures = {pool.submit(_run_in_worker, g) for g in groups}
        while futures:
            finished, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(q, emit)
            for f in finished:
                finish(f.result())
        _drain(q, emit)
    except BaseException:
        for f in futures:
            f.cancel()
        for p in list(getattr(pool, "_processes", {}).values()):
            p.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


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
