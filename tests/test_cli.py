"""The command line end to end: every command and format, bad input, resume, workers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.core import kernels

ROOT = Path(__file__).parent.parent
CI = str(ROOT / "configs" / "ci.yaml")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def small(out: Path, *extra: str) -> list[str]:
    """The CI grid made smaller still: 2 tasks x 2 optimizers x 2 schedules x 2 lrs x 2 seeds."""
    return ["sweep", CI, "--out", str(out), "--quiet", "--no-plots", "--set", "lr=[0.1, 10.0]", "--set", "train.epochs=2", *extra]  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_writes_every_file_with_documented_columns(tmp_path: Path):
    out = tmp_path / "ci"
    res = run(*small(out), "--jobs", "1")
    assert res.exit_code == 0, res.output
    assert "best configurations" in res.stdout
    assert "iris/logreg" in res.stdout
    assert "2/L" in res.stdout  # the stability bound of the logreg task
    for name in ("config.yaml", "manifest.json", "runs.csv", "curves.csv", "summary.csv"):
        assert (out / name).is_file(), name
    assert not (out / "plots").exists()  # --no-plots: the command writes no figure
    assert "summary.csv)" in res.stdout  # ... and the status line names none
    runs = read_csv(out / "runs.csv")
    assert len(runs) == 32
    need = {"run_id", "task", "dataset", "model", "optimizer", "schedule", "lr", "seed", "status",
            "steps_done", "final_train_loss", "final_val_loss", "best_val_loss",
            "final_val_accuracy", "best_val_accuracy", "steps_to_target", "wall_s"}  # fmt: skip
    assert need <= set(runs[0])
    assert "schedule.milestones" in runs[0]  # a non-default hyperparameter gets a column
    assert {r["status"] for r in runs} <= {"ok", "slow", "unstable", "diverged"}
    assert len(list((out / "runs").glob("*.json"))) == 32
    curves = read_csv(out / "curves.csv")
    assert list(curves[0]) == ["run_id", "step", "epoch", "lr", "train_loss", "val_loss", "val_accuracy", "full_train_loss"]  # fmt: skip
    assert {r["run_id"] for r in curves} == {r["run_id"] for r in runs}
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 16  # cells = runs / seeds
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"] == 32
    statuses = manifest["statuses"]
    assert sum(statuses.values()) == 32
    assert list(statuses) == [s for s in ("ok", "slow", "unstable", "diverged") if s in statuses]
    assert manifest["numpy"] and manifest["scikit_learn"] and manifest["command"]
    assert manifest["kernels"] == ("compiled" if kernels.compiled is not None else "numpy")


def test_json_format_is_the_only_stdout(tmp_path: Path):
    res = run(*small(tmp_path / "j"), "--format", "json", "--jobs", "1")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["runs"] == 32
    assert {t["task"] for t in data["tasks"]} == {"iris/logreg", "moons/mlp[16]"}
    assert data["tasks"][0]["stability_bound"] > 0
    row = data["tasks"][0]["rows"][0]
    assert {c["lr"] for c in row["cells"]} == {0.1, 10.0}


def test_markdown_format(tmp_path: Path):
    res = run(*small(tmp_path / "m"), "--format", "markdown", "--jobs", "1")
    assert res.exit_code == 0
    assert res.stdout.startswith("# lrbench sweep: ci")
    assert "| optimizer / schedule | 0.1 | 10 | best lr | good band |" in res.stdout
    assert "|---|---:|---:|---:|---:|" in res.stdout  # lrs, best lr and good band right-aligned
    assert res.stdout.count("**") == 2 * 8  # the best cell of each of the 8 rows is bold


def test_resume_skips_finished_runs_and_gives_the_same_results(tmp_path: Path):
    out = tmp_path / "r"
    assert run(*small(out), "--jobs", "1").exit_code == 0
    first = (out / "curves.csv").read_bytes()
    files = sorted((out / "runs").glob("*.json"))
    for p in files[:5]:
        p.unlink()
    res = run(*small(out), "--jobs", "1", "--format", "json")
    data = json.loads(res.stdout)
    assert data["resumed"] == 27
    assert data["trained"] == 5
    assert (out / "curves.csv").read_bytes() == first
    res = run(*small(out), "--jobs", "1", "--format", "json", "--no-resume")
    assert json.loads(res.stdout)["trained"] == 32


def test_interrupted_sweep_keeps_finished_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import lrbench.sweep.executor as executor

    real = executor.train_group
    calls = {"n": 0}

    def flaky(group, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(group, **kw)

    monkeypatch.setattr(executor, "train_group", flaky)
    out = tmp_path / "i"
    res = runner.invoke(app, small(out, "--jobs", "1"))
    assert res.exit_code == 130
    assert "finished runs are kept" in res.stderr
    kept = len(list((out / "runs").glob("*.json")))
    assert 0 < kept < 32
    monkeypatch.setattr(executor, "train_group", real)
    res = run(*small(out), "--jobs", "1", "--format", "json")
    assert json.loads(res.stdout)["resumed"] == kept


def test_jobs_1_and_2_give_identical_results(tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(*small(a), "--jobs", "1").exit_code == 0
    assert run(*small(b), "--jobs", "2").exit_code == 0
    assert (a / "curves.csv").read_bytes() == (b / "curves.csv").read_bytes()
    assert (a / "summary.csv").read_bytes() == (b / "summary.csv").read_bytes()
    for p in (a / "runs").glob("*.json"):
        x, y = json.loads(p.read_text()), json.loads((b / "runs" / p.name).read_text())
        x.pop("wall_s"), y.pop("wall_s")
        assert x == y


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "optimizers=[adamm]"], "optimizers[0]: got 'adamm'"),
        (
            ["--set", "train.batch_size=0"],
            "train.batch_size: got 0; expected an integer >= 1 or full",
        ),
        (["--set", "lr=[-0.1]"], "lr[0]: got -0.1"),
        (["--set", "schedulez=[cosine]"], "did you mean 'schedules'?"),
        (["--set", "tasks.0.dataset=nope.csv", "--set", "tasks.0.target=y"], "nope.csv"),
        (["--set", "train.epochs"], "expected key.path=value"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, args, message):
    res = runner.invoke(app, ["sweep", CI, "--out", str(tmp_path / "x"), *args])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output


def test_bad_files_and_flags_exit_2(tmp_path: Path):
    res = runner.invoke(app, ["sweep", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2
    assert "not found" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [\n")
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    res = runner.invoke(app, ["sweep", CI, "--jobs", "0"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["sweep", CI, "--format", "yaml"])
    assert res.exit_code == 2


def test_validate_prints_grid_and_groups():
    res = run("validate", str(ROOT / "configs" / "w1.yaml"))
    assert res.exit_code == 0
    assert "126 runs" in res.stdout
    assert "2 lockstep groups" in res.stdout
    # steps computed with shared prefixes, by hand: for each optimizer and lr, constant 900 +
    # cosine 899 (forks after one step) + step 450 (follows constant until its first milestone,
    # 50 % of 900) = 2,249; x 21 = 47,229 of 63 x 900 = 56,700 (83 %) in each group
    assert res.stdout.count("47,229 (83%)") == 2


def test_init_writes_a_config_that_validates(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    assert run("init", str(path)).exit_code == 0
    assert run("validate", str(path)).exit_code == 0
    res = runner.invoke(app, ["init", str(path)])
    assert res.exit_code == 2  # no silent overwrite
    assert run("init", str(path), "--force").exit_code == 0


def test_list_shows_every_registry_with_defaults():
    res = run("list")
    assert res.exit_code == 0
    for word in (
        "adamw",
        "cosine_restarts",
        "onecycle",
        "plateau",
        "mlp",
        "breast_cancer",
        "momentum_decay",
    ):
        assert word in res.stdout
    res = run("list", "schedules")
    assert "adamw" not in res.stdout


def test_schedule_command_csv_matches_the_library():
    from lrbench.core.schedules import lr_table, resolve_schedule

    res = run(
        "schedule", "cosine", "--steps", "10", "--lr", "0.5", "--set", "warmup=2", "--format", "csv"
    )
    assert res.exit_code == 0
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "step,lr"
    expected = lr_table("cosine", resolve_schedule("cosine", {"warmup": 2}, "s"), 0.5, 10)
    assert [float(x.split(",")[1]) for x in lines[1:]] == list(expected)
    res = run(
        "schedule", "onecycle", "--steps", "10", "--set", "cycle_momentum=true", "--format", "csv"
    )
    assert res.stdout.splitlines()[0] == "step,lr,momentum"
    res = runner.invoke(app, ["schedule", "cosinus", "--steps", "10"])
    assert res.exit_code == 2
    assert "did you mean 'cosine'" in res.stderr
    assert run("schedule", "step", "--steps", "8").exit_code == 0


def test_python_dash_m_and_help():
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "lrbench", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0
    assert "sweep" in res.stdout


@pytest.mark.parametrize(
    ("argv", "code", "stream", "text"),
    [
        (["list"], 0, "stdout", "optimizers"),
        (["validate", "no-such-config.yaml"], 2, "stderr", "config file not found"),
        (["sweep", "--jobs", "0"], 2, "stderr", "--jobs"),
    ],
)
def test_the_command_flushes_its_output_and_keeps_its_exit_code(argv, code, stream, text):
    """``python -m lrbench`` as a process: piped output, not line-buffered, arrives whole, and the
    exit code is the CLI's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-m", "lrbench", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == code
    assert text in getattr(done, stream)
    if code == 0:
        assert done.stdout.rstrip().endswith("┘")  # the last table is complete


def test_sklearn_version_is_the_installed_one():
    import sklearn

    from lrbench.core.datacache import sklearn_version

    assert (
        sklearn_version() == sklearn.__version__
    )  # the data cache's key: a wrong one is a wrong hit
