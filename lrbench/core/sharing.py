"""Planning a lockstep group once, and the shared prefixes that planning finds.

Planning (:func:`plan_group`) happens once per group, before training: the specs are ordered by
update rule (:func:`rule_key`), every update's learning rate is tabulated (:func:`lr_tables`),
and the fork plan (:func:`fork_plan`) says which configurations share a row of the stack and
when they part. The engine trains the :class:`GroupPlan` it is handed; ``lrbench validate`` and
the executor's cost estimates read the same plan (:attr:`GroupPlan.row_steps`).

Shared prefixes. Two configurations of one lockstep group whose inputs agree bit for bit (the
same update rule and optimizer hyperparameters, the same seed, hence the same initial parameters
and minibatch order, and the same cycled-momentum table) compute identical states for as long
as their learning rates agree. A ``step`` schedule with milestones at 50 % and 75 % follows
``constant`` at the same base lr for its first half, for instance. Such configurations ride on
one row of the stack; at the first step whose learning rate differs, the row is *forked*: the
stack gets a copy of the row (parameters and optimizer state) and each copy goes on with its own
schedule.

Because every product and reduction of the engine is per configuration (a configuration gives
the same bits alone or in any group), a configuration on a shared row gets exactly the bits it
would get alone: sharing skips repeated work and changes no number.

Configurations are never shared when their schedule depends on training (``plateau``), or when
the group is an LR range test (a given learning-rate table, or probe rows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from lrbench.core import schedules
from lrbench.core.optimizers import group_key as optimizer_group_key
from lrbench.spec import RunSpec

Fork = tuple[int, int, list[int]]  # (parent's lead, child's lead, the child's configurations)


def group_key(spec: RunSpec) -> tuple:
    """Specs with equal keys can train together in one lockstep group: the same task (data and
    model) and training settings (batch size, steps, dtype, ...)."""
    return (spec.task, spec.train)


def rule_key(spec: RunSpec) -> tuple:
    """Specs with equal keys share one optimizer update over a contiguous slice of the stack:
    the optimizer's update rule and structural flags, and whether momentum is cycled."""
    cycle = bool(dict(spec.schedule_params).get("cycle_momentum", False))
    return (optimizer_group_key(spec.optimizer, dict(spec.optimizer_params)), cycle)


def share_key(spec: RunSpec, k: int, shareable: bool = True) -> tuple:
    """Configurations of one group with equal keys compute equal bits while their learning
    rates agree: same update rule, optimizer hyperparameters and seed, and, with
    ``cycle_momentum``, the same schedule (its momentum table). ``k`` makes the key unique where
    nothing may be shared (plateau schedules, or ``shareable`` false)."""
    if not shareable or schedules.is_stateful(spec.schedule):
        return ("alone", k)
    cycle = rule_key(spec)[1]
    schedule = (spec.schedule, spec.schedule_params, spec.lr) if cycle else None
    return (rule_key(spec), spec.optimizer, spec.optimizer_params, spec.seed, schedule)


def lr_tables(specs: Sequence[RunSpec]) -> np.ndarray:
    """Every update's learning rate ``(T, K)`` of specs of one group, from their schedules, in
    the group's dtype (the values the engine uses and compares)."""
    T = specs[0].train.steps
    lrs = np.empty((T, len(specs)))
    for k, s in enumerate(specs):
        lrs[:, k] = schedules.lr_table(s.schedule, dict(s.schedule_params), s.lr, T)
    return lrs.astype(specs[0].train.dtype)


def families(specs: Sequence[RunSpec], lrs: np.ndarray) -> list[list[int]]:
    """Positions of specs of one group that may share rows: equal :func:`share_key` and the same
    first learning rate (``lrs[0]``, with ``lrs`` their :func:`lr_tables`). Specs of different
    families never share, so cutting a group between families loses no sharing."""
    out: dict[tuple, list[int]] = {}
    for k, s in enumerate(specs):
        out.setdefault((share_key(s, k), lrs[0, k]), []).append(k)
    return list(out.values())


def fork_plan(
    keys: Sequence[Hashable], lrs: np.ndarray
) -> tuple[list[list[int]], dict[int, list[Fork]]]:
    """Starting rows and the forks, from each configuration's sharing key and lr table.

    ``keys[k]`` is configuration ``k``'s key (equal keys: equal bits under equal learning
    rates); ``lrs`` is ``(T, K)``, the learning rate of every update as the engine uses it.
    Returns the starting rows, each a list of configurations whose first entry is the row's
    *lead* (the configuration whose learning rates the row follows), in order of their leads;
    and, by step ``t``, the forks to make before update ``t``: ``(parent, child, members)``,
    where the row led by ``parent`` hands ``members`` (led by ``child``) to a new row.
    """
    T = lrs.shape[0]
    classes: dict[Hashable, list[int]] = defaultdict(list)
    for k, key in enumerate(keys):
        classes[key].append(k)
    forks: dict[int, list[Fork]] = defaultdict(list)

    def split(members: list[int], start: int) -> list[int]:
        """Forks among ``members`` (equal up to ``start``); returns those that never leave."""
        lead, rest = members[0], members[1:]
        if not rest:
            return members
        differs = lrs[start:, rest] != lrs[start:, [lead]]
        first = np.where(differs.any(axis=0), differs.argmax(axis=0) + start, T)
        stay = [lead]
        by_step: dict[int, list[int]] = defaultdict(list)
        for k, f in zip(rest, first.tolist()):
            if f == T:
                stay.append(k)
            else:
                by_step[f].append(k)
        for f in sorted(by_step):
            part = by_step[f]
            forks[f].append((lead, part[0], part))
            split(part, f)
        return stay

    rows = []
    for members in classes.values():
        split(members, 0)
        rows.append(members)
    rows.sort(key=lambda m: m[0])
    return rows, dict(forks)


@dataclass(frozen=True, eq=False)
class GroupPlan(Sequence[RunSpec]):
    """One lockstep group, planned once (:func:`plan_group`) and handed to the engine.

    As a sequence it is the group's specs in the order given (the engine returns results in
    that order). For the engine, indices ``k`` refer to ``specs``: the same specs ordered by
    update rule (:func:`rule_key`: each rule updates a contiguous slice of the stack), with
    ``specs[i] is given[order[i]]``. ``lrs`` ``(T, K)`` is every update's learning rate in the
    group's dtype; ``rows`` and ``forks`` are the fork plan (:func:`fork_plan`); ``plateau``
    ``(K,)`` marks the configurations whose learning rate a plateau schedule decides during
    training (their ``lrs`` column holds the rate before any reduction).
    """

    given: tuple[RunSpec, ...]
    specs: tuple[RunSpec, ...]
    order: tuple[int, ...]
    lrs: np.ndarray
    rows: list[list[int]]
    forks: dict[int, list[Fork]]
    plateau: np.ndarray

    def __len__(self) -> int:
        return len(self.given)

    @overload
    def __getitem__(self, i: int) -> RunSpec: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[RunSpec, ...]: ...

    def __getitem__(self, i: int | slice) -> RunSpec | tuple[RunSpec, ...]:
        return self.given[i]

    @property
    def row_steps(self) -> int:
        """Steps of stack rows that training the group computes: ``K * T`` less what shared
        prefixes save (each starting row runs ``T`` steps, a fork at ``t`` adds ``T - t``;
        divergence, unknown in advance, not counted)."""
        T = self.lrs.shape[0]
        return len(self.rows) * T + sum((T - t) * len(f) for t, f in self.forks.items())


def plan_group(
    specs: Sequence[RunSpec],
    lrs: np.ndarray | None = None,
    *,
    scheduled: bool = True,
    shareable: bool = True,
) -> GroupPlan:
    """Plan specs of one lockstep group (equal :func:`group_key`): their order by update rule,
    their learning-rate table and their fork plan.

    ``lrs`` ``(T, K)``, columns in the order of ``specs``: every update's learning rate (by
    default the specs' schedules', :func:`lr_tables`; a caller that already has that table
    passes it). ``scheduled=False``: ``lrs`` replaces the schedules (the LR range test's ramp),
    so no plateau schedule adapts it. ``shareable=False``: no two configurations share a row.
    """
    key = group_key(specs[0])
    if any(group_key(s) != key for s in specs[1:]):
        raise ValueError("plan_group needs specs of one group")
    ranks = {rule: i for i, rule in enumerate(dict.fromkeys(rule_key(s) for s in specs))}
    order = sorted(range(len(specs)), key=lambda k: ranks[rule_key(specs[k])])
    ordered = tuple(specs[k] for k in order)
    train = specs[0].train
    if lrs is None:
        table = lr_tables(ordered)
    else:
        table = np.asarray(lrs, dtype=np.float64).reshape(train.steps, len(specs))[:, order]
        table = table.astype(train.dtype)
    sharing = shareable and scheduled
    rows, forks = fork_plan([share_key(s, k, sharing) for k, s in enumerate(ordered)], table)
    plateau = np.array([scheduled and schedules.is_stateful(s.schedule) for s in ordered])
    return GroupPlan(tuple(specs), ordered, tuple(order), table, rows, forks, plateau)


def row_steps(group: GroupPlan | Sequence[RunSpec]) -> int:
    """Steps of stack rows that training a group computes (:attr:`GroupPlan.row_steps`); specs
    of one group not yet planned are planned here."""
    if not group:
        return 0
    plan = group if isinstance(group, GroupPlan) else plan_group(group)
    return plan.row_steps


class Rows:
    """Which configurations ride on which row of the stack.

    ``lead[r]`` is row ``r``'s lead configuration; ``owners`` lists every configuration still
    training, and ``owner_row`` the row that computes it, so a per-row array ``v`` gives the
    per-configuration values ``spread(v)`` (``v[owner_row]``) for ``owners``.
    """

    def __init__(self, rows: list[list[int]]) -> None:
        self.members = [list(m) for m in rows]
        self._index()

    def _index(self) -> None:
        self.lead = np.array([m[0] for m in self.members], dtype=np.intp)
        self.owners = np.array([k for m in self.members for k in m], dtype=np.intp)
        self.owner_row = np.repeat(
            np.arange(len(self.members)), [len(m) for m in self.members]
        ).astype(np.intp)
        self._one_each = self.owners.size == self.lead.size  # one configuration a row

    def spread(self, values: np.ndarray) -> np.ndarray:
        """Per-row ``values`` as per-configuration values, in the order of ``owners``."""
        return values if self._one_each else values[self.owner_row]

    def __len__(self) -> int:
        return len(self.members)

    def drop(self, bad: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Remove the rows where ``bad`` is true; returns the rows kept (an index for the
        stack) and the configurations removed."""
        gone = [k for r in np.flatnonzero(bad) for k in self.members[r]]
        keep = np.flatnonzero(~bad)
        self.members = [self.members[r] for r in keep]
        self._index()
        return keep, gone

    def fork(self, forks: Sequence[Fork]) -> np.ndarray | None:
        """Make ``forks`` in order (a child may fork again at the same step; a fork whose parent
        no longer trains is skipped: its part diverged with it). Returns the stack index that
        repeats each parent row right after itself, or None when nothing forks."""
        src = list(range(len(self.members)))  # the stack row each row copies
        leads = [m[0] for m in self.members]
        made = False
        for parent, child, part in forks:
            if parent not in leads:
                continue
            r = leads.index(parent)
            taken = set(part)
            self.members[r] = [k for k in self.members[r] if k not in taken]
            self.members.insert(r + 1, list(part))
            src.insert(r + 1, src[r])
            leads.insert(r + 1, child)
            made = True
        if not made:
            return None
        self._index()
        return np.array(src, dtype=np.intp)
