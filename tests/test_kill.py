"""SIGKILL at any moment leaves nothing a later sweep trusts, and resuming gives the same results.

Each sweep runs in a forked child that is killed with SIGKILL: at chosen points (half-way
through writing a run file, after a run file is complete but before its rename, between two
run files, while writing runs.csv, before the manifest) and at random moments with two worker
processes (the whole process group is killed). After every kill, every run file in ``runs/``
must be complete and belong to its spec; the sweep that finally completes must give the
reference's files: an uninterrupted sweep's ``runs.csv`` (run ids and values; the wall-clock
column aside), ``curves.csv`` and ``summary.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from lrbench.config import load_config
from lrbench.sweep import run as sweep_run
from lrbench.sweep.store import FORMAT_VERSION

ROOT = Path(__file__).parent.parent
SETS = ["tasks=[{dataset: iris, model: logreg}, {dataset: moons, model: mlp, hidden: [8], n_samples: 200}]",
        "lr=[0.1, 10.0]", "train.steps=40", "train.epochs=null"]  # fmt: skip


def config():
    return load_config(ROOT / "configs" / "ci.yaml", SETS)  # 2 tasks x 16 runs


def sweep(out: Path, jobs: int = 1) -> None:
    sweep_run.run(config(), out=out, jobs=jobs)


def forked(target: Callable[[], None], kill_after: float | None = None) -> int:
    """Run ``target`` in a forked child in its own process group; with ``kill_after``, SIGKILL
    the group that many seconds after the start. The child's wait status is returned."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setpgid(0, 0)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            target()
            code = 0
        finally:
            os._exit(code)  # never return into pytest
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    return status


def killed_at(out: Path, point: str, n: int = 1) -> Callable[[], None]:
    """A child that sweeps and SIGKILLs itself at ``point`` of its ``n``-th matching write.

    Every write goes through :func:`lrbench.files.atomic_write` (temporary file, then
    ``os.replace``), so the points are taken at ``os.replace``:
    ``mid-run-file``: the temporary run file cut to half its bytes, then killed;
    ``before-rename``: the run file complete under its temporary name, killed before renaming;
    ``after-run-file``: killed just after the rename; ``table:NAME``: the temporary NAME cut
    to half, killed; ``before:NAME``: killed before NAME is renamed.
    """

    def child() -> None:
        real = os.replace
        seen = {"n": 0}

        def replace(src, dst) -> None:
            dst = Path(dst)
            kind, _, name = point.partition(":")
            is_run = dst.parent.name == "runs"
            match = is_run if not name else dst.name == name
            if match:
                seen["n"] += 1
            if match and seen["n"] == n:
                if kind in ("mid-run-file", "table"):
                    size = os.path.getsize(src)
                    os.truncate(src, size // 2)
                if kind != "after-run-file":
                    os.kill(os.getpid(), signal.SIGKILL)
                real(src, dst)
                os.kill(os.getpid(), signal.SIGKILL)
            real(src, dst)

        os.replace = replace
        sweep(out)

    return child


def check_trusted(out: Path) -> int:
    """Every run file is whole JSON of its own spec (what a resume trusts); returns the count."""
    specs = {s.run_id: s for s in config().specs()}
    files = sorted((out / "runs").glob("*.json")) if (out / "runs").exists() else []
    for p in files:
        d = json.loads(p.read_text())
        assert d["format"] == FORMAT_VERSION and d["run_id"] == p.stem
        assert d["spec"] == specs[p.stem].to_dict()
    for name in ("runs.csv", "curves.csv", "summary.csv"):
        if (out / name).exists():
            rows = list(csv.reader(io.StringIO((out / name).read_text())))
            assert len({len(r) for r in rows}) == 1  # whole: every row as wide as the header
    return len(files)


def tables(out: Path) -> tuple[list[dict[str, str]], str, str]:
    rows = list(csv.DictReader(io.StringIO((out / "runs.csv").read_text())))
    for row in rows:
        row.pop("wall_s")
    return rows, (out / "curves.csv").read_text(), (out / "summary.csv").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple:
    out = tmp_path_factory.mktemp("ref") / "r"
    sweep(out)
    return tables(out)


def test_kills_at_chosen_points_leave_only_whole_files(tmp_path: Path, reference):
    out = tmp_path / "r"
    counts = []
    for point, n in [
        ("mid-run-file", 3),  # 2 run files whole, the 3rd half-written under its temporary name
        ("before-rename", 4),
        ("after-run-file", 9),
        ("table:runs.csv", 1),
        ("before:curves.csv", 1),
        ("before:manifest.json", 1),
    ]:
        status = forked(killed_at(out, point, n))
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, point
        counts.append(check_trusted(out))
    assert counts == [2, 5, 14, 32, 32, 32]  # each resumed sweep kept what the last one saved
    assert not (out / "manifest.json").exists()
    assert forked(lambda: sweep(out)) == 0
    assert tables(out) == reference


def test_kills_at_random_moments_with_two_workers(tmp_path: Path, reference):
    out = tmp_path / "r"
    rng = random.Random(23)
    for _ in range(3):
        status = forked(lambda: sweep(out, jobs=2), kill_after=rng.uniform(0.05, 0.6))
        assert status == 0 or os.WTERMSIG(status) == signal.SIGKILL
        check_trusted(out)
    assert forked(lambda: sweep(out, jobs=2)) == 0
    assert tables(out) == reference
