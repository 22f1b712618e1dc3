"""Numerical faults stay in the configuration that made them.

A NaN, an infinity or an overflowing learning rate is planted in one configuration of a lockstep
group (its learning rate at one step, or its initial parameters); that configuration must be
marked diverged where the fault appeared, and every other configuration of the group must keep
the bits it has in the same group trained without the fault (the reference).
"""

from __future__ import annotations

import numpy as np
import pytest

from lrbench.core import models
from lrbench.core.engine import train_group
from lrbench.core.optimizers import OPTIMIZERS, resolve_optimizer
from lrbench.core.schedules import resolve_schedule
from lrbench.spec import RunResult, RunSpec, TaskSpec, TrainSpec, freeze

TASKS = {
    "logreg": TaskSpec("iris", "logreg"),
    "mlp": TaskSpec("iris", "mlp", model_params=freeze({"hidden": (8,), "activation": "tanh"})),
    "linear": TaskSpec(
        "regression",
        "linear",
        dataset_params=freeze(
            {"n_samples": 100, "n_features": 5, "n_informative": 5, "noise": 1.0, "seed": 0}
        ),
    ),
}
TRAIN = TrainSpec(steps=12, batch_size=16, eval_every=4)
PLANTED = 1  # the configuration that gets the fault
AT = 5  # the step whose learning rate is the fault


def group(model: str, optimizer: str) -> list[RunSpec]:
    """Four configurations of one group: distinct learning rates and seeds."""
    opt = freeze(resolve_optimizer(optimizer, None, "o"))
    const = freeze(resolve_schedule("constant", None, "s"))
    return [
        RunSpec(TASKS[model], TRAIN, optimizer, opt, "constant", const, lr, seed)
        for lr, seed in ((0.01, 0), (0.05, 1), (0.02, 2), (0.03, 3))
    ]


def same_bits(a: RunResult, b: RunResult) -> bool:
    fields = ("log_step", "log_lr", "log_loss", "eval_step", "eval_train_loss",
              "eval_val_loss", "eval_val_accuracy")  # fmt: skip
    return (a.status, a.steps_done, a.diverged_at) == (b.status, b.steps_done, b.diverged_at) and all(
        np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True) for f in fields
    )  # fmt: skip


@pytest.mark.parametrize("model", sorted(TASKS))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_planted_learning_rate_fault_stays_in_its_configuration(model: str, optimizer: str):
    specs = group(model, optimizer)
    table = np.array([[s.lr for s in specs]] * TRAIN.steps)
    clean = train_group(specs, lr_table=table)
    assert all(r.status == "ok" for r in clean)
    for fault in (np.nan, np.inf, 1e300):
        planted = table.copy()
        planted[AT, PLANTED] = fault
        faulty = train_group(specs, lr_table=planted)
        for k in range(len(specs)):
            if k != PLANTED:
                assert same_bits(faulty[k], clean[k]), (fault, k)
        hit = faulty[PLANTED]
        # the update at step AT makes the parameters non-finite (or huge): the next minibatch
        # loss is non-finite or over the divergence threshold, so the run stops at AT + 1
        assert hit.status == "diverged" and hit.diverged_at == AT + 1, fault
        assert hit.steps_done == AT + 1 and hit.log_step[-1] == AT + 1
        assert np.array_equal(hit.log_loss[: AT + 1], clean[PLANTED].log_loss[: AT + 1])


@pytest.mark.parametrize("model", sorted(TASKS))
def test_non_finite_initial_parameters_stay_in_their_configuration(
    model: str, monkeypatch: pytest.MonkeyPatch
):
    specs = group(model, "adam")
    clean = train_group(specs)
    real = models.Model.init

    def poisoned(self, rngs):
        params = real(self, rngs)
        params[0][PLANTED].flat[0] = np.nan  # the rows follow the specs' order here
        return params

    monkeypatch.setattr(models.Model, "init", poisoned)
    faulty = train_group(specs)
    for k in range(len(specs)):
        if k != PLANTED:
            assert same_bits(faulty[k], clean[k]), k
    hit = faulty[PLANTED]
    # caught at step 0: by the initial evaluation (mlp draws its own initialisation) or by the
    # first minibatch loss (logreg and linear start at zero, evaluated once for the group)
    assert hit.status == "diverged" and hit.diverged_at == 0 and hit.steps_done == 0
