"""Train a sweep's chunks on a Dask distributed cluster (``--executor dask``; ``lrbench[dask]``).

The chunks are planned here exactly as for local processes (:func:`lrbench.sweep.executor.plan`);
each becomes one Dask task, :func:`train_on_worker`, which trains it with
:func:`lrbench.sweep.executor.train_chunk` in a worker process limited to one BLAS thread (the
same bits as the local executor, whatever the number of workers) and returns its runs with their
run files and ``curves.csv`` lines already formatted. Workers never touch the results folder, so
they may be other machines: the client (this process) writes each chunk's runs as its result
arrives, with the same store calls as the local executor. Progress travels as worker events on a
topic the client subscribes to.

Faults: a task whose worker process dies is given to another worker by the scheduler (up to
``distributed.scheduler.allowed-failures`` deaths, 3 by default; then the sweep stops with one
line, finished runs kept); a task that raises is tried again up to :data:`RETRIES` times
(Dask's ``retries=``). A scheduler that cannot be reached, or that has no worker, is an error
after :data:`CONNECT_TIMEOUT_S` seconds. With no address, a ``LocalCluster`` of ``jobs`` worker
processes (one thread each) listening on 127.0.0.1 is started when the first chunk needs it and
stopped when the executor is closed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask.config
import numpy
from distributed import (
    CancelledError,
    Client,
    Future,
    KilledWorker,
    LocalCluster,
    WorkerPlugin,
    get_worker,
)

from lrbench import __version__
from lrbench.core.datacache import sklearn_version
from lrbench.core.sharing import GroupPlan
from lrbench.errors import LrbenchError
from lrbench.sweep.executor import (
    Executor,
    Finished,
    OnEvent,
    OnFinished,
    limit_blas_threads,
    train_chunk,
)
from lrbench.sweep.store import ResultsDir

CONNECT_TIMEOUT_S = 10.0  # to reach the scheduler, then again for a first worker to be there
RETRIES = 2  # further tries of a chunk whose task raised (a dead worker is the scheduler's)
# What ``lrbench/__main__.py`` sets before numpy loads (THREAD_VARIABLES), for the worker
# processes of a local cluster; ``limit_blas_threads`` enforces one thread in any worker.
WORKER_ENV = {
    name: "1"
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "OMP_NUM_THREADS")
}

# Dask settings for the local cluster lrbench starts (held until the executor closes, so that a
# worker the nanny restarts after a crash gets them too). Measured on W1 (BENCHMARKS.md):
# - forked workers, as the local executor's: they start with this process's modules (numpy,
#   lrbench, distributed) loaded, where Dask's default, spawn, starts each as a new interpreter
#   that imports them again: cluster start 1.1 s -> 0.2 s, stop 0.35 s -> 0.05 s;
# - no statistical profiler: it samples the training thread every 10 ms for a dashboard this
#   cluster does not serve.
LOCAL_CLUSTER_SETTINGS: dict[str, Any] = {"distributed.worker.profile.enabled": False}
if "fork" in mp.get_all_start_methods():
    LOCAL_CLUSTER_SETTINGS["distributed.worker.multiprocessing-method"] = "fork"

ChunkTask = Callable[[GroupPlan, str], list[Finished]]


_one_blas_thread = False  # set in a worker process once it runs one BLAS thread


def train_on_worker(chunk: GroupPlan, topic: str) -> list[Finished]:
    """The Dask task of one chunk: train it on this worker, reporting row steps as events on
    ``topic``; the runs come back unsaved (:attr:`Finished.run_file` holds each run file's
    text). The worker process is first limited to one BLAS thread
    (:func:`lrbench.sweep.executor.limit_blas_threads`), as local workers are."""
    global _one_blas_thread
    if not _one_blas_thread:
        limit_blas_threads()
        _one_blas_thread = True
    worker = get_worker()
    return train_chunk(chunk, lambda n: worker.log_event(topic, n))


class IgnoreCtrlC(WorkerPlugin):
    """For the workers of a local cluster, present and future (a restarted one too): ignore
    SIGINT. Ctrl-C in a terminal reaches the whole process group; the client reports it and
    stops the workers."""

    name = "lrbench-ignore-ctrl-c"

    def setup(self, worker: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_versions() -> dict[str, str | None]:
    """The versions that decide a run's bits, where this runs (each worker must match the
    client): lrbench, numpy, and scikit-learn (it makes the datasets and their splits)."""
    return {"lrbench": __version__, "numpy": numpy.__version__, "scikit-learn": sklearn_version()}


class DaskExecutor(Executor):
    """Chunks as tasks on the Dask scheduler at ``address`` (``tcp://HOST:8786``), or on a
    local cluster of ``jobs`` worker processes when ``address`` is ``None``.
    ``connect_timeout``: seconds (default :data:`CONNECT_TIMEOUT_S`); ``task``: the function a
    worker runs for each chunk (``(chunk, topic) -> runs``; tests replace it)."""

    def __init__(
        self,
        address: str | None = None,
        jobs: int = 1,
        *,
        connect_timeout: float | None = None,
        task: ChunkTask = train_on_worker,
    ) -> None:
        self.address = address
        self.jobs = max(1, jobs)
        self.connect_timeout = CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout
        self.task = task
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._settings = contextlib.ExitStack()  # Dask settings held while the cluster lives

    def run(
        self,
        chunks: Sequence[GroupPlan],
        store: ResultsDir | None,
        on_result: OnFinished,
        on_event: OnEvent,
    ) -> None:
        """Hand out the chunks in their planned order (costliest first), one per free worker
        thread, and hand back each one's runs as it ends. ``store`` is not used: the caller
        saves what comes back.

        Only as many tasks as the cluster has threads are in flight, as a process pool does.
        Given every chunk at once, the scheduler places each on a worker as it arrives (a
        few large tasks are not queued centrally) and only work stealing moves one to a
        worker that falls idle: on W1 the last chunk waited 1.2 s behind a busy worker while
        the other sat idle (BENCHMARKS.md)."""
        client = self.client()
        topic = f"lrbench-progress-{uuid.uuid4().hex}"
        # one inbox for both kinds of news, each put by a thread of the client
        inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        client.subscribe_topic(topic, lambda event: inbox.put(("steps", event[1])))
        waiting = list(reversed(chunks))  # popped from the end: the planned order
        futures: list[Future] = []

        def submit_while_free() -> None:
            free = max(1, sum(client.nthreads().values())) - sum(not f.done() for f in futures)
            for _ in range(min(free, len(waiting))):
                f = client.submit(
                    self.task, waiting.pop(), topic=topic, pure=False, retries=RETRIES
                )
                f.add_done_callback(lambda f: inbox.put(("done", f)))
                futures.append(f)

        left = len(chunks)
        try:
            submit_while_free()
            while left:
                try:
                    kind, news = inbox.get(timeout=0.5)  # a timeout keeps Ctrl-C prompt
                except queue.Empty:
                    continue
                if kind == "steps":
                    on_event("steps", news)
                    continue
                left -= 1
                submit_while_free()  # before saving: the freed worker need not wait for it
                with _ctrl_c_after():  # the chunk's runs are saved whole
                    on_result(_runs(news))
        finally:
            unfinished = [f for f in futures if not f.done()]
            if unfinished:
                client.cancel(unfinished, force=True)
            client.unsubscribe_topic(topic)

    def client(self) -> Client:
        """The connected client, made on first use (a local cluster is started then)."""
        if self._client is None:
            self._client = self._connect() if self.address else self._local()
        return self._client

    def _local(self) -> Client:
        self._settings.enter_context(dask.config.set(LOCAL_CLUSTER_SETTINGS))
        self._cluster = LocalCluster(
            n_workers=self.jobs,
            threads_per_worker=1,
            processes=True,
            # no memory limit, as local workers have none (the preflight checks memory): no
            # nanny polling each worker's memory every 100 ms
            memory_limit=0,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env=WORKER_ENV,
        )
        client = Client(self._cluster, set_as_default=False)
        try:
            client.register_plugin(IgnoreCtrlC())
        except BaseException:
            client.close()
            raise
        return client

    def _connect(self) -> Client:
        where = f"the Dask scheduler at {self.address}"
        try:
            client = Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise LrbenchError(
                f"cannot reach {where} within {self.connect_timeout:g} s ({_first_line(exc)})"
            ) from None
        try:
            self._check_workers(client, where)
        except BaseException:
            client.close()
            raise
        return client

    def _check_workers(self, client: Client, where: str) -> None:
        """At least one worker, and every worker runs this lrbench and this numpy."""
        try:
            client.wait_for_workers(1, timeout=self.connect_timeout)
        except TimeoutError:
            raise LrbenchError(
                f"{where} has no worker after {self.connect_timeout:g} s "
                f"(start one: dask worker {self.address})"
            ) from None
        try:
            found = client.run(worker_versions)
        except Exception as exc:  # a worker without lrbench cannot even load the function
            raise LrbenchError(
                f"{where}: a worker cannot run lrbench ({_first_line(exc)})"
            ) from None
        _check_versions(found, where)

    def close(self) -> None:
        """Disconnect; stop the local cluster if this executor started one."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        self._settings.close()


def _runs(future: Future) -> list[Finished]:
    try:
        return future.result()
    except CancelledError:
        raise LrbenchError(
            "the Dask cluster dropped a chunk (did the scheduler stop?); finished runs are kept: "
            "rerun to resume"
        ) from None
    except KilledWorker:
        raise LrbenchError(
            "a chunk failed: every Dask worker that trained it died (see the workers' logs; "
            "finished runs are kept: rerun to resume)"
        ) from None


@contextlib.contextmanager
def _ctrl_c_after() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then act on it as the handler in place would
    have (``KeyboardInterrupt`` by default). Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    handler = signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
    if caught and callable(handler):
        handler(*caught[0])


def _check_versions(found: dict[str, dict[str, str | None]], where: str) -> None:
    """Every worker must run the client's lrbench, numpy and scikit-learn (same bits)."""
    mine = worker_versions()
    for address, theirs in sorted(found.items()):
        differ = [f"{k} {theirs.get(k)} (here {v})" for k, v in mine.items() if theirs.get(k) != v]
        if differ:
            raise LrbenchError(
                f"{where}: worker {address} runs {', '.join(differ)}; install the same versions "
                "on every worker (the same bits need the same code)"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
