"""Generalization: training accuracy and the gaps, early stopping, weight decay as a grid axis,
the row pivot and a bundled dataset's ``train_size``.

References: a one-step gradient-descent logistic regression worked by hand (its training
accuracy), an early-stopping curve worked by hand, the rule replayed by a loop written here on
a run trained without early stopping, the same runs trained alone (bit for bit), the recorded
losses of ``curves.csv`` (the gaps), run ids computed before early stopping existed, and the
class shares of a stratified subsample.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import load_config, validate
from lrbench.core import engine
from lrbench.core.data import load_data
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.schedules import SCHEDULES
from lrbench.core.stopping import Patience
from lrbench.core.tasks import load_task_data, train_size
from lrbench.errors import ConfigError, ConfigErrors
from lrbench.report.generalization import gap_curves
from lrbench.spec import EarlyStopping, RunSpec, TaskSpec, TrainSpec, freeze, registry_defaults
from lrbench.sweep.analysis import analyze, run_metrics
from lrbench.sweep.store import result_from_json, result_to_json
from tests.test_engine import assert_same, spec
from tests.test_svgchart import NS

SMALL_DIGITS = TaskSpec(
    "digits",
    "mlp",
    dataset_params=freeze({"train_size": 120}),
    model_params=freeze({"hidden": (32,), "activation": "relu"}),
)


# ---------------------------------------------------------------- training accuracy and gaps
def test_training_accuracy_of_one_gradient_step_by_hand():
    """Logistic regression from zero, one full-batch step of size lr: W = lr * X^T (Y - 1/C) / n,
    b = lr * (share of each class - 1/C); the training accuracy at step 1 is the share of rows
    whose largest logit X W + b is their class; at step 0 (all logits 0, argmax the first class)
    the share of class 0."""
    task = TaskSpec("iris", "logreg")
    lr = 0.5
    train = TrainSpec(steps=1, batch_size=None, eval_every=1)
    (result,) = engine.train_group([spec(task, "sgd", "constant", lr, 0, train)])
    data = load_task_data(task)
    X, y = np.asarray(data.X_train), np.asarray(data.y_train)
    n, C = len(y), data.n_classes
    Y = np.eye(C)[y]
    W = lr * X.T @ (Y - 1.0 / C) / n
    b = lr * (Y.mean(axis=0) - 1.0 / C)
    by_hand = float(np.mean((X @ W + b).argmax(axis=1) == y))
    assert result.eval_train_accuracy[0] == np.mean(y == 0)
    assert result.eval_train_accuracy[1] == by_hand


SMALL_STUDY = """
name: gen
seeds: 2
tasks: [{dataset: digits, train_size: 120, model: mlp, hidden: [32]}]
train: {epochs: 30, batch_size: 32, early_stopping: [null, {patience: 3}]}
lr: [0.003, 0.03]
optimizers: [{adam: {weight_decay: [0, 0.01]}}]
schedules: [constant]
"""  # digits with 120 training rows, an MLP, Adam with two weight decays, two early-stopping
# settings, two lrs (the larger overfits within a few epochs), two seeds


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> tuple[Path, str]:
    """The small study swept once through the command line (JSON on stdout, figures written):
    the results folder and the output."""
    tmp = tmp_path_factory.mktemp("gen")
    (tmp / "gen.yaml").write_text(SMALL_STUDY)
    out = tmp / "out"
    res = CliRunner().invoke(
        app,
        ["sweep", str(tmp / "gen.yaml"), "--out", str(out), "--quiet", "--jobs", "1",
         "--format", "json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return out, res.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text: str) -> float:
    return math.nan if text == "" else float(text)


def test_gap_columns_are_differences_of_the_recorded_losses(small_sweep):
    out, stdout = small_sweep
    runs = read_csv(out / "runs.csv")
    curves: dict[tuple[str, int], dict[str, str]] = {
        (r["run_id"], int(r["step"])): r for r in read_csv(out / "curves.csv")
    }
    assert list(runs[0])[-7:] == ["final_train_accuracy", "final_gap_loss", "final_gap_accuracy",
                                  "best_gap_loss", "best_gap_accuracy", "stopped_early",
                                  "restored_step"]  # fmt: skip
    assert any(r["stopped_early"] == "true" for r in runs)
    for r in runs:
        assert num(r["final_gap_loss"]) == num(r["final_val_loss"]) - num(r["final_train_loss"])
        assert num(r["final_gap_accuracy"]) == (
            num(r["final_train_accuracy"]) - num(r["final_val_accuracy"])
        )
        at_best = curves[r["run_id"], int(r["best_step"])]
        assert num(r["best_gap_loss"]) == num(at_best["val_loss"]) - num(at_best["full_train_loss"])
        if r["restored_step"]:  # restore_best: the final losses are those of that evaluation
            at = curves[r["run_id"], int(r["restored_step"])]
            assert num(r["final_val_loss"]) == num(at["val_loss"])
            assert num(r["final_train_loss"]) == num(at["full_train_loss"])
    summary = read_csv(out / "summary.csv")
    assert list(summary[0])[-6:] == ["final_gap_loss", "final_gap_accuracy", "best_gap_loss",
                                     "best_gap_accuracy", "best_step", "n_stopped_early"]  # fmt: skip
    for s in summary:
        cell = [r for r in runs if (r["optimizer"], r["schedule"], r["lr"])
                == (s["optimizer"], s["schedule"], s["lr"]) and r["status"] != "diverged"]  # fmt: skip
        assert num(s["final_gap_loss"]) == np.mean([num(r["final_gap_loss"]) for r in cell])
        assert int(s["n_stopped_early"]) == sum(r["stopped_early"] == "true" for r in cell)
    data = json.loads(stdout)
    cells = [c for row in data["tasks"][0]["rows"] for c in row["cells"]]
    assert len(cells) == len(summary) and all("final_gap_loss" in c for c in cells)


def test_gap_figure_draws_training_and_validation_loss_of_each_best_cell(small_sweep):
    """One panel per row: the validation loss (solid) and the full training loss (dashed) of
    the row's best lr, each the mean over its seeds' recorded losses (curves.csv) at the
    evaluations every seed reached."""
    out, _ = small_sweep
    (svg,) = (out / "plots").glob("gap-*.svg")
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    legend = [
        t.text for g in root.iter() if g.get("class") == "legend" for t in g.iter(f"{NS}text")
    ]
    summary = read_csv(out / "summary.csv")
    best = [s for s in summary if s["is_best"] == "true"]
    assert legend.count("validation") == legend.count("training (full split)") == len(best) == 4
    runs, curves = read_csv(out / "runs.csv"), read_csv(out / "curves.csv")
    outcome_like = _outcome(out)
    panels = gap_curves(outcome_like, outcome_like.analysis.tasks[0])
    assert len(panels) == len(best)
    for (label, epochs, train, val), s in zip(panels, best, strict=True):
        ids = [r["run_id"] for r in runs if (r["optimizer"], r["schedule"], r["lr"])
               == (s["optimizer"], s["schedule"], s["lr"])]  # fmt: skip
        per_run = [[c for c in curves if c["run_id"] == i and c["val_loss"]] for i in ids]
        n = min(len(p) for p in per_run)
        assert len(epochs) == n and label.endswith(f"@ lr={float(s['lr']):g}")
        assert np.array_equal(
            val, np.mean([[num(c["val_loss"]) for c in p[:n]] for p in per_run], axis=0)
        )
        assert np.array_equal(
            train, np.mean([[num(c["full_train_loss"]) for c in p[:n]] for p in per_run], axis=0)
        )


def _outcome(out: Path):
    """The sweep's outcome again, from its results folder (every run resumed)."""
    from lrbench.sweep.run import run

    return run(load_config([out / "config.yaml"]), out=out, jobs=1)


# ---------------------------------------------------------------- early stopping
def test_patience_stops_at_the_hand_worked_evaluation():
    """patience 3, min_delta 0.02. Row 0: 1.0 improves (best 1.0), 0.8 < 0.98 improves (best
    0.8), then 0.79, 0.85 and 0.81 are not below 0.78: waits 1, 2, 3, so it stops at evaluation
    4 with its best at evaluation 1. Row 1 improves at 0.7 (evaluation 3), never waits 3."""
    p = Patience(EarlyStopping(patience=3, min_delta=0.02), 2)
    curves = [(1.0, 0.8, 0.79, 0.85, 0.81), (1.0, 0.9, 0.89, 0.7, 0.71)]
    stops = []
    for e in range(5):
        out = p.see(np.array([curves[0][e], curves[1][e]]), t=10 * e)
        stops.append(out.tolist())
    assert stops == [[False, False]] * 4 + [[True, False]]
    assert p.best_at.tolist() == [10, 30] and p.wait.tolist() == [3, 1]
    assert p.best_val.tolist() == [0.8, 0.7]
    p.keep(np.array([1, 1]))  # a fork copies its parent's history
    assert p.best_at.tolist() == [30, 30] and p.wait.tolist() == [1, 1]


def replay_stop(steps: np.ndarray, val: np.ndarray, rule: EarlyStopping, T: int):
    """The early-stopping rule written out as a loop: (stop step or None, best step)."""
    best, best_at, wait = math.inf, 0, 0
    for t, v in zip(steps.tolist(), val.tolist()):
        if v < best - rule.min_delta:
            best, best_at, wait = v, t, 0
        else:
            wait += 1
        if wait >= rule.patience and t < T:
            return t, best_at
    return None, best_at


STOP_TRAIN = TrainSpec(steps=120, batch_size=16, eval_every=4)
STOP_RULE = EarlyStopping(patience=3, min_delta=0.0)


def stop_group() -> list[RunSpec]:
    """lrs and seeds that stop early and some that do not; constant and step at one lr and seed
    share a row until the step's milestone."""
    train = TrainSpec(**{**STOP_TRAIN.__dict__, "early_stopping": STOP_RULE})
    cases = [("constant", None, 0.003, 0), ("constant", None, 0.5, 0), ("constant", None, 0.3, 1),
             ("step", {"milestones": (0.75,)}, 0.5, 0), ("cosine", None, 1.0, 2)]  # fmt: skip
    return [spec(SMALL_DIGITS, "momentum", s, lr, seed, train, None, p)
            for s, p, lr, seed in cases]  # fmt: skip


def test_an_early_stopped_run_is_the_plain_run_cut_at_its_stop():
    """Each run with early stopping equals the same run without it, bit for bit, up to the
    evaluation where the rule (replayed here on the plain run's validation curve) stops it; with
    restore_best its final metrics are the plain run's at the best step, bit for bit (the
    parameters evaluated there)."""
    specs = stop_group()
    with_stop = engine.train_group(specs)
    plain = engine.train_group([RunSpec(**{**s.__dict__, "train": STOP_TRAIN}) for s in specs])
    stopped = 0
    for a, b in zip(with_stop, plain, strict=True):
        stop, best_at = replay_stop(b.eval_step, b.eval_val_loss, STOP_RULE, STOP_TRAIN.steps)
        assert a.stopped_early == (stop is not None)
        assert a.restored_step == best_at
        assert a.status == "ok" and a.steps_done == (stop if stop is not None else b.steps_done)
        n = len(a.eval_step)
        for name in (
            "eval_train_loss",
            "eval_val_loss",
            "eval_val_accuracy",
            "eval_train_accuracy",
        ):
            assert np.array_equal(getattr(a, name), getattr(b, name)[:n]), name
        assert a.eval_step[-1] == a.steps_done and a.log_step[-1] == a.steps_done - 1
        m, i = run_metrics(a), int(np.flatnonzero(b.eval_step == best_at)[0])
        assert (m.final_val_loss, m.final_train_loss, m.final_val_accuracy,
                m.final_train_accuracy) == (b.eval_val_loss[i], b.eval_train_loss[i],
                                            b.eval_val_accuracy[i], b.eval_train_accuracy[i])  # fmt: skip
        assert m.stopped_early == a.stopped_early and m.restored_step == best_at
        stopped += a.stopped_early
    assert 0 < stopped < len(specs)


def test_a_stopped_row_leaves_its_group_without_changing_the_others(monkeypatch):
    """The group with early stopping gives every run the bits it gets alone; each stop drops
    its row from the stack (the group shrinks), as a divergence does."""
    drops: list[int] = []
    real_drop = engine._Stack.drop

    def spy(self, bad):
        drops.append(int(np.count_nonzero(bad)))
        return real_drop(self, bad)

    monkeypatch.setattr(engine._Stack, "drop", spy)
    specs = stop_group()
    together = engine.train_group(specs)
    assert sum(drops) >= 1  # rows left during training
    for s, r in zip(specs, together, strict=True):
        (alone,) = engine.train_group([s])
        assert_same(r, alone)
        assert np.array_equal(r.eval_train_accuracy, alone.eval_train_accuracy)
        assert (r.stopped_early, r.restored_step) == (alone.stopped_early, alone.restored_step)


def test_restore_best_off_keeps_the_last_evaluation():
    train = TrainSpec(**{**STOP_TRAIN.__dict__,
                         "early_stopping": EarlyStopping(patience=3, restore_best=False)})  # fmt: skip
    (r,) = engine.train_group([spec(SMALL_DIGITS, "momentum", "constant", 0.5, 0, train)])
    assert r.stopped_early and r.restored_step is None
    m = run_metrics(r)
    assert m.final_val_loss == r.eval_val_loss[-1] and m.restored_step is None


# ---------------------------------------------------------------- weight decay as an axis
def test_weight_decay_is_an_axis_of_every_optimizer_and_matches_a_run_alone():
    names = sorted(OPTIMIZERS)
    cfg = validate({
        "tasks": [{"dataset": "iris", "model": "logreg"}], "lr": [0.05], "seeds": 1,
        "train": {"steps": 24, "batch_size": 16, "eval_every": 8},
        "optimizers": [{n: {"weight_decay": [0, 0.05]}} for n in names],
    })  # fmt: skip
    specs = cfg.specs()
    assert [(s.optimizer, dict(s.optimizer_params)["weight_decay"]) for s in specs] == [
        (n, wd) for n in names for wd in (0.0, 0.05)
    ]
    together = engine.train_group(specs)
    for s, r in zip(specs, together, strict=True):
        (alone,) = engine.train_group([s])
        assert_same(r, alone)
    for a, b in zip(together[::2], together[1::2], strict=True):  # the decay changes the run
        assert not np.array_equal(a.eval_train_loss[1:], b.eval_train_loss[1:])


def test_rows_pivot_names_and_orders_rows_by_the_chosen_parts():
    cfg = validate({
        "tasks": [{"dataset": "iris", "model": "logreg"}], "lr": [0.05, 0.5], "seeds": 1,
        "train": {"steps": 6, "batch_size": 32, "eval_every": 3},
        "optimizers": [{"sgd": {"weight_decay": [0, 0.01]}}, "adam"],
        "schedules": ["constant", "cosine"],
        "analysis": {"rows": ["schedule", "weight_decay"]},
    })  # fmt: skip
    results = engine.train_group(cfg.specs())
    defaults = registry_defaults(OPTIMIZERS, SCHEDULES)
    plain = analyze(results, defaults=defaults)
    a = analyze(results, defaults=defaults, rows=cfg.analysis["rows"])
    assert a.row_title == "schedule / weight decay / optimizer"  # optimizer varies: appended
    labels = list(dict.fromkeys(c.row_label for c in a.cells))
    assert labels == [
        "constant / wd=0.0 / sgd", "constant / wd=0.0 / adam", "constant / wd=0.01 / sgd",
        "cosine / wd=0.0 / sgd", "cosine / wd=0.0 / adam", "cosine / wd=0.01 / sgd",
    ]  # fmt: skip
    assert [m.run_id for m in a.runs] == [m.run_id for m in plain.runs]  # runs keep their order
    assert sorted((c.row, c.lr, c.mean) for c in a.cells) == sorted(
        (c.row, c.lr, c.mean) for c in plain.cells
    )  # the same cells, relabelled and reordered
    assert plain.row_title == "optimizer / schedule"
    assert plain.cells[0].row_label == "sgd / constant"


# ---------------------------------------------------------------- config and data
def test_config_early_stopping_and_rows():
    base = {"tasks": [{"dataset": "iris", "model": "logreg"}]}
    cfg = validate({**base, "train": {"early_stopping": {"patience": [2, 4]}}})
    assert cfg.train["early_stopping"] == (EarlyStopping(2), EarlyStopping(4))
    assert len(cfg.specs()) == 2 * 7 and cfg.raw["train"]["early_stopping"][1]["patience"] == 4
    off = validate(base)
    assert "early_stopping" not in off.raw["train"] and "rows" not in off.raw["analysis"]
    with pytest.raises(ConfigErrors) as err:
        validate({**base, "train": {"early_stopping": [{"patience": 0}, 3]},
                  "analysis": {"rows": ["optimizer", "wd"]}})  # fmt: skip
    text = str(err.value)
    assert "train.early_stopping[0].patience" in text and "train.early_stopping[1]" in text
    assert "analysis.rows[1]" in text and "weight_decay" in text
    with pytest.raises(ConfigError):
        validate({**base, "train": {"early_stopping": [None, None]}})


def test_run_ids_of_specs_without_early_stopping_are_unchanged():
    """The id computed for this spec before early stopping existed (lrbench at 15a6b4b)."""
    s = RunSpec(
        TaskSpec("digits", "mlp", (), freeze({"hidden": (16,), "activation": "relu"})),
        TrainSpec(steps=40, batch_size=32, eval_every=5),
        "sgd", freeze({"momentum": 0.0, "dampening": 0.0, "nesterov": False,
                       "weight_decay": 0.01}),
        "constant", freeze({"warmup": 0}), 0.1, 3,
    )  # fmt: skip
    assert s.run_id == "8530153877b0"
    with_stop = dataclasses.replace(s, train=TrainSpec(40, 32, 5, early_stopping=STOP_RULE))
    assert with_stop.run_id != s.run_id
    assert RunSpec.from_dict(with_stop.to_dict()) == with_stop


def test_run_files_keep_the_new_fields_and_old_files_still_load():
    train = TrainSpec(**{**STOP_TRAIN.__dict__, "early_stopping": STOP_RULE})
    (r,) = engine.train_group([spec(SMALL_DIGITS, "momentum", "constant", 0.5, 0, train)])
    d = json.loads(json.dumps(result_to_json(r)))
    assert list(d)[-1] == "early_stopping" and list(d["eval"])[-1] == "train_accuracy"
    back = result_from_json(d)
    assert np.array_equal(back.eval_train_accuracy, r.eval_train_accuracy)
    assert (back.stopped_early, back.restored_step) == (r.stopped_early, r.restored_step)
    (plain,) = engine.train_group([spec(SMALL_DIGITS, "momentum", "constant", 0.1, 0, STOP_TRAIN)])
    old = result_to_json(plain)
    assert "early_stopping" not in old
    del old["eval"]["train_accuracy"]  # a run file written before training accuracy
    m = run_metrics(result_from_json(old))
    assert math.isnan(m.final_gap_accuracy) and math.isnan(m.final_train_accuracy)
    assert m.final_gap_loss == plain.eval_val_loss[-1] - plain.eval_train_loss[-1]


def test_train_size_subsamples_the_training_split_only():
    full = load_data("digits", {}, task="classification", target=None)
    sub = load_data("digits", {"train_size": 300}, task="classification", target=None)
    other = load_data("digits", {"train_size": 300}, task="classification", target=None,
                      data_seed=1)  # fmt: skip
    assert len(sub.y_train) == 300 and np.array_equal(sub.y_val, full.y_val)
    # stratified: each class keeps its share of the 1437 training rows, within one row
    share = np.bincount(full.y_train, minlength=10) / len(full.y_train)
    assert np.all(np.abs(np.bincount(sub.y_train, minlength=10) - 300 * share) <= 1)
    # the same validation rows, standardised by the kept rows: an affine map of each column
    cols = np.flatnonzero((full.X_val.std(axis=0) > 1e-6) & (sub.X_val.std(axis=0) > 1e-6))
    z_full, z_sub = (
        (x[:, cols] - x[:, cols].mean(axis=0)) / x[:, cols].std(axis=0)
        for x in (full.X_val, sub.X_val)
    )
    assert np.allclose(z_full, z_sub, atol=1e-9)
    assert not np.array_equal(sub.y_train, other.y_train)  # drawn with the data seed
    assert np.allclose(sub.X_train.mean(axis=0), 0, atol=1e-12)  # standardised on the kept rows
    for name in ("iris", "wine", "breast_cancer", "digits"):
        for n in (20, 60):
            task = TaskSpec(name, "logreg", freeze({"train_size": n}), test_size=0.3)
            assert train_size(task) == n == len(load_task_data(task).y_train)
    with pytest.raises(ConfigError, match="at most 1437"):
        train_size(TaskSpec("digits", "logreg", freeze({"train_size": 1500})))
    assert TaskSpec("digits", "logreg", freeze({"train_size": 300})).label == (
        "digits(train_size=300)/logreg"
    )


def test_the_bundled_study_is_valid():
    root = Path(__file__).parent.parent
    cfg = load_config([root / "configs" / "studies" / "generalization.yaml"])
    assert cfg.analysis["rows"] and len(cfg.train["early_stopping"]) == 2
    assert dict(cfg.tasks[0].dataset_params)["train_size"] < 1437
