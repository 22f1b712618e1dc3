"""The Dask executor (``--executor dask``) on a ``LocalCluster`` of two worker processes on
127.0.0.1, started inside the tests (no network beyond loopback).

Reference: the local process executor. A run's numbers must not depend on where it trained, so
the run files (``wall_s`` aside, a wall-clock time), ``curves.csv`` and ``summary.csv`` must be
byte-identical to the local executor's; faults must leave every run present exactly once.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import load_config
from lrbench.sweep.executor import LocalExecutor, execute, plan
from lrbench.sweep.store import ResultsDir

ROOT = Path(__file__).parent.parent
needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="Dask's distributed is not installed (pip install 'lrbench[dask]'; make test does)",
)
runner = CliRunner()
SMALL = ["train.epochs=2", "lr=[0.01, 1.0]", "seeds=1"]  # 16 runs, 2 lockstep groups


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, listening on loopback only."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as c:
        yield c


@pytest.fixture(autouse=True)
def _environment_restored():
    """A local cluster's nannies set Dask's pre-spawn variables (``PYTHONHASHSEED``,
    ``MALLOC_TRIM_THRESHOLD_``...) in the process that starts them: keep them out of other
    tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def _specs():
    return load_config([ROOT / "configs" / "ci.yaml"], SMALL).specs()


def _run_files(folder: Path) -> dict[str, dict]:
    out = {}
    for p in sorted((folder / "runs").glob("*.json")):
        d = json.loads(p.read_text())
        d.pop("wall_s")  # wall-clock time: the one field allowed to differ
        out[p.name] = d
    return out


def _local_reference(folder: Path) -> dict[str, dict]:
    specs = _specs()
    store = ResultsDir(folder)
    execute(plan(specs, store, 1), store, executor=LocalExecutor(1))
    return _run_files(folder)


def _cli(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


@needs_dask
def test_a_sweep_on_a_local_cluster_equals_the_local_executor_bit_for_bit(tmp_path: Path):
    """``lrbench sweep --executor dask --jobs 2`` (lrbench starts a LocalCluster of two worker
    processes) writes the same files as ``--jobs 1`` in this process."""
    sets = [x for s in SMALL for x in ("--set", s)]
    common = [ROOT / "configs" / "ci.yaml", *sets, "--no-plots", "--quiet"]
    a, b = tmp_path / "local", tmp_path / "dask"
    assert _cli("sweep", *common, "--out", a, "--jobs", "1").exit_code == 0
    res = _cli("sweep", *common, "--out", b, "--jobs", "2", "--executor", "dask")
    assert res.exit_code == 0, res.output
    for name in ("curves.csv", "summary.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert len(_run_files(a)) == 16 and _run_files(a) == _run_files(b)


def die_once_then_train(chunk, topic, marker: str):
    """A chunk task whose first attempt anywhere kills its worker process after the first epoch
    of training (mid-chunk); every later attempt trains normally. Workers import this module
    (tests/ is on the path they inherit)."""
    from lrbench.core.engine import train_group
    from lrbench.sweep.dask_executor import train_on_worker

    def die(n: int) -> None:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # the first caller only
        except FileExistsError:
            return
        os._exit(1)

    if not os.path.exists(marker):
        train_group(chunk, progress=die)
    return train_on_worker(chunk, topic)


@needs_dask
def test_a_worker_killed_mid_chunk_is_replaced_and_every_run_arrives_once(tmp_path: Path, cluster):
    from lrbench.sweep.dask_executor import DaskExecutor

    reference = _local_reference(tmp_path / "local")
    specs = _specs()
    store = ResultsDir(tmp_path / "dask")
    the_plan = plan(specs, store, 2)
    assert len(the_plan.groups) >= 2
    marker = tmp_path / "a-worker-died"
    arrived, steps = [], []

    def on_event(kind, payload):
        if kind == "group":
            arrived.extend(r.spec.run_id for r in payload)
        elif kind == "steps":
            steps.append(payload)

    task = functools.partial(die_once_then_train, marker=str(marker))
    workers = set(cluster.scheduler.workers)
    with DaskExecutor(cluster.scheduler_address, 2, task=task) as ex:
        done = execute(the_plan, store, 2, on_event, ex)
    assert marker.exists() and workers - set(cluster.scheduler.workers)  # a worker died
    assert sorted(arrived) == sorted(s.run_id for s in specs)  # every run once
    assert sorted(done.results) == sorted(arrived)
    assert _run_files(store.root) == reference
    assert sum(steps) == the_plan.pending_steps  # the killed try reported nothing


@needs_dask
def test_an_interrupted_client_keeps_every_finished_run_and_resumes(tmp_path: Path, cluster):
    """Ctrl-C in the client after the first chunk came back: that chunk's runs are on disk
    whole, the rest are not; the same sweep again trains only the rest."""
    from lrbench.sweep.dask_executor import DaskExecutor

    reference = _local_reference(tmp_path / "local")
    specs = _specs()
    store = ResultsDir(tmp_path / "dask")
    the_plan = plan(specs, store, 2)
    first: list[str] = []

    def interrupt_after_the_first_chunk(kind, payload):
        if kind == "group":
            first.extend(r.spec.run_id for r in payload)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), DaskExecutor(cluster.scheduler_address, 2) as ex:
        execute(the_plan, store, 2, interrupt_after_the_first_chunk, ex)
    kept = _run_files(store.root)
    assert 0 < len(kept) < len(specs)
    assert sorted(kept) == sorted(f"{i}.json" for i in first)
    assert not list(store.runs.glob(".*"))  # no partial file
    resumed = plan(specs, store, 2)
    assert sorted(resumed.done) == sorted(first)
    with DaskExecutor(cluster.scheduler_address, 2) as ex:
        execute(resumed, store, 2, None, ex)
    assert _run_files(store.root) == reference


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_dask
@pytest.mark.parametrize("command", ["sweep", "batch"])
def test_an_unreachable_scheduler_is_one_line_and_exit_2_in_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
):
    from lrbench.sweep import dask_executor

    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    out = ["--out", tmp_path / "r"] if command == "sweep" else ["--out-root", tmp_path / "r"]
    config = ROOT / "configs" / "ci.yaml"
    start = time.monotonic()
    res = _cli(command, config, *out, "--quiet", "--executor", "dask", "--address", address)
    elapsed = time.monotonic() - start
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot reach the Dask scheduler at {address}" in lines[0]
    assert "within 1 s" in lines[0]
    assert elapsed < 1.0 + 6.0  # the timeout, plus loading and planning


def test_without_distributed_the_dask_executor_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without it finds
    res = _cli("sweep", ROOT / "configs" / "ci.yaml", "--out", tmp_path, "--executor", "dask")
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "error: the dask executor needs Dask's distributed package: pip install 'lrbench[dask]'"
    ]
    assert not (tmp_path / "runs").exists()  # nothing trained
    res = _cli("sweep", "--out", tmp_path, "--address", "tcp://127.0.0.1:8786")
    assert res.exit_code == 2 and "is for the dask executor" in res.stderr


@needs_dask
def test_the_workers_of_a_local_cluster_ask_for_one_thread_as_the_command_does():
    """The variables a local cluster's workers get are those ``lrbench/__main__.py`` sets."""
    from lrbench.__main__ import THREAD_VARIABLES
    from lrbench.sweep.dask_executor import WORKER_ENV

    assert WORKER_ENV == {name: "1" for name in THREAD_VARIABLES}
