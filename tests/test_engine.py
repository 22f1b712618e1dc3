"""The lockstep engine: lockstep equals one-at-a-time, determinism, divergence, conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrbench.core.engine import _Batches, train_group
from lrbench.core.optimizers import resolve_optimizer
from lrbench.core.schedules import lr_table, resolve_schedule
from lrbench.core.sharing import group_key, rule_key
from lrbench.spec import RunSpec, TaskSpec, TrainSpec, freeze

DIGITS_LOGREG = TaskSpec("digits", "logreg")
DIGITS_MLP = TaskSpec("digits", "mlp", model_params=freeze({"hidden": (16,), "activation": "relu"}))


def spec(task, optimizer, schedule, lr, seed, train, opt_params=None, sched_params=None):
    return RunSpec(
        task=task,
        train=train,
        optimizer=optimizer,
        optimizer_params=freeze(resolve_optimizer(optimizer, opt_params, "o")),
        schedule=schedule,
        schedule_params=freeze(resolve_schedule(schedule, sched_params, "s")),
        lr=lr,
        seed=seed,
    )


def assert_same(a, b):
    """Bit-identical records (NaNs in the same places)."""
    assert a.status == b.status
    assert a.steps_done == b.steps_done
    assert a.diverged_at == b.diverged_at
    for name in ("log_step", "log_lr", "log_loss", "eval_step", "eval_train_loss",
                 "eval_val_loss", "eval_val_accuracy"):  # fmt: skip
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=True), name


def mixed_group(task, optimizer, opt_params=None):
    """Different lrs, seeds and schedules (one stateful) in one group; one lr that diverges."""
    train = TrainSpec(steps=90, batch_size=32, eval_every=15)
    cases = [
        ("constant", None, 0.01, 0),
        ("cosine", {"warmup": 0.1}, 0.1, 1),
        ("step", {"milestones": (0.5,), "gamma": 0.1}, 0.3, 0),
        ("plateau", {"patience": 0, "factor": 0.5}, 0.05, 2),
        ("onecycle", None, 0.2, 1),
        ("constant", None, 1e4, 3),  # diverges
        ("exponential", {"gamma": 0.98}, 0.03, 0),
    ]
    return [spec(task, optimizer, s, lr, seed, train, opt_params, p) for s, p, lr, seed in cases]


@pytest.mark.parametrize(
    ("task", "optimizer", "params"),
    [
        (DIGITS_LOGREG, "sgd", None),
        (DIGITS_MLP, "momentum", {"momentum": 0.9}),
        (DIGITS_MLP, "adam", None),
        (DIGITS_LOGREG, "rmsprop", {"centered": True}),
    ],
)
def test_lockstep_equals_one_at_a_time(task, optimizer, params):
    # Reference: the same specs trained alone (K = 1). The design promises identical bits.
    specs = mixed_group(task, optimizer, params)
    assert len({group_key(s) for s in specs}) == 1
    together = train_group(specs)
    statuses = [r.status for r in together]
    assert "diverged" in statuses and "ok" in statuses
    for s, r in zip(specs, together):
        assert_same(r, train_group([s])[0])
    # and in another order and grouping: a subset, reversed
    subset = specs[::-2]
    for s, r in zip(subset, train_group(subset)):
        assert_same(r, together[specs.index(s)])


def test_several_update_rules_in_one_group_equal_each_alone():
    # One stack, five update rules interleaved in the input order, one diverging config:
    # every result equals the configuration trained alone (the design's promise), in input order.
    train = TrainSpec(steps=60, batch_size=32, eval_every=15)
    specs = [
        spec(DIGITS_MLP, "adam", "cosine", 0.01, 0, train),
        spec(DIGITS_MLP, "sgd", "constant", 0.1, 1, train),
        spec(DIGITS_MLP, "nesterov", "step", 0.05, 0, train),
        spec(DIGITS_MLP, "adam", "constant", 3.0, 2, train),
        spec(DIGITS_MLP, "rmsprop", "constant", 0.001, 0, train),
        spec(DIGITS_MLP, "sgd", "constant", 1e4, 0, train),
        spec(DIGITS_MLP, "adamw", "onecycle", 0.01, 1, train),
    ]
    assert len({group_key(s) for s in specs}) == 1
    together = train_group(specs)
    assert [r.spec for r in together] == specs
    assert together[5].status == "diverged"
    for s, r in zip(specs, together):
        assert_same(r, train_group([s])[0])


def test_same_seed_same_bits_and_seed_changes_order():
    train = TrainSpec(steps=60, batch_size=16)
    a = spec(DIGITS_MLP, "adam", "cosine", 0.01, 5, train)
    r1, r2 = train_group([a])[0], train_group([a])[0]
    assert_same(r1, r2)
    b = spec(DIGITS_MLP, "adam", "cosine", 0.01, 6, train)
    r3 = train_group([b])[0]
    assert not np.array_equal(r1.log_loss, r3.log_loss)


def test_logged_values_follow_the_conventions():
    # logreg starts at zero, so the first minibatch loss is exactly ln(C) (closed form),
    # and the logged lr of update t is schedule(t) (the schedule module's table).
    train = TrainSpec(steps=50, batch_size=40, eval_every=10, log_every=3)
    s = spec(DIGITS_LOGREG, "sgd", "cosine", 0.1, 0, train)
    r = train_group([s])[0]
    assert r.log_loss[0] == pytest.approx(math.log(10), rel=1e-15)
    assert r.eval_train_loss[0] == pytest.approx(math.log(10), rel=1e-15)
    assert list(r.log_step) == list(range(0, 50, 3))
    table = lr_table("cosine", dict(s.schedule_params), 0.1, 50)
    assert np.array_equal(r.log_lr, table[::3])
    assert list(r.eval_step) == [0, 10, 20, 30, 40, 50]
    assert r.steps_per_epoch == math.ceil(1437 / 40)
    assert r.status == "ok" and r.steps_done == 50


def test_minibatches_cover_each_row_once_per_epoch_last_partial_kept():
    # DESIGN.md: a fresh permutation every epoch, ceil(n / batch) steps, last batch partial.
    b = _Batches([0, 1], n=10, batch_size=4)
    assert b.per_epoch == 3
    for epoch in range(2):
        chunks = [b.indices(epoch * 3 + j).copy() for j in range(3)]
        assert [c.shape[1] for c in chunks] == [4, 4, 2]
        for k in range(2):
            rows = np.concatenate([c[k] for c in chunks])
            assert sorted(rows) == list(range(10))


def test_divergence_is_a_result_with_its_step():
    train = TrainSpec(steps=200, batch_size=32, divergence_factor=1e3)
    s = spec(DIGITS_MLP, "sgd", "constant", 50.0, 0, train)
    r = train_group([s])[0]
    assert r.status == "diverged"
    t = r.diverged_at
    assert t is not None and 0 < t < 200 and r.steps_done == t
    # its curve ends at the step where it was detected, with the offending loss recorded
    assert r.log_step[-1] == t
    initial = r.eval_train_loss[0]
    assert not (r.log_loss[-1] <= 1e3 * initial)
    assert np.all(r.log_loss[:-1] <= 1e3 * initial)


def test_full_batch_least_squares_matches_closed_form():
    # Closed form for gradient descent on f(w) = 0.5 mean((A w - y)^2), A = [X 1]:
    # with H = A^T A / n = sum_i lam_i v_i v_i^T and w* the minimiser, from w_0 = 0,
    # f(w_t) = f* + 0.5 sum_i lam_i c_i^2 prod_{s<t} (1 - eta_s lam_i)^2, c = V^T (w_0 - w*).
    from lrbench.core.tasks import load_task_data

    task = TaskSpec("regression", "linear", dataset_params=freeze({"n_samples": 200, "n_features": 5, "n_informative": 5, "noise": 3.0, "seed": 1}))  # fmt: skip
    train = TrainSpec(steps=40, batch_size=None, eval_every=1)
    s = spec(task, "sgd", "exponential", 0.5, 0, train, None, {"gamma": 0.97})
    r = train_group([s])[0]
    data = load_task_data(task)
    X, y = data.X_train, data.y_train
    A = np.hstack([X, np.ones((len(X), 1))])
    H = A.T @ A / len(X)
    lam, V = np.linalg.eigh(H)
    w_star = np.linalg.lstsq(A, y, rcond=None)[0]
    f_star = 0.5 * np.mean((A @ w_star - y) ** 2)
    c = V.T @ (0 - w_star)
    etas = lr_table("exponential", dict(s.schedule_params), 0.5, 40)
    expected = []
    prod = np.ones_like(lam)
    for t in range(41):
        expected.append(f_star + 0.5 * np.sum(lam * c**2 * prod**2))
        if t < 40:
            prod = prod * (1 - etas[t] * lam)
    np.testing.assert_allclose(r.eval_train_loss, expected, rtol=1e-10)


def test_full_batch_logreg_reaches_sklearn_optimum():
    # Reference: scikit-learn LogisticRegression without penalty (lbfgs to tight tolerance)
    # on a non-separable problem (label noise); full-batch Nesterov from zero gets there.
    from sklearn.linear_model import LogisticRegression

    from lrbench.core.tasks import load_task_data

    task = TaskSpec("classification", "logreg", dataset_params=freeze({"n_samples": 300, "n_features": 5, "n_informative": 3, "n_classes": 3, "flip_y": 0.2, "seed": 0}))  # fmt: skip
    train = TrainSpec(steps=3000, batch_size=None, eval_every=3000)
    s = spec(task, "nesterov", "constant", 1.0, 0, train)
    r = train_group([s])[0]
    data = load_task_data(task)
    kwargs = {"C": np.inf} if _sklearn_needs_C() else {"penalty": None}
    clf = LogisticRegression(tol=1e-12, max_iter=10000, **kwargs).fit(data.X_train, data.y_train)
    p = clf.predict_proba(data.X_train)
    sk_loss = -np.mean(np.log(p[np.arange(len(p)), data.y_train]))
    assert r.eval_train_loss[-1] == pytest.approx(sk_loss, rel=1e-8)


def _sklearn_needs_C() -> bool:
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    return (major, minor) >= (1, 8)


def test_cycle_momentum_group_matches_alone():
    train = TrainSpec(steps=60, batch_size=32)
    specs = [
        spec(DIGITS_LOGREG, "momentum", "onecycle", 0.1, 0, train, None, {"cycle_momentum": True}),
        spec(DIGITS_LOGREG, "momentum", "cyclic", 0.1, 1, train, None, {"cycle_momentum": True, "step_size_up": 10}),
        spec(DIGITS_LOGREG, "adam", "onecycle", 0.1, 2, train, None, {"cycle_momentum": True}),
    ]  # fmt: skip
    plain = spec(DIGITS_LOGREG, "momentum", "onecycle", 0.1, 0, train)
    assert rule_key(plain) != rule_key(specs[0])  # cycling momentum is its own update rule
    assert group_key(plain) == group_key(specs[0])  # but shares the forward/backward pass
    r_plain = train_group([plain])[0]
    assert not np.array_equal(r_plain.log_loss, train_group([specs[0]])[0].log_loss)
    specs = [*specs, plain]
    together = train_group(specs)
    for s, r in zip(specs, together):
        assert_same(r, train_group([s])[0])


def test_float32_runs_in_float32():
    train = TrainSpec(steps=20, batch_size=32, dtype="float32")
    r = train_group([spec(DIGITS_MLP, "adam", "constant", 0.01, 0, train)])[0]
    assert r.status == "ok"
    r64 = train_group(
        [spec(DIGITS_MLP, "adam", "constant", 0.01, 0, TrainSpec(steps=20, batch_size=32))]
    )[0]
    # same trajectory to float32 precision, not the same bits
    np.testing.assert_allclose(r.log_loss, r64.log_loss, rtol=1e-4)
    assert not np.array_equal(r.log_loss, r64.log_loss)
