"""Faults a long sweep meets: a second sweep on its folder, another experiment's folder, a full
or read-only disk, a grid too large for the machine, and NaN or overflow inside one
configuration of a lockstep group.

References: a sweep that met no fault (its runs.csv, wall-clock column aside), and for the
numerical faults the same group trained without the planted fault.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.core.memory import machine_memory
from lrbench.sweep.lock import LOCK_NAME

ROOT = Path(__file__).parent.parent
CI = str(ROOT / "configs" / "ci.yaml")
runner = CliRunner()
# 1 task x 2 optimizers x 2 schedules x 2 lrs x 2 seeds = 16 runs of 6 steps: a fraction of a second
TINY = ["--set", "tasks=[{dataset: iris, model: logreg}]", "--set", "lr=[0.1, 10.0]",
        "--set", "train.steps=6", "--set", "train.epochs=null"]  # fmt: skip


def sweep(out: Path, *extra: str, jobs: str = "1"):
    return runner.invoke(
        app, ["sweep", CI, "--out", str(out), "-q", "--no-plots", "-j", jobs, *TINY, *extra]
    )


def runs_csv(folder: Path) -> list[dict[str, str]]:
    """runs.csv without its wall-clock column."""
    rows = list(csv.DictReader(io.StringIO((folder / "runs.csv").read_text())))
    for row in rows:
        row.pop("wall_s")
    return rows


def run_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "runs").glob("*.json"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("ref") / "r"
    res = sweep(out)
    assert res.exit_code == 0, res.output
    return runs_csv(out)


# --- one sweep at a time, one experiment a folder -----------------------------------------


def test_a_second_sweep_on_a_locked_folder_is_refused(tmp_path: Path, reference):
    out = tmp_path / "r"
    out.mkdir()
    # another process holds the folder's lock, as a running sweep does
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from filelock import FileLock; "
         f"lock = FileLock({str(out / LOCK_NAME)!r}, timeout=0); lock.acquire(); "
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        res = sweep(out)
        assert res.exit_code == 2
        assert res.stderr.strip() == (
            f"error: {out} is in use by another lrbench sweep (it holds {out / LOCK_NAME}); "
            "wait for it to finish, or give this sweep another --out"
        )
        assert not (out / "runs").exists() and not (out / "config.yaml").exists()
    finally:
        holder.stdin.close()  # the holder ends; the kernel releases its lock
        holder.wait(10)
        holder.stdout.close()
    res = sweep(out)
    assert res.exit_code == 0, res.output
    assert runs_csv(out) == reference


def test_a_killed_holder_leaves_no_lock(tmp_path: Path):
    out = tmp_path / "r"
    out.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", "import time; from filelock import FileLock; "
         f"FileLock({str(out / LOCK_NAME)!r}, timeout=0).acquire(); print('held', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    ) as holder:  # fmt: skip
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    assert sweep(out).exit_code == 0


def test_a_folder_of_another_config_is_never_mixed(tmp_path: Path, reference):
    out = tmp_path / "r"
    assert sweep(out).exit_code == 0
    before = run_files(out)
    res = sweep(out, "--set", "name=other")
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: {out} holds the results of config 'ci', not of 'other'; "
        "give this sweep another --out (or remove that folder)"
    )
    assert run_files(out) == before and runs_csv(out) == reference
    # --no-resume would delete the other experiment's runs: refused the same way
    assert sweep(out, "--set", "name=other", "--no-resume").exit_code == 2
    assert run_files(out) == before


def test_a_changed_grid_of_the_same_config_reuses_only_identical_runs(tmp_path: Path, reference):
    out = tmp_path / "r"
    assert sweep(out).exit_code == 0
    res = sweep(out, "--set", "lr=[0.1, 1.0]", "--format", "json")
    summary = json.loads(res.stdout)
    assert (summary["resumed"], summary["trained"]) == (8, 8)  # lr 0.1 reused, lr 1.0 trained
    rows = runs_csv(out)
    assert sorted({r["lr"] for r in rows}) == ["0.1", "1.0"] and len(rows) == 16
    # a reused run has the reference's numbers (its status may change: it is relative to the
    # other learning rates of its row)
    ref = {r["run_id"]: r for r in reference}
    reused = [r for r in rows if r["lr"] == "0.1"]
    assert len(reused) == 8
    for r in reused:
        assert {**r, "status": ""} == {**ref[r["run_id"]], "status": ""}
    assert len(run_files(out)) == 24  # the lr 10.0 runs stay on disk, outside the tables


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path: Path):
    out = tmp_path / "r"
    (out / "runs").mkdir(parents=True)
    stale = [out / "runs" / ".0123456789ab.json.x1y2z3.tmp", out / ".runs.csv.a1b2.tmp"]
    for p in stale:
        p.write_text('{"half": ')
    assert sweep(out).exit_code == 0
    assert not any(p.exists() for p in stale)


# --- unwritable folders and full disks --------------------------------------------------------


def test_a_results_folder_that_cannot_be_created(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    res = sweep(tmp_path / "file" / "r")
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: cannot write to the results folder {tmp_path / 'file' / 'r'}: Not a directory"
    )


@pytest.mark.parametrize(
    ("code", "target", "reason"),
    [(errno.ENOSPC, "runs.json", "No space left on device"),
     (errno.EROFS, "runs.json", "Read-only file system"),
     (errno.ENOSPC, "curves.csv", "No space left on device"),
     (errno.EACCES, "manifest.json", "Permission denied")],
)  # fmt: skip
def test_a_failed_write_is_one_line_and_loses_no_finished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference, code, target, reason
):
    import lrbench.sweep.store as store

    real = store.atomic_write
    written: list[str] = []

    def failing(path: Path, text: str) -> None:
        if target == "runs.json" and path.parent.name == "runs" and len(written) == 5:
            raise OSError(code, os.strerror(code), str(path.parent / f".{path.name}.q1w2e3.tmp"))
        if path.name == target:
            raise OSError(code, os.strerror(code), str(path.parent / f".{path.name}.q1w2e3.tmp"))
        real(path, text)
        if path.parent.name == "runs":
            written.append(path.name)

    monkeypatch.setattr(store, "atomic_write", failing)
    out = tmp_path / "r"
    res = sweep(out)
    assert res.exit_code == 2 and "Traceback" not in res.output
    line = res.stderr.strip()
    where = f"{out / 'runs'}/" if target == "runs.json" else f"{out / target}: "
    assert line.startswith(f"error: cannot write {where}") and line.endswith(
        f": {reason} (files written before are kept; a sweep resumes from its finished runs)"
    )
    kept = run_files(out)
    assert sorted(kept) == sorted(written)  # every file written is whole and still there
    assert not list((out / "runs").glob(".*.tmp"))
    monkeypatch.setattr(store, "atomic_write", real)
    res = sweep(out, "--format", "json")
    assert json.loads(res.stdout)["resumed"] == len(written)
    assert runs_csv(out) == reference


def test_a_file_size_limit_is_a_clear_error(tmp_path: Path, reference):
    """A real write failure: RLIMIT_FSIZE in a child process (SIGXFSZ ignored, so the write
    fails with EFBIG, as a full disk fails with ENOSPC). Run files (~1 KB) fit, runs.csv
    (~4 KB) does not."""
    out = tmp_path / "r"

    def limit() -> None:  # runs in the child before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    cmd = [sys.executable, "-m", "lrbench", "sweep", CI, "--out", str(out), "-q", "--no-plots", "-j", "1", *TINY]  # fmt: skip
    done = subprocess.run(cmd, preexec_fn=limit, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: cannot write {out / 'runs.csv'}: File too large (files written before are "
        "kept; a sweep resumes from its finished runs)"
    ]
    assert len(run_files(out)) == 16
    res = sweep(out, "--format", "json")
    assert json.loads(res.stdout)["trained"] == 0
    assert runs_csv(out) == reference


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 64 KiB tmpfs (needs root and mount; skipped where it cannot be mounted)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_a_clear_error_and_the_sweep_resumes(small_disk: Path, reference):
    out = small_disk / "r"
    res = sweep(out, "--set", "train.steps=60")
    assert res.exit_code == 2 and "No space left on device" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    kept = run_files(out)
    assert all(json.loads(text)["format"] == 1 for text in kept.values())  # whole files only
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    res = sweep(out, "--set", "train.steps=60", "--format", "json")
    assert res.exit_code == 0 and json.loads(res.stdout)["resumed"] == len(kept)
    # a read-only disk: refused when the lock is taken, nothing touched
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    res = sweep(out, "--set", "train.steps=60")
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"error: cannot write to the results folder {out}: Read-only file system"
    )


# --- memory -----------------------------------------------------------------------------------


def test_validate_prints_the_memory_estimate():
    res = runner.invoke(app, ["validate", str(ROOT / "configs" / "w1.yaml")])
    assert res.exit_code == 0
    last = res.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"planned memory: [\d.,]+ [KMG]iB \(training [\d.,]+ [KMG]iB in \d+ workers?, results "
        r"[\d.,]+ [KMG]iB, data [\d.,]+ [KMG]iB, planning [\d.,]+ [KMG]iB\); this machine has "
        r"[\d.,]+ [KMGT]iB",
        last,
    ), last


def test_machine_memory_is_at_most_the_physical_memory():
    # reference: MemTotal of /proc/meminfo (kB)
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo")
    total = next(int(line.split()[1]) * 1024 for line in meminfo.read_text().splitlines()
                 if line.startswith("MemTotal:"))  # fmt: skip
    assert 0 < machine_memory() <= total * 1.01


@pytest.mark.parametrize("command", ["sweep", "validate"])
def test_a_grid_larger_than_the_machine_is_refused_before_training(tmp_path: Path, command):
    out = tmp_path / "r"
    args = [command, CI, *TINY, "--set", f"train.steps={10**11}"]
    res = runner.invoke(app, args + (["--out", str(out), "-q"] if command == "sweep" else []))
    assert res.exit_code == 2 and "Traceback" not in res.output
    line = res.stderr.strip()
    assert line.startswith(
        "error: the grid needs more memory than this machine has: planned memory: "
    )
    assert re.search(r"planned memory: [\d,]+ TiB \(training ", line)
    assert not (out / "runs").exists()


MEASURE = """
import json, sys
from pathlib import Path
from lrbench.config import load_config
from lrbench.sweep import run
from lrbench.sweep.preflight import preflight
from lrbench.sweep.theory import task_bounds

def status(key):  # kB lines of /proc/self/status
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key))
    return int(line.split()[1]) * 1024

cfg = load_config(sys.argv[1], sys.argv[3:])
memory = preflight(cfg.specs(), 1)
task_bounds(cfg.tasks)  # the bound's work before the measured part
before = status("VmRSS:")
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
run.run(cfg, out=sys.argv[2], jobs=1)
print(json.dumps({"estimate": memory.total, "used": status("VmHWM:") - before}))
"""


def test_the_estimate_bounds_the_memory_a_sweep_uses(tmp_path: Path):
    # reference: the peak resident memory the sweep adds to its process (Linux VmHWM, reset
    # before the sweep), on a grid whose records and curves dominate (14 runs x 1000 steps)
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc")
    sets = ["tasks=[{dataset: iris, model: logreg}]", "train.steps=1000", "train.epochs=null", "seeds=1",
            "train.batch_size=full", "lr=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]",
            "optimizers=[sgd, adam]", "schedules=[constant]"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, CI, str(tmp_path / "r"), *sets],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    m = json.loads(done.stdout)
    assert m["used"] > 5 * 2**20  # the grid does use memory worth measuring
    assert m["used"] <= m["estimate"] <= 6 * m["used"], m


def test_a_failed_write_in_a_worker_is_one_line(tmp_path: Path, monkeypatch, reference):
    """With two workers the run files are written in the workers: the failure crosses the
    process boundary, the other worker is stopped, and no temporary file is left behind."""
    import lrbench.sweep.store as store

    real = store.atomic_write

    def failing(path: Path, text: str) -> None:
        if path.parent.name == "runs" and path.stem.startswith(("0", "1", "2", "3")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(store, "atomic_write", failing)  # inherited by the forked workers
    out = tmp_path / "r"
    two_tasks = "tasks=[{dataset: iris, model: logreg}, {dataset: iris, model: mlp, hidden: [4]}]"
    res = sweep(out, "--set", two_tasks, jobs="2")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.strip().startswith(f"error: cannot write {out / 'runs'}/")
    assert "No space left on device" in res.stderr
    assert not list((out / "runs").glob(".*.tmp"))
    assert all(json.loads(t)["format"] == 1 for t in run_files(out).values())
    monkeypatch.setattr(store, "atomic_write", real)
    assert sweep(out).exit_code == 0
