"""A task's facts (lrbench.core.tasks): training-set size and steps per epoch without loading the
data, and the stability bounds 2/L and 2(1 + mu)/L.

References: the sizes against the data as scikit-learn's ``train_test_split`` actually splits it
(the loaded data); the bounds against ``numpy.linalg`` on the loaded data, the closed form of the
heavy-ball iteration on a quadratic, and the engine's own full-batch runs on either side of them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lrbench.config import load_config
from lrbench.core import data as data_module
from lrbench.core import tasks
from lrbench.core.engine import train_group
from lrbench.core.tasks import (
    BUNDLED_SIZES,
    heavy_ball_bound,
    load_task_data,
    stability_bound,
    steps_per_epoch,
    train_size,
)
from lrbench.spec import TaskSpec, TrainSpec, freeze
from tests.test_engine import spec

ROOT = Path(__file__).parent.parent
TEST_SIZES = (0.2, 0.25, 1 / 3, 0.1, 0.5, 0.07)
LINEAR = TaskSpec("regression", "linear", dataset_params=freeze({"n_samples": 200, "n_features": 5, "n_informative": 5, "noise": 3.0, "seed": 1}))  # fmt: skip


def _no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(tasks, "load_data", refuse)
    monkeypatch.setattr(data_module, "load_data", refuse)


def _loaded_size(task: TaskSpec) -> int:
    return len(load_task_data(task).y_train)


@pytest.mark.parametrize("name", sorted(BUNDLED_SIZES))
def test_bundled_sizes_equal_the_loaded_split(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = "logreg"
    loaded = {ts: _loaded_size(TaskSpec(name, model, test_size=ts)) for ts in TEST_SIZES}
    full = load_task_data(TaskSpec(name, model))
    assert len(full.y_train) + len(full.y_val) == BUNDLED_SIZES[name]
    _no_loading(monkeypatch)
    for ts, n_train in loaded.items():
        assert train_size(TaskSpec(name, model, test_size=ts)) == n_train, ts


@pytest.mark.parametrize(
    ("name", "params", "model"),
    [
        ("classification", {"n_samples": 501, "n_classes": 3}, "logreg"),
        ("moons", {"n_samples": 333}, "mlp"),
        ("circles", {"n_samples": 97}, "logreg"),
        ("blobs", {"n_samples": 250, "centers": 7}, "logreg"),  # 250 = 7 * 35 + 5: uneven
        ("regression", {"n_samples": 123}, "linear"),
    ],
)
def test_generated_sizes_equal_the_loaded_split(name, params, model, monkeypatch) -> None:
    made = [TaskSpec(name, model, freeze(params), test_size=ts) for ts in TEST_SIZES]
    loaded = [_loaded_size(t) for t in made]
    _no_loading(monkeypatch)
    assert [train_size(t) for t in made] == loaded


def test_csv_size_is_the_loaded_split(tmp_path: Path) -> None:
    rows = ["a,b,label", *[f"{i},{i % 7},{'yes' if i % 3 else 'no'}" for i in range(61)]]
    path = tmp_path / "small.csv"
    path.write_text("\n".join(rows) + "\n\n")  # a blank line at the end is not a row
    task = TaskSpec(str(path), "logreg", target="label", test_size=0.3)
    assert train_size(task) == _loaded_size(task) == 61 - math.ceil(0.3 * 61)


def test_steps_per_epoch_keeps_the_last_partial_batch() -> None:
    # by hand: 1437 rows in batches of 32 are 44 full batches and one of 29
    assert steps_per_epoch(1437, 32) == 45
    assert steps_per_epoch(1440, 32) == 45
    assert steps_per_epoch(1437, None) == steps_per_epoch(10, 10) == steps_per_epoch(10, 99) == 1


def test_epochs_become_steps_without_loading_a_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    # configs/w1.yaml: digits (1797 rows, 1437 for training), batch 32, 20 epochs
    _no_loading(monkeypatch)
    specs = load_config([ROOT / "configs" / "w1.yaml"]).specs()
    assert {s.train.steps for s in specs} == {20 * 45}


def _augmented_top_eigenvalue(task: TaskSpec) -> float:
    X = load_task_data(task).X_train
    A = np.hstack([X, np.ones((len(X), 1))])
    return float(np.linalg.eigvalsh(A.T @ A / len(X))[-1])


def test_stability_bound_is_two_over_the_top_hessian_eigenvalue() -> None:
    # linear: L = lambda_max(A'A/n) exactly; logreg: L = lambda_max / 2 (models.smoothness)
    lam = _augmented_top_eigenvalue(LINEAR)
    assert stability_bound(LINEAR) == pytest.approx(2 / lam, rel=1e-12)
    digits = TaskSpec("digits", "logreg")
    assert stability_bound(digits) == pytest.approx(
        4 / _augmented_top_eigenvalue(digits), rel=1e-12
    )


def test_no_bound_for_an_mlp_and_its_data_is_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_loading(monkeypatch)
    mlp = TaskSpec("digits", "mlp", model_params=freeze({"hidden": (16,)}))
    assert stability_bound(mlp) is None and heavy_ball_bound(mlp, 0.9) is None


@pytest.mark.parametrize("mu", [0.0, 0.5, 0.9])
def test_heavy_ball_bound_is_where_the_iteration_turns_unstable(mu: float) -> None:
    # Heavy ball on f = 0.5 theta' H theta: (theta_t+1, theta_t) = M (theta_t, theta_t-1) with
    # M = [[(1 + mu) I - lr H, -mu I], [I, 0]]; stable iff the spectral radius of M is below 1.
    lam = _augmented_top_eigenvalue(LINEAR)
    bound = heavy_ball_bound(LINEAR, mu)
    assert bound == pytest.approx(2 * (1 + mu) / lam, rel=1e-12)
    if mu == 0:
        assert bound == stability_bound(LINEAR)
    X = load_task_data(LINEAR).X_train
    A = np.hstack([X, np.ones((len(X), 1))])
    H = A.T @ A / len(X)
    eye, zero = np.eye(len(H)), np.zeros_like(H)

    def radius(lr: float) -> float:
        M = np.block([[(1 + mu) * eye - lr * H, -mu * eye], [eye, zero]])
        return float(np.abs(np.linalg.eigvals(M)).max())

    assert radius(0.999 * bound) < 1 < radius(1.001 * bound)


@pytest.mark.parametrize("mu", [0.0, 0.5])
def test_full_batch_momentum_is_stable_just_below_the_bound_only(mu: float) -> None:
    # The engine's SGD with momentum mu (torch semantics) on the least-squares task, full batch:
    # 2 % below the bound the loss falls; 2 % above it grows past divergence_factor.
    bound = heavy_ball_bound(LINEAR, mu)
    train = TrainSpec(steps=400, batch_size=None, eval_every=400)
    below, above = (
        spec(LINEAR, "sgd", "constant", f * bound, 0, train, {"momentum": mu}) for f in (0.98, 1.02)
    )
    ok, diverged = train_group([below, above])
    assert ok.status == "ok" and ok.eval_train_loss[-1] < ok.eval_train_loss[0]
    assert diverged.status == "diverged"
