"""The one place where a sweep's executor is chosen: local worker processes (the default) or a
Dask cluster (:mod:`lrbench.sweep.dask_executor`, the optional ``lrbench[dask]`` extra)."""

from __future__ import annotations

import importlib.util

from lrbench.errors import LrbenchError
from lrbench.sweep.executor import Executor, LocalExecutor

EXECUTORS = ("local", "dask")
DASK_MISSING = "the dask executor needs Dask's distributed package: pip install 'lrbench[dask]'"


def open_executor(kind: str = "local", jobs: int = 1, address: str | None = None) -> Executor:
    """The executor named ``kind`` (one of :data:`EXECUTORS`): ``local``, ``jobs`` worker
    processes; ``dask``, the Dask scheduler at ``address``, or with none a local cluster of
    ``jobs`` worker processes. Nothing connects or starts here: the first chunk to train does
    it, so a sweep with nothing left to train starts nothing."""
    if kind == "local":
        if address is not None:
            raise LrbenchError(f"address {address!r} is for the dask executor (--executor dask)")
        return LocalExecutor(jobs)
    if kind == "dask":
        if importlib.util.find_spec("distributed") is None:
            raise LrbenchError(DASK_MISSING)
        from lrbench.sweep.dask_executor import DaskExecutor  # distributed: optional, ~1 s

        return DaskExecutor(address, jobs)
    raise LrbenchError(f"executor {kind!r}: expected one of {', '.join(EXECUTORS)}")
