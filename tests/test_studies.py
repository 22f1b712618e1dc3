"""The rule-of-thumb studies (configs/studies/): each is a valid config of claims, one verdict a
task; and each verdict is the one its results give, recomputed here from runs.csv with plain
Python and numpy (the README's definitions of the kinds), on a shrunken copy of each study (two
small tasks, two seeds, two epochs). Then the comparison vocabulary's validation."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import load_config, validate
from lrbench.errors import ConfigError
from lrbench.sweep import run as sweep_run
from lrbench.sweep.checks import check_sweep

ALL_STUDIES = sorted(
    (Path(__file__).resolve().parent.parent / "configs" / "studies").glob("*.yaml")
)
#: The rule-of-thumb studies: those with an expect: block (configs/studies/ also holds the
#: generalization study, a measurement without claims, tested in test_generalization.py).
STUDIES = [p for p in ALL_STUDIES if "expect" in yaml.safe_load(p.read_text())]
SMALL = [
    "tasks=[{dataset: iris, model: logreg}, {dataset: moons, model: mlp, hidden: [8], "
    "n_samples: 100}]",
    "seeds=2",
    "train.epochs=2",
]
N_TRAIN = {"iris": 120, "moons": 80}  # n - ceil(0.2 n) of 150 and 100 rows
runner = CliRunner()


def test_every_study_is_a_valid_config_of_claims_one_verdict_a_task():
    assert len(STUDIES) >= 7
    assert {p.stem for p in ALL_STUDIES} - {p.stem for p in STUDIES} == {"generalization"}
    names = set()
    for path in STUDIES:
        config = load_config(path)
        names.add(config.name)
        labels = [t.label for t in config.tasks]
        assert len(labels) >= 4  # several bundled tasks
        assert config.expect and all(e.claim for e in config.expect)
        for claim in {e.title.rsplit(": ", 1)[0] for e in config.expect}:
            stated = [e for e in config.expect if e.title.startswith(claim + ": ")]
            assert [e.task for e in stated] == labels  # once per task
    assert len(names) == len(STUDIES)


def read_runs(path: Path) -> list[dict[str, str]]:
    with open(path / "runs.csv", newline="") as f:
        return list(csv.DictReader(f))


def key(r: dict[str, str]) -> tuple[str, str]:
    return (r["dataset"], r["model"])


def row_of(r: dict[str, str]) -> tuple[str, str, str]:
    return (r["task"], r["optimizer"], r["schedule"])


def filtered(runs, e, side=None):
    """The runs an expectation (and one of its sides) selects, by the columns of runs.csv."""
    out = [r for r in runs if e.task is None or e.task.startswith(f"{r['dataset']}/")]
    for f in (e, side) if side is not None else (e,):
        if f.schedule is not None:
            out = [r for r in out if r["schedule"] == f.schedule
                   or (f.schedule.endswith("(warmup=0)") and r["schedule"] == "constant")]  # fmt: skip
        if f.lr in ("lowest", "highest"):
            rows: dict[tuple[str, str, str], list[float]] = {}
            for r in out:
                rows.setdefault(row_of(r), []).append(float(r["lr"]))
            pick = min if f.lr == "lowest" else max
            out = [r for r in out if float(r["lr"]) == pick(rows[row_of(r)])]
    return out


def best_cell(runs, metric):
    cells = {}
    for r in runs:
        cells.setdefault((r["task"], r["optimizer"], r["schedule"], float(r["lr"])), []).append(r)
    scored = [(statistics.fmean(float(s[metric]) for s in seeds), k[3], k)
              for k, seeds in cells.items()
              if all(s["status"] != "diverged" and s[metric] for s in seeds)]  # fmt: skip
    return min(scored)[2] if scored else None


def per_seed(runs, cell, metric):
    return {int(r["seed"]): float(r[metric]) for r in runs
            if (r["task"], r["optimizer"], r["schedule"], float(r["lr"])) == cell
            and r[metric]}  # fmt: skip


def reference(e, runs) -> float | None:
    """The measured value of one claim, by the README's definitions."""
    sel = filtered(runs, e)
    if e.what == "best_lr":
        cell = best_cell(sel, e.metric)
        return cell[3]
    if e.what == "status_fraction":
        return sum(r["status"] in e.status for r in sel) / len(sel)
    if e.what == "diverged_fraction_difference":
        a, b = filtered(sel, e, e.a), filtered(sel, e, e.b)
        div = [sum(r["status"] == "diverged" for r in x) / len(x) for x in (a, b)]
        return div[0] - div[1]
    if e.what == "metric_difference":
        a, b = filtered(sel, e, e.a), filtered(sel, e, e.b)
        cb = best_cell(b, e.metric)
        ca = best_cell([r for r in a if e.at == "best" or float(r["lr"]) == cb[3]], e.metric)
        va, vb = per_seed(a, ca, e.metric), per_seed(b, cb, e.metric)
        d = [(va[s] - vb[s]) / (abs(vb[s]) if e.relative else 1) for s in va if s in vb]
        return statistics.fmean(d) if d else None  # no cell of a at b's best lr has a value
    assert e.what == "best_lr_slope"
    slopes = []
    for group in {(key(r), r["optimizer"], r["schedule"]) for r in sel}:
        mine = [r for r in sel if (key(r), r["optimizer"], r["schedule"]) == group]
        for seed in {r["seed"] for r in mine}:
            xs, ys = [], []
            for batch in sorted({r["batch_size"] for r in mine}, key=int):
                ok = [r for r in mine if r["seed"] == seed and r["batch_size"] == batch
                      and r["status"] != "diverged" and r[e.metric]]  # fmt: skip
                if ok:
                    best = min(ok, key=lambda r: (float(r[e.metric]), float(r["lr"])))
                    xs.append(math.log(min(int(batch), N_TRAIN[group[0][0]])))
                    ys.append(math.log(float(best["lr"])))
            if len(set(xs)) >= 2:
                slopes.append(np.polyfit(xs, ys, 1)[0])
    return statistics.fmean(slopes)


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_each_verdict_is_computed_from_the_results(path, tmp_path):
    small = SMALL + (["train.batch_size=[8, 16, 64]"] if path.stem == "batch-size" else [])
    config = load_config(path, small)
    outcome = sweep_run.run(config, out=tmp_path / config.name)
    checks = check_sweep(outcome)
    runs = read_runs(tmp_path / config.name)
    assert (
        len(checks.expectations)
        == len(config.expect)
        == 2 * len({e.title.rsplit(": ", 1)[0] for e in config.expect})
    )
    for r in checks.expectations:
        want = reference(r.expectation, runs)
        if want is None:
            assert r.value is None and not r.passed
            continue
        assert r.value == pytest.approx(want, rel=1e-9, abs=1e-12), r.expectation.title
        assert r.passed == r.expectation.holds(want)
        assert r.verdict == ("holds" if r.passed else "does not hold")


# ---------------------------------------------------------------- the vocabulary
BASE = {
    "tasks": [{"dataset": "iris", "model": "logreg"}],
    "train": {"steps": 4, "batch_size": [16, 32]},
    "lr": [0.01, 0.1],
    "schedules": ["constant", {"constant": {"warmup": 0.5}}, "cosine"],
}


def load(item):
    return validate({**BASE, "expect": [item]}).expect


def test_the_new_forms_load_and_write_back():
    (e,) = load({"what": "metric_difference", "a": {"schedule": "cosine"},
                 "b": {"schedule": "constant(warmup=0)", "lr": "highest"}, "at": "same_lr",
                 "relative": True, "below": 0, "claim": True})  # fmt: skip
    assert (e.at, e.relative, e.claim, e.below, e.bound) == ("same_lr", True, True, 0.0, "< 0")
    assert e.b.schedule == "constant(warmup=0)" and e.b.lr == "highest"
    assert validate({**BASE, "expect": [e.to_dict()]}).expect == (e,)
    (s,) = load({"what": "best_lr_slope", "above": 0.2})
    assert s.metric == "final_val_loss" and s.holds(0.5) and not s.holds(0.2)
    (f,) = load({"what": "status_fraction", "status": "slow", "lr": 0.01, "at_least": 0.5})
    assert f.status == ("slow",) and f.lr == 0.01


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"what": "metric_difference", "a": {"schedule": "cosine"}, "below": 0},
         "expect[0].b: got null; expected a mapping of filters"),
        ({"what": "metric", "a": {"schedule": "cosine"}, "below": 0},
         "expect[0].a: got {'schedule': 'cosine'}; expected no a for what: metric"),
        ({"what": "status_fraction", "status": ["fine"], "at_least": 0.5},
         "expect[0].status: got ['fine']; expected statuses among ok, slow, unstable, diverged"),
        ({"what": "metric", "lr": 0.3, "at_most": 1},
         "expect[0].lr: got 0.3; expected lowest, highest or a learning rate of the grid: "
         "0.01, 0.1"),
        ({"what": "diverged_fraction_difference", "a": {"schedule": "step"},
          "b": {"schedule": "cosine"}, "below": 0},
         "expect[0].a.schedule: got 'step'; expected a schedule of this config"),
        ({"what": "metric", "at": "same_lr", "at_most": 1},
         "expect[0].at: got 'same_lr'; expected no at for what: metric"),
        ({"what": "metric", "above": 1, "below": 2},
         "expected exactly one of at_least, at_most, between"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key_the_value_and_what_is_allowed(item, message):
    with pytest.raises(ConfigError) as info:
        load(item)
    assert message in str(info.value)


def test_best_lr_slope_needs_a_batch_size_grid():
    with pytest.raises(ConfigError, match="give train.batch_size a list"):
        validate({**BASE, "train": {"steps": 4}, "expect": [{"what": "best_lr_slope", "above": 0}]})


def test_batch_prints_a_verdict_per_claim_and_check_turns_it_into_the_exit_code(tmp_path):
    """A claim that cannot hold (a best lr below the whole grid) and one that must (the best lr
    is a grid point): the verdicts are printed, and only --check makes the first exit 1."""
    folder = tmp_path / "studies"
    folder.mkdir()
    study = {
        "name": "claims",
        "tasks": [{"dataset": "iris", "model": "logreg"}],
        "train": {"steps": 3},
        "lr": [0.1, 0.3],
        "expect": [
            {"what": "best_lr", "between": [1e-9, 1e-8], "claim": True, "name": "tiny"},
            {"what": "best_lr", "between": [0.1, 0.3], "claim": True, "name": "on the grid"},
        ],
    }
    (folder / "claims.yaml").write_text(yaml.safe_dump(study))
    args = ["batch", str(folder), "--out-root", str(tmp_path / "out"), "--quiet", "--no-plots"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0  # a claim that does not hold is a finding
    assert "does not hold" in shown.stdout and "│ holds" in shown.stdout
    checked = runner.invoke(app, [*args, "--check"])
    assert checked.exit_code == 1
