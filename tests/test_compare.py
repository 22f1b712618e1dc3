"""``lrbench compare`` and ``--baseline``: identical results, planted regressions (a worse best
metric, a run in the good band gone unstable), the tolerance and the seeds' noise, results of
different configs, and a baseline kept as its three small files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.sweep.compare import Tolerance, compare, parse_tolerance

runner = CliRunner()
SMALL = ("runs.csv", "manifest.json", "summary.csv")
CONFIG = {
    "name": "cmp",
    "seeds": 2,
    "tasks": [{"dataset": "iris", "model": "logreg"}],
    "train": {"epochs": 3, "batch_size": 16},
    "lr": [0.01, 0.1, 1.0],
    "optimizers": ["sgd", "adam"],
    "schedules": ["constant"],
}
ROW = ("iris/logreg", "adam", "constant")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cmp")
    cfg = root / "cmp.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    res = invoke("sweep", cfg, "--out", root / "cmp", "--quiet", "--no-plots", "--jobs", "1")
    assert res.exit_code == 0, res.output
    return root / "cmp"


def copy_small(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in SMALL:
        shutil.copy(src / name, dst / name)
    return dst


def edit_runs(folder: Path, change) -> None:
    """Rewrite runs.csv with ``change(row)`` applied to every row (a dict of strings)."""
    path = folder / "runs.csv"
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    for row in rows:
        change(row)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def best_of(folder: Path, row=ROW) -> dict[str, str]:
    with open(folder / "summary.csv", newline="") as f:
        for s in csv.DictReader(f):
            if (s["task"], s["optimizer"], s["schedule"]) == row and s["is_best"] == "true":
                return s
    raise AssertionError("no best cell")


def shift_row(row=ROW, by: float = 0.0, seed_by: dict[str, float] | None = None):
    def change(r):
        if (r["task"], r["optimizer"], r["schedule"]) == row and r["final_val_loss"]:
            extra = (seed_by or {}).get(r["seed"], 0.0)
            r["final_val_loss"] = repr(float(r["final_val_loss"]) + by + extra)

    return change


def test_identical_results_exit_0(results):
    res = invoke("compare", results, results)
    assert res.exit_code == 0, res.output
    assert "no regression" in res.stdout
    c = compare(results, results)
    assert not c.regressions and not c.only_baseline and not c.only_new
    assert all(r.delta == 0 and r.base_lr == r.new_lr for r in c.rows)


def test_a_planted_regression_exits_1_and_names_the_row(results, tmp_path):
    new = copy_small(results, tmp_path / "new")
    edit_runs(new, shift_row(by=0.2))  # every adam cell 0.2 worse
    res = invoke("compare", results, new)
    assert res.exit_code == 1
    assert "1 regression: iris/logreg adam constant" in res.stdout
    data = json.loads(invoke("compare", results, new, "--format", "json").stdout)
    bad = [r for r in data["rows"] if r["regression"]]
    assert [(r["task"], r["optimizer"], r["schedule"]) for r in bad] == [ROW]
    base = float(best_of(results)["mean"])
    assert bad[0]["base_value"] == pytest.approx(base)
    assert bad[0]["delta"] == pytest.approx(0.2)
    assert bad[0]["noise"] == pytest.approx(0.0, abs=1e-12)  # the same shift on both seeds
    assert "best final_val_loss worse by 0.2" in bad[0]["reasons"][0]
    md = invoke("compare", results, new, "--format", "markdown").stdout
    assert md.startswith("## lrbench compare: cmp") and "REGRESSION" in md


def test_tolerance_relative_and_absolute(results, tmp_path):
    base = float(best_of(results)["mean"])
    new = copy_small(results, tmp_path / "new")
    edit_runs(new, shift_row(by=0.03 * base))  # 3 % worse: inside the default 5 %
    assert invoke("compare", results, new).exit_code == 0
    assert invoke("compare", results, new, "--tolerance", "1%").exit_code == 1
    assert invoke("compare", results, new, "--tolerance", "1%,0.5").exit_code == 0
    assert invoke("compare", results, new, "--tolerance", f"{0.01 * base}").exit_code == 1
    assert invoke("compare", results, new, "--tolerance", "1%%").exit_code == 2


def test_parse_tolerance():
    assert parse_tolerance("5%") == Tolerance(0.05, None)
    assert parse_tolerance("0.002") == Tolerance(None, 0.002)
    assert parse_tolerance(" 2% , 1e-3 ") == Tolerance(0.02, 0.001)
    assert Tolerance(0.05, 0.001).allowed(0.01, "final_val_loss") == 0.001
    assert Tolerance(0.05, 0.001).allowed(-2.0, "final_val_loss") == pytest.approx(0.1)
    # the default is the analysis's: max(5 % of |best|, 0.001) for losses, 0.01 for accuracies
    assert Tolerance().allowed(0.5, "final_val_loss") == pytest.approx(0.025)
    assert Tolerance().allowed(0.5, "final_val_accuracy") == 0.01
    for bad in ("", "5%,6%", "0.1,0.2", "-1", "abc"):
        with pytest.raises(Exception, match="--tolerance"):
            parse_tolerance(bad)


def test_a_change_inside_the_seeds_noise_is_not_a_regression(results, tmp_path):
    base = float(best_of(results)["mean"])
    new = copy_small(results, tmp_path / "new")
    # seed 0 much worse, seed 1 better: the mean is 10 % worse, beyond the tolerance, but the
    # paired t half-width of (+0.5, -0.3) x base, 12.7062 * 0.566 * base / sqrt(2) = 5.08 x
    # base, covers it
    edit_runs(new, shift_row(seed_by={"0": 0.5 * base, "1": -0.3 * base}))
    c = compare(results, new)
    row = next(r for r in c.rows if r.row == ROW)
    assert row.new_lr == row.base_lr  # adam's best is far ahead of its other cells
    assert row.worse_by == pytest.approx(0.1 * base)
    assert row.worse_by > row.allowed  # beyond the tolerance ...
    assert row.noise == pytest.approx(12.7062 * 0.8 * base / 2, rel=1e-4)  # ... not the noise
    assert not row.regression


def test_status_changes_in_the_good_band_are_regressions_elsewhere_reported(results, tmp_path):
    best = best_of(results)
    lr = float(best["lr"])
    new = copy_small(results, tmp_path / "new")

    def unstable_at_best(r):
        if (r["task"], r["optimizer"], r["schedule"]) == ROW and float(r["lr"]) == lr:
            if r["seed"] == "0":
                r["status"] = "unstable"

    edit_runs(new, unstable_at_best)
    c = compare(results, new)
    row = next(r for r in c.rows if r.row == ROW)
    assert [(s.lr, s.seed, s.after) for s in row.statuses] == [(lr, 0, "unstable")]
    assert row.regression and "in the baseline's good band" in row.reasons[0]
    # the same change on the row's worst cell (outside the band) is only reported
    with open(results / "summary.csv", newline="") as f:
        outside = [s for s in csv.DictReader(f) if (s["task"], s["optimizer"], s["schedule"])
                   == ROW and s["within_tolerance"] == "false"]  # fmt: skip
    assert outside
    lr_out = float(outside[0]["lr"])
    other = copy_small(results, tmp_path / "other")
    edit_runs(other, lambda r: r.update(status="diverged") if (
        (r["task"], r["optimizer"], r["schedule"]) == ROW and float(r["lr"]) == lr_out
        and r["status"] != "diverged") else None)  # fmt: skip
    row = next(r for r in compare(results, other).rows if r.row == ROW)
    assert row.statuses and not any(s.regression for s in row.statuses)
    assert not row.regression


def test_runs_on_one_side_only_are_listed_not_regressions(results, tmp_path):
    new = copy_small(results, tmp_path / "new")
    path = new / "runs.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")  # the last two runs are missing
    res = invoke("compare", results, new)
    assert res.exit_code == 0
    assert "2 runs only in the baseline" in res.stdout


def test_different_configs_give_a_clear_message_and_exit_2(results, tmp_path):
    other = copy_small(results, tmp_path / "other")
    edit_runs(other, lambda r: r.update(run_id="x" + r["run_id"][1:], lr=repr(float(r["lr"]) * 3)))
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["config"] = "another"
    (other / "manifest.json").write_text(json.dumps(manifest))
    res = invoke("compare", results, other)
    assert res.exit_code == 2
    err = " ".join(res.stderr.split())
    assert "are results of different configs, nothing to compare" in err
    assert "config 'cmp' vs 'another'" in err
    assert "learning rates differ (baseline only: 0.01, 0.1, 1; new only: 0.03, 0.3, 3)" in err
    assert "Traceback" not in res.output
    # same axes, no common spec: the training settings differ
    edit_runs(other, lambda r: r.update(lr=repr(float(r["lr"]) / 3)))
    res = invoke("compare", results, other)
    assert res.exit_code == 2 and "training settings differ" in " ".join(res.stderr.split())
    # ranked by another metric
    metric = copy_small(results, tmp_path / "metric")
    text = (metric / "summary.csv").read_text().replace("final_val_loss", "final_val_accuracy")
    (metric / "summary.csv").write_text(text)
    res = invoke("compare", results, metric)
    assert res.exit_code == 2 and "ranks by final_val_loss" in res.stderr


def test_a_folder_that_is_not_results_is_exit_2(results, tmp_path):
    res = invoke("compare", results, tmp_path)
    assert res.exit_code == 2
    assert "not a results folder (missing runs.csv, manifest.json, summary.csv)" in res.stderr


def test_a_baseline_is_its_three_small_files(results, tmp_path):
    kept = copy_small(results, tmp_path / "baselines" / "cmp")
    assert sorted(p.name for p in kept.iterdir()) == sorted(SMALL)
    assert sum(p.stat().st_size for p in kept.iterdir()) < 20_000  # a few KB to commit
    assert invoke("compare", kept, results).exit_code == 0
    cfg = tmp_path / "cmp.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    common = ("--quiet", "--no-plots", "--jobs", "1")
    # sweep --baseline: the folder itself, or a folder holding <name>/
    for where in (kept, tmp_path / "baselines"):
        res = invoke("sweep", cfg, "--out", results, "--baseline", where, "--check", *common)
        assert res.exit_code == 0, res.output
        assert "cmp: no regression" in res.stdout
    # a baseline that was better: batch --baseline --check finds the regression
    edit_runs(kept, shift_row(by=-0.2))
    res = invoke("batch", cfg, "--out-root", results.parent, "--baseline",
                 tmp_path / "baselines", *common)  # fmt: skip
    assert res.exit_code == 0  # shown, not failed, without --check
    assert "REGRESSION" in res.stdout
    res = invoke("batch", cfg, "--out-root", results.parent, "--baseline",
                 tmp_path / "baselines", "--check", *common)  # fmt: skip
    assert res.exit_code == 1
    # a config without a baseline folder: noted, not an error
    res = invoke("batch", cfg, "--out-root", results.parent, "--baseline", tmp_path, *common)
    assert res.exit_code == 0 and "no baseline for cmp" in res.stdout
    # sweep --baseline must find the config's results
    res = invoke("sweep", cfg, "--out", results, "--baseline", tmp_path, *common)
    assert res.exit_code == 2 and "no results of 'cmp'" in res.stderr
