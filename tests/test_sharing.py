"""Shared prefixes (lrbench.core.sharing): configurations that compute the same bits ride on one row
until their learning rates part, and each gets exactly the bits it gets when trained alone."""

from __future__ import annotations

import numpy as np
import pytest

from lrbench.core import sharing
from lrbench.core.engine import train_group
from lrbench.core.models import Model
from lrbench.core.schedules import lr_table
from lrbench.core.sharing import Rows, fork_plan, plan_group, row_steps, share_key
from lrbench.spec import TrainSpec
from tests.test_engine import DIGITS_LOGREG, DIGITS_MLP, assert_same, spec


def test_fork_plan_by_hand():
    # Five configurations of one key, T = 6 (worked out by hand):
    #   0: 1 1 1 1 1 1   (lead of the row)
    #   1: 1 1 1 1 1 1   (equal to 0 throughout: never forks)
    #   2: 1 1 1 5 5 5   (parts from 0 at t = 3)
    #   3: 1 1 1 5 5 7   (parts from 0 at t = 3 with 2, then from 2 at t = 5)
    #   4: 2 2 2 2 2 2   (parts from 0 at t = 0)
    # and configuration 5 with another key: a row of its own.
    lrs = np.array(
        [
            [1, 1, 1, 1, 2, 1],
            [1, 1, 1, 1, 2, 1],
            [1, 1, 1, 1, 2, 1],
            [1, 1, 5, 5, 2, 1],
            [1, 1, 5, 5, 2, 1],
            [1, 1, 5, 7, 2, 1],
        ],
        dtype=float,
    )
    rows, forks = fork_plan(["a"] * 5 + ["b"], lrs)
    assert rows == [[0, 1, 2, 3, 4], [5]]
    assert forks == {0: [(0, 4, [4])], 3: [(0, 2, [2, 3])], 5: [(2, 3, [3])]}


def test_forks_of_one_step_can_chain():
    # Three different first learning rates: 1 parts from 0, then 2 from 1, all at t = 0.
    lrs = np.array([[0.1, 0.01, 0.001]] * 4)
    rows, forks = fork_plan(["k"] * 3, lrs)
    assert rows == [[0, 1, 2]]
    assert forks == {0: [(0, 1, [1, 2]), (1, 2, [2])]}
    r = Rows(rows)
    idx = r.fork(forks[0])
    assert idx.tolist() == [0, 0, 0]  # both new rows copy the one row there was
    assert r.members == [[0], [1], [2]] and r.lead.tolist() == [0, 1, 2]


def test_rows_drop_takes_every_member_and_skips_its_forks():
    r = Rows([[0, 1, 2], [3]])
    keep, gone = r.drop(np.array([True, False]))
    assert keep.tolist() == [1] and gone == [0, 1, 2]
    assert r.fork([(0, 2, [2])]) is None  # the parent diverged: nothing to fork
    assert r.owners.tolist() == [3] and r.owner_row.tolist() == [0]


def shared_group(task):
    """Schedules that agree on a prefix (constant / step / multistep / cosine at one lr), two
    seeds, a warmup, a plateau schedule (never shared) and a pair that diverges before its
    milestone, all in one group."""
    train = TrainSpec(steps=60, batch_size=64, eval_every=10)
    cases = [
        ("constant", None, 0.1, 0),
        ("step", {"milestones": (0.5,), "gamma": 0.1}, 0.1, 0),
        ("step", {"milestones": (0.5, 0.75), "gamma": 0.1}, 0.1, 0),
        ("step", {"milestones": (0.25,), "gamma": 0.5}, 0.1, 0),
        ("cosine", None, 0.1, 0),
        ("constant", None, 0.1, 1),
        ("step", {"milestones": (0.5,), "gamma": 0.1}, 0.1, 1),
        ("constant", {"warmup": 5}, 0.1, 0),
        ("step", {"milestones": (0.5,), "gamma": 0.1, "warmup": 5}, 0.1, 0),
        ("plateau", {"patience": 0, "factor": 0.5}, 0.1, 0),
        ("constant", None, 1e4, 0),  # these two diverge before step 30, on one row
        ("step", {"milestones": (0.5,), "gamma": 0.1}, 1e4, 0),
    ]
    return [spec(task, "momentum", s, lr, seed, train, None, p) for s, p, lr, seed in cases]


@pytest.mark.parametrize("task", [DIGITS_LOGREG, DIGITS_MLP])
def test_shared_rows_give_each_configuration_its_bits_alone(task):
    specs = shared_group(task)
    together = train_group(specs)
    for s, r in zip(specs, together):
        assert_same(r, train_group([s])[0])  # alone: a group of one shares nothing
    assert together[-1].status == "diverged" and together[-2].status == "diverged"
    assert together[-1].diverged_at == together[-2].diverged_at < 30


def test_sharing_skips_the_work_it_claims(monkeypatch):
    """Count the stack rows that the forward/backward pass computes: with sharing, that is
    ``row_steps`` (fewer than K * T), and the results still equal the unshared ones."""
    specs = [s for s in shared_group(DIGITS_LOGREG) if s.lr < 1]
    T = specs[0].train.steps
    computed = []
    original = Model.loss_and_grad

    def counting(self, params, X, y):
        computed.append(params[0].shape[0])
        return original(self, params, X, y)

    monkeypatch.setattr(Model, "loss_and_grad", counting)
    shared = train_group(specs)
    # by hand: rows start as {constant, step x3, cosine, warmup x2} (seed 0), {seed 1 x2},
    # plateau; forks: cosine at t=1, warmups at t=0, step(0.25) at 15, step(0.5[,0.75]) at 30,
    # step(0.5,0.75) from step(0.5) at 45, seed-1 step at 30, warmup step at 33 (its milestone
    # is half of the 55 steps after the warmup: 5 + 28)
    expected = 3 * T + (T - 1) + T + (T - 15) + (T - 30) + (T - 45) + (T - 30) + (T - 33)
    assert row_steps(specs) == expected < len(specs) * T
    # a row forks after the forward/backward pass of its fork step, which both copies share:
    # each of the 7 forks computes one forward/backward pass fewer than its update steps
    assert sum(computed) == expected - 7
    monkeypatch.setattr(sharing, "share_key", lambda s, k, shareable=True: ("alone", k))
    computed.clear()
    unshared = train_group(specs)
    assert sum(computed) == len(specs) * T
    for a, b in zip(shared, unshared):
        assert_same(a, b)


def test_share_keys_separate_what_must_not_share():
    train = TrainSpec(steps=10, batch_size=32)
    base = spec(DIGITS_LOGREG, "adam", "constant", 0.1, 0, train)
    assert share_key(base, 0) == share_key(spec(DIGITS_LOGREG, "adam", "cosine", 0.3, 0, train), 1)
    for other in (
        spec(DIGITS_LOGREG, "adam", "constant", 0.1, 1, train),  # another seed
        spec(DIGITS_LOGREG, "adam", "constant", 0.1, 0, train, {"weight_decay": 0.1}),
        spec(DIGITS_LOGREG, "adamw", "constant", 0.1, 0, train),
        spec(DIGITS_LOGREG, "adam", "plateau", 0.1, 0, train),
    ):
        assert share_key(other, 1) != share_key(base, 0)
    assert share_key(base, 0, shareable=False) != share_key(base, 1, shareable=False)


def test_plan_orders_by_update_rule_and_tabulates_each_schedule():
    # Reference: the schedule module's own tables, and the input order restored by ``order``.
    train = TrainSpec(steps=40, batch_size=32)
    specs = [
        spec(DIGITS_LOGREG, "adam", "cosine", 0.01, 0, train),
        spec(DIGITS_LOGREG, "sgd", "constant", 0.1, 1, train),
        spec(DIGITS_LOGREG, "adam", "plateau", 0.02, 0, train),
        spec(DIGITS_LOGREG, "sgd", "step", 0.1, 1, train),
    ]
    plan = plan_group(specs)
    assert list(plan) == specs and len(plan) == 4 and plan[1] is specs[1]
    assert plan.specs == tuple(specs[k] for k in plan.order)
    assert [s.optimizer for s in plan.specs] == ["adam", "adam", "sgd", "sgd"]  # contiguous rules
    for k, s in enumerate(plan.specs):
        expected = lr_table(s.schedule, dict(s.schedule_params), s.lr, 40)
        assert np.array_equal(plan.lrs[:, k], expected)
    assert plan.plateau.tolist() == [False, True, False, False]
    # by hand: sgd constant and step (seed 1) share a row until step's first milestone, 0.5 x 40
    assert plan.rows == [[0], [1], [2, 3]] and plan.forks == {20: [(2, 3, [3])]}
    assert plan.row_steps == row_steps(specs) == 3 * 40 + 20
    # a given table (the range test) replaces the schedules: no plateau tracking, no sharing
    ramp = np.geomspace(1e-4, 1.0, 40)[:, None].repeat(4, axis=1)
    fixed = plan_group(specs, ramp, scheduled=False)
    assert not fixed.plateau.any() and len(fixed.rows) == 4 and not fixed.forks
    assert np.array_equal(fixed.lrs, ramp)


def test_a_plan_is_trained_without_planning_again(monkeypatch):
    specs = shared_group(DIGITS_LOGREG)
    plan = plan_group(specs)
    by_specs = train_group(specs)

    def refuse(*args, **kwargs):
        raise AssertionError("planned again")

    monkeypatch.setattr(sharing, "lr_tables", refuse)
    monkeypatch.setattr(sharing, "fork_plan", refuse)
    monkeypatch.setattr(sharing, "plan_group", refuse)
    for a, b in zip(train_group(plan), by_specs):
        assert a.spec == b.spec
        assert_same(a, b)
