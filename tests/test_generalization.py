"""Generalization: training accuracy and the gaps, early stopping, weight decay as a grid axis,
the row pivot and a bundled dataset's ``train_size``.

References: a one-step gradient-descent logistic regression worked by hand (its training
accuracy), an early-stopping curve worked by hand, the rule replayed by a loop written here on
a run trained without early stopping, the same runs trained alone (bit for bit), the recorded
losses of ``curves.csv`` (the gaps), run ids computed before early stopping existed, and the
class shares of a stratified subsample.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrbench.config import validate
from lrbench.core import engine
from lrbench.core.data import load_data
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.stopping import Patience
from lrbench.core.tasks import load_task_data, train_size
from lrbench.errors import ConfigError
from lrbench.spec import EarlyStopping, RunSpec, TaskSpec, TrainSpec, freeze
from tests.test_engine import assert_same, spec

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


# ---------------------------------------------------------------- config and data


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
    with_stop = RunSpec(**{**s.__dict__, "train": TrainSpec(40, 32, 5, early_stopping=STOP_RULE)})
    assert with_stop.run_id != s.run_id
    assert RunSpec.from_dict(with_stop.to_dict()) == with_stop


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
