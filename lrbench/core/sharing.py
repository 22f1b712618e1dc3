"""Shared prefixes: configurations of a group that compute the same bits train as one row.

Two configurations of one lockstep group whose inputs agree bit for bit (the same update rule
and optimizer hyperparameters, the same seed, hence the same initial parameters and minibatch
order, and the same cycled-momentum table) compute identical states for as long as their
learning rates agree. A ``step`` schedule with milestones at 50 % and 75 % follows ``constant``
at the same base lr for its first half, for instance. Such configurations ride on one row of
the stack; at the first step whose learning rate differs, the row is *forked*: the stack gets a
copy of the row (parameters and optimizer state) and each copy goes on with its own schedule.

Because every product and reduction of the engine is per configuration (a configuration gives
the same bits alone or in any group), a configuration on a shared row gets exactly the bits it
would get alone: sharing skips repeated work and changes no number.

Configurations are never shared when their schedule depends on training (``plateau``), or when
the group is an LR range test (``lr_table`` or probe rows given).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

Fork = tuple[int, int, list[int]]  # (parent's lead, child's lead, the child's configurations)


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
