"""``lrbench sweep --check`` and ``lrbench batch`` end to end: every kind of expectation passing
and failing (exit codes, measured values in the output, checked against values computed here
from ``runs.csv`` by plain Python), bad input caught before any training, the combined table."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lrbench.cli.main import app

runner = CliRunner()

CONFIG = {
    "seeds": 2,
    "tasks": [{"dataset": "moons", "model": "mlp", "hidden": [8], "n_samples": 200}],
    "train": {"epochs": 3, "batch_size": 16},
    "lr": [0.03, 0.3, 30.0],
    "optimizers": ["momentum", "adam"],
    "schedules": ["constant"],
    "analysis": {"target": 0.6},
}


def write_config(folder: Path, name: str, **extra) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **CONFIG, **extra}))
    return path


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A config and its results folder (trained once; later sweeps resume)."""
    root = tmp_path_factory.mktemp("batch")
    cfg = write_config(root, "grid")
    out = root / "results"
    res = invoke("sweep", cfg, "--out", out, "--quiet", "--no-plots", "--jobs", "1")
    assert res.exit_code == 0, res.output
    return cfg, out


def reference(out: Path) -> dict[str, float]:
    """Each kind's value computed from runs.csv with plain Python (the README's definitions)."""
    with open(out / "runs.csv", newline="") as f:
        runs = list(csv.DictReader(f))
    cells: dict[tuple, list[dict]] = {}
    for r in runs:
        cells.setdefault((r["optimizer"], r["schedule"], float(r["lr"])), []).append(r)

    def best(values_of, pick):
        scored = []
        for key, seeds in cells.items():
            if any(s["status"] == "diverged" for s in seeds):
                continue  # not eligible while a cell without diverged seeds exists
            scored.append((pick(values_of(seeds)), key[2]))
        return min(scored)  # (score, lr): the smaller lr on ties

    loss, lr = best(lambda s: [float(x["final_val_loss"]) for x in s], statistics.fmean)
    steps, _ = best(lambda s: [float(x["steps_to_target"] or "inf") for x in s], statistics.median)
    diverged_lrs = {float(r["lr"]) for r in runs if r["status"] == "diverged"}
    return {
        "metric": loss,
        "best_lr": lr,
        "diverged_fraction": sum(r["status"] == "diverged" for r in runs) / len(runs),
        "max_stable_lr": max(float(r["lr"]) for r in runs if float(r["lr"]) not in diverged_lrs),
        "steps_to_target": steps,
    }


def expectations(ref: dict[str, float], passing: bool) -> list[dict]:
    """One expectation of each kind that holds (or, with passing False, that fails)."""
    m, lr, frac, stable, steps = (ref[k] for k in ("metric", "best_lr", "diverged_fraction",
                                                   "max_stable_lr", "steps_to_target"))  # fmt: skip
    if passing:
        return [
            {"what": "metric", "at_most": m * 1.5},
            {"what": "best_lr", "between": [lr / 2, lr * 2]},
            {"what": "diverged_fraction", "at_most": frac},
            {"what": "max_stable_lr", "at_least": stable},
            {"what": "steps_to_target", "at_most": steps},
        ]
    return [
        {"what": "metric", "at_most": m / 2},
        {"what": "best_lr", "at_least": lr * 2},
        {"what": "diverged_fraction", "at_most": frac / 2},
        {"what": "max_stable_lr", "at_least": stable * 2},
        {"what": "steps_to_target", "at_most": steps - 1},
    ]


def sweep_with(trained, items, *extra):
    cfg, out = trained
    return invoke("sweep", cfg, "--out", out, "--quiet", "--no-plots", "--jobs", "1",
                  "--set", f"expect={json.dumps(items)}", *extra)  # fmt: skip


def test_the_grid_diverges_somewhere_so_every_kind_is_meaningful(trained):
    ref = reference(trained[1])
    assert 0 < ref["diverged_fraction"] < 1
    assert math.isfinite(ref["steps_to_target"])


@pytest.mark.parametrize("passing", [True, False])
def test_every_kind_passes_or_fails_with_the_measured_value(trained, passing):
    ref = reference(trained[1])
    res = sweep_with(trained, expectations(ref, passing), "--check", "--format", "json")
    assert res.exit_code == (0 if passing else 1), res.output
    checks = json.loads(res.stdout)["checks"]  # only JSON on stdout
    got = {e["what"]: e for e in checks["expectations"]}
    assert set(got) == set(ref)
    for what, value in ref.items():
        assert got[what]["passed"] is passing, got[what]
        assert got[what]["value"] == pytest.approx(value, rel=1e-12), what
    # the t interval of the best cell's mean (two seeds: t(0.975, 1) = 12.7062)
    lo, hi = got["metric"]["interval"]
    assert (lo + hi) / 2 == pytest.approx(ref["metric"])
    assert got["best_lr"]["interval"] is None  # a grid point
    assert checks["failed"] == (0 if passing else 5)


def test_the_table_shows_every_measured_value_and_without_check_exits_0(trained):
    ref = reference(trained[1])
    res = sweep_with(trained, expectations(ref, False))
    assert res.exit_code == 0  # failed, but no --check
    assert res.stdout.count("FAIL") == 5
    for value in ref.values():
        assert f"{value:.6g}" in res.stdout
    assert "run with --check to fail" in res.stderr


def test_markdown_format_lists_the_failed_expectations(trained):
    ref = reference(trained[1])
    res = sweep_with(trained, expectations(ref, False)[:1], "--format", "markdown", "--check")
    assert res.exit_code == 1
    assert "### failed expectations" in res.stdout
    assert f"{ref['metric']:.6g}" in res.stdout


def test_a_filter_that_names_nothing_is_exit_2_before_training(tmp_path):
    cfg = write_config(tmp_path, "f", expect=[{"what": "metric", "optimizer": "rmsprop",
                                                "at_most": 1}])  # fmt: skip
    res = invoke("sweep", cfg, "--out", tmp_path / "out", "--quiet")
    assert res.exit_code == 2
    assert "expect[0].optimizer: got 'rmsprop'; expected an optimizer of this config: " \
        "momentum, adam" in res.stderr  # fmt: skip
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written
    res = invoke("batch", cfg, "--out-root", tmp_path / "out")
    assert res.exit_code == 2 and not (tmp_path / "out").exists()


def test_a_batch_whose_second_config_is_invalid_trains_nothing(tmp_path):
    write_config(tmp_path, "a1")
    write_config(tmp_path, "b2", optimizers=["adamm"])
    res = invoke("batch", tmp_path, "--out-root", tmp_path / "results")
    assert res.exit_code == 2
    assert "b2.yaml: optimizers[0]: got 'adamm'" in res.stderr
    assert "did you mean 'adam'?" in res.stderr
    assert not (tmp_path / "results").exists()


def test_bad_batch_input_is_exit_2(tmp_path):
    assert invoke("batch", tmp_path / "nope.yaml").exit_code == 2
    assert invoke("batch", tmp_path).exit_code == 2  # a folder without configs
    write_config(tmp_path, "same")
    other = tmp_path / "sub"
    other.mkdir()
    write_config(other, "same")
    res = invoke("batch", tmp_path, other, "--out-root", tmp_path / "r")
    assert res.exit_code == 2 and "config name 'same'" in res.stderr
    res = invoke("batch", tmp_path, "--tolerance", "five")
    assert res.exit_code == 2 and "--tolerance" in res.stderr
    res = invoke("batch", tmp_path, "--baseline", tmp_path / "missing")
    assert res.exit_code == 2 and "no such folder" in res.stderr
    assert not (tmp_path / "r").exists()


def test_batch_runs_each_config_into_its_folder_with_one_combined_table(tmp_path):
    cfgs = tmp_path / "cfgs"
    cfgs.mkdir()
    write_config(cfgs, "one", expect=[{"what": "diverged_fraction", "at_most": 1}])
    write_config(cfgs, "two", lr=[0.03, 0.3],
                 expect=[{"what": "max_stable_lr", "at_least": 10, "name": "stable to ten"}])  # fmt: skip
    out = tmp_path / "results"
    res = invoke("batch", cfgs, "--out-root", out, "--no-plots", "--jobs", "1", "--check")
    assert res.exit_code == 1, res.output
    for name in ("one", "two"):
        assert (out / name / "runs.csv").is_file()
    table = res.stdout
    assert "lrbench batch: 2 configs" in table
    assert "1 passed" in table and "1 of 1 failed" in table
    assert "stable to ten" in table and "FAIL" in table
    # JSON: one entry per config, only JSON on stdout; the second batch resumes everything
    res = invoke("batch", cfgs, "--out-root", out, "--no-plots", "--format", "json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert [c["name"] for c in data["configs"]] == ["one", "two"]
    assert [c["runs"] for c in data["configs"]] == [12, 8]
    assert [c["trained"] for c in data["configs"]] == [0, 0]
    assert data["passed"] is False and data["failed_expectations"] == 1
    assert data["configs"][0]["best"].startswith("moons/mlp[8]")


def test_sweep_of_two_files_still_merges_them(tmp_path):
    a = write_config(tmp_path, "a")
    b = tmp_path / "b.yaml"
    b.write_text("lr: [0.3]\n")
    res = invoke("sweep", a, b, "--out", tmp_path / "m", "--quiet", "--no-plots",
                 "--format", "json")  # fmt: skip
    assert res.exit_code == 0
    assert json.loads(res.stdout)["runs"] == 4  # B overrides A's lr: one sweep of 4 runs


def test_an_interrupted_batch_exits_130_and_keeps_finished_runs(tmp_path, monkeypatch):
    import lrbench.sweep.executor as executor

    write_config(tmp_path, "first")
    write_config(tmp_path, "second")
    real = executor.train_group
    calls = {"n": 0}

    def interrupted_in_the_second_config(group, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # each config is one lockstep group
            raise KeyboardInterrupt
        return real(group, **kw)

    monkeypatch.setattr(executor, "train_group", interrupted_in_the_second_config)
    junit = tmp_path / "junit.xml"
    res = invoke("batch", tmp_path, "--out-root", tmp_path / "r", "--jobs", "1", "--quiet",
                 "--no-plots", "--check", "--junit", junit)  # fmt: skip
    assert res.exit_code == 130
    assert "finished runs are kept" in res.stderr
    assert len(list((tmp_path / "r" / "first" / "runs").glob("*.json"))) == 12
    assert not list((tmp_path / "r" / "second").glob("runs/*.json"))
    assert not junit.exists()


ROOT = Path(__file__).parent.parent


def test_the_ci_configs_validate_each_with_real_expectations():
    from lrbench.config import load_config

    files = sorted((ROOT / "configs" / "ci").glob("*.yaml"))
    assert files
    for f in files:
        cfg = load_config([f])
        assert cfg.expect, f
        assert len(cfg.specs()) <= 64, f  # small grids: the whole batch takes seconds


def test_ci_and_the_example_workflow_run_the_batch_with_check_and_junit():
    command = "lrbench batch configs/ci/ --out-root results/ci --no-resume --check --junit"
    assert command in (ROOT / ".ci" / "run").read_text()
    assert command in (ROOT / "Makefile").read_text()
    flow = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    steps = flow["jobs"]["lr-grid"]["steps"]
    run = " ".join(s.get("run", "") for s in steps)
    assert "lrbench batch configs/ci/" in run and "--check" in run and "--junit" in run
    uploads = [s["with"]["path"] for s in steps if "upload-artifact" in s.get("uses", "")]
    assert uploads == ["results/", "results/junit.xml"]
