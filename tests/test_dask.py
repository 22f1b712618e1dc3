"""The Dask executor (``--executor dask``) on a ``LocalCluster`` of two worker processes on
127.0.0.1, started inside the tests by lrbench (no network beyond loopback), once for the module.

Reference: the local process executor. A run's numbers must not depend on where it trained, so
the run files (``wall_s`` aside, a wall-clock time), ``curves.csv`` and ``summary.csv`` must be
byte-identical to the local executor's; faults must leave every run present exactly once.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import load_config
from lrbench.sweep.executor import execute, plan
from lrbench.sweep.store import ResultsDir

ROOT = Path(__file__).parent.parent
needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="Dask's distributed is not installed (pip install 'lrbench[dask]'; make test does)",
)
runner = CliRunner()
SMALL = ["train.epochs=2", "lr=[0.01, 1.0]", "seeds=1"]  # 16 runs, 2 lockstep groups


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _environment_restored():
    """A local cluster's nannies set Dask's pre-spawn variables (``PYTHONHASHSEED``,
    ``MALLOC_TRIM_THRESHOLD_``...) in the process that starts them: keep them out of other
    tests."""
    saved = dict(os.environ)
    yield
    _restore_environment(saved)


@pytest.fixture(scope="module")
def local_cluster():
    """The executor of ``--executor dask`` without an address, started once for the module:
    lrbench's own LocalCluster of two worker processes (one thread each) on 127.0.0.1. The
    other tests reach it by its address, as ``--address`` would."""
    from lrbench.sweep.dask_executor import DaskExecutor

    saved = dict(os.environ)
    executor = DaskExecutor(None, 2)
    try:
        client = executor.client()
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        yield executor
    finally:
        executor.close()
        _restore_environment(saved)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sweep with the local executor, one process: the reference results folder."""
    from lrbench.sweep import run as sweep_mod

    folder = tmp_path_factory.mktemp("local")
    sweep_mod.run(_config(), out=folder, jobs=1)
    return folder


def _config():
    return load_config([ROOT / "configs" / "ci.yaml"], SMALL)


def _specs():
    return _config().specs()


def _run_files(folder: Path) -> dict[str, dict]:
    out = {}
    for p in sorted((folder / "runs").glob("*.json")):
        d = json.loads(p.read_text())
        d.pop("wall_s")  # wall-clock time: the one field allowed to differ
        out[p.name] = d
    return out


def _same_results(a: Path, b: Path) -> None:
    """Byte-identical ``curves.csv`` and ``summary.csv``; equal run files but ``wall_s``."""
    for name in ("curves.csv", "summary.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert len(_run_files(a)) == 16 and _run_files(a) == _run_files(b)


def _cli(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


@needs_dask
def test_a_sweep_on_a_local_cluster_equals_the_local_executor_bit_for_bit(
    tmp_path: Path, local_cluster, reference: Path
):
    """The sweep on lrbench's two-worker LocalCluster writes the local executor's files; the
    progress events count every step, and every run arrives once."""
    from lrbench.sweep import run as sweep_mod

    events = []
    out = tmp_path / "dask"
    outcome = sweep_mod.run(
        _config(),
        out=out,
        jobs=2,
        executor=local_cluster,
        on_event=lambda kind, payload: events.append((kind, payload)),
    )
    _same_results(reference, out)
    start = next(p for k, p in events if k == "start")
    assert sum(p for k, p in events if k == "steps") == start.steps
    arrived = [r.spec.run_id for k, p in events if k == "group" for r in p]
    assert sorted(arrived) == sorted(r.spec.run_id for r in outcome.results)


@needs_dask
def test_the_command_line_sends_a_sweep_to_a_scheduler_address(
    tmp_path: Path, local_cluster, reference: Path
):
    """``lrbench sweep --executor dask --address tcp://...``: the same files as locally."""
    sets = [x for s in SMALL for x in ("--set", s)]
    address = local_cluster.client().scheduler.address
    out = tmp_path / "dask"
    res = _cli("sweep", ROOT / "configs" / "ci.yaml", *sets, "--no-plots", "--quiet",
               "--out", out, "--jobs", "2", "--executor", "dask", "--address", address)  # fmt: skip
    assert res.exit_code == 0, res.output
    _same_results(reference, out)


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
def test_a_worker_killed_mid_chunk_is_replaced_and_every_run_arrives_once(
    tmp_path: Path, local_cluster, reference: Path
):
    from lrbench.sweep.dask_executor import DaskExecutor

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
    client = local_cluster.client()
    workers = set(client.scheduler_info()["workers"])
    with DaskExecutor(client.scheduler.address, 2, task=task) as ex:
        done = execute(the_plan, store, 2, on_event, ex)
    assert marker.exists() and workers - set(client.scheduler_info()["workers"])  # one died
    assert sorted(arrived) == sorted(s.run_id for s in specs)  # every run once
    assert sorted(done.results) == sorted(arrived)
    assert _run_files(store.root) == _run_files(reference)
    assert sum(steps) == the_plan.pending_steps  # the killed try reported nothing


@needs_dask
def test_an_interrupted_client_keeps_every_finished_run_and_resumes(
    tmp_path: Path, local_cluster, reference: Path
):
    """Ctrl-C in the client after the first chunk came back: that chunk's runs are on disk
    whole, the rest are not; the same sweep again trains only the rest."""
    from lrbench.sweep.dask_executor import DaskExecutor

    address = local_cluster.client().scheduler.address
    specs = _specs()
    store = ResultsDir(tmp_path / "dask")
    the_plan = plan(specs, store, 2)
    first: list[str] = []

    def interrupt_after_the_first_chunk(kind, payload):
        if kind == "group":
            first.extend(r.spec.run_id for r in payload)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), DaskExecutor(address, 2) as ex:
        execute(the_plan, store, 2, interrupt_after_the_first_chunk, ex)
    kept = _run_files(store.root)
    assert 0 < len(kept) < len(specs)
    assert sorted(kept) == sorted(f"{i}.json" for i in first)
    assert not list(store.runs.glob(".*"))  # no partial file
    resumed = plan(specs, store, 2)
    assert sorted(resumed.done) == sorted(first)
    with DaskExecutor(address, 2) as ex:
        execute(resumed, store, 2, None, ex)
    assert _run_files(store.root) == _run_files(reference)


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

    assert dask_executor.CONNECT_TIMEOUT_S == 10.0  # the bound the README gives
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_S", 1.0)  # a faster test
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


@needs_dask
def test_workers_with_other_versions_or_that_keep_dying_are_one_line_errors():
    """The checks behind two messages, on made-up answers: a worker whose numpy differs from
    this process's, and a chunk whose every worker died (``KilledWorker``)."""
    from distributed import KilledWorker

    from lrbench.errors import LrbenchError
    from lrbench.sweep.dask_executor import _check_versions, _runs, worker_versions

    mine = worker_versions()
    assert set(mine) == {"lrbench", "numpy", "scikit-learn"}
    _check_versions({"tcp://a:1": dict(mine), "tcp://b:2": dict(mine)}, "here")  # all equal
    other = {**mine, "numpy": "1.0.0"}
    with pytest.raises(LrbenchError, match=r"worker tcp://b:2 runs numpy 1\.0\.0 \(here "):
        _check_versions({"tcp://a:1": dict(mine), "tcp://b:2": other}, "here")

    class Died:
        def result(self):
            raise KilledWorker("train_on_worker-1", "tcp://b:2", 3)

    with pytest.raises(LrbenchError, match="every Dask worker that trained it died") as info:
        _runs(Died())
    assert "\n" not in str(info.value)


def _hold(chunk: tuple[str, float], topic: str) -> list[tuple[str, float, float]]:
    """A stand-in chunk task: sleep for the chunk's seconds; say when it ran (wall clock)."""
    start = time.time()
    time.sleep(chunk[1])
    return [(chunk[0], start, time.time())]


@needs_dask
def test_chunks_go_out_in_planned_order_one_per_free_worker(local_cluster):
    """Five chunks on two workers, the first long: each later one must start on the worker
    the short ones free, in the planned order, not wait behind the long one. (Given all at once, Dask places each task on a
    worker as it arrives and only work stealing moves it later: on W1 the last chunk waited
    1.2 s behind a busy worker.) Order and overlap are read from the tasks' own clocks."""
    from lrbench.sweep.dask_executor import DaskExecutor

    chunks = [("long", 3.0), ("a", 0.2), ("b", 0.2), ("c", 0.2), ("d", 0.2)]
    ran: list[tuple[str, float, float]] = []
    client = local_cluster.client()
    with DaskExecutor(client.scheduler.address, 2, task=_hold) as ex:
        ex.run(chunks, None, ran.extend, lambda kind, news: None)  # type: ignore[arg-type]
    when = {name: (start, end) for name, start, end in ran}
    started = [name for name, *_ in sorted(ran, key=lambda r: r[1])]
    assert set(started[:2]) == {"long", "a"} and started[2:] == ["b", "c", "d"]  # two at once
    for before, after in ("ab", "bc", "cd"):  # one at a time on the free worker ...
        assert when[after][0] >= when[before][1] - 0.05
    assert when["d"][1] < when["long"][1] - 1.0  # ... none behind the long chunk
