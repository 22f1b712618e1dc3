"""What every update rule keeps, with the configurations on the first axis of every array.

A rule (one class per ``torch.optim`` class, in this package) updates a stack of ``K``
configurations at once. Everything it keeps is indexed by configuration first, so keeping,
reordering or repeating configurations (divergence, forks) is plain indexing, done here once
for every rule:

- ``c``: its constants, a NamedTuple made once from the hyperparameters. Two kinds, named so
  that the kind shows: the hyperparameters the per-step scalars come from (bias corrections,
  Adagrad's ``clr``, NAdam's ``mu``), as float64 ``(K,)`` vectors under torch's names (torch
  computes those scalars in Python floats), and the operands of the elementwise update as
  ``(K, 1, 1)`` arrays of the parameters' dtype under the compiled kernels' short names (``wd``,
  ``b1c`` = 1 - beta1, ...): numpy broadcasts them over ``(K, a, b)``, the kernels read the same
  array as a ``(K,)`` vector. ``None`` marks a term the group does not have (the flags that
  decide it are equal across a group: ``lrbench.core.optimizers.group_key``).
- ``state``: per parameter array, torch's state buffers under torch's names, each ``(K, a, b)``.
- ``rows``: state kept per configuration, ``(K,)`` vectors (SGD's ``started``, NAdam's
  ``mu_product``).
- ``scratch``: one work array per parameter array, for numpy's ``out=``.

Nothing here changes numpy's global settings.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

Hyperparameters = Sequence[Mapping[str, Any]]

# A rule's constants: a NamedTuple of float64 vectors and operands (or None), see above.
C = TypeVar("C", bound=NamedTuple)


def vector(hparams: Hyperparameters, name: str) -> np.ndarray:
    """Hyperparameter ``name`` of every configuration, as a float64 ``(K,)`` vector."""
    return np.array([float(h[name]) for h in hparams])


def operand(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A float64 ``(K,)`` vector as an operand: ``(K, 1, 1)`` in the parameters' dtype (one
    rounding, from float64, as torch rounds a Python float into a tensor's dtype), contiguous
    as the kernels need it (a row of the engine's momentum table may be a strided view)."""
    return np.ascontiguousarray(x, dtype=dtype).reshape(-1, 1, 1)


def _take(c: C, idx: np.ndarray) -> C:
    """The constants of configurations ``idx`` (each vector or operand indexed, None kept)."""
    return c._make(None if v is None else v[idx] for v in c)


class Rule(Generic[C]):
    """The stacked state of one update rule (see the module docstring); subclasses add ``step``.

    ``step(params, grads, k, lr, mom)`` updates ``params`` in place (``grads`` may be
    overwritten) at step ``k`` (1, 2, ...) with float64 ``(K,)`` learning rates ``lr`` and, under
    ``cycle_momentum``, the step's float64 ``(K,)`` momentum (or beta1) ``mom``, else None.
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        c: C,
        state: list[dict[str, np.ndarray]],
        rows: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.dtype = params[0].dtype
        self.c = c
        self.state = state
        self.rows = rows or {}
        self.scratch = [np.empty_like(p) for p in params]

    def step(
        self,
        params: list[np.ndarray],
        grads: list[np.ndarray],
        k: int,
        lr: np.ndarray,
        mom: np.ndarray | None,
    ) -> None:
        raise NotImplementedError

    def kinds(self, mom: np.ndarray | None) -> np.ndarray | None:
        """Under cycled momentum, a label per configuration: rows with different labels need
        different code this step (torch branches on the momentum's value), so they step apart.
        None: one code path for all (every rule without a momentum buffer)."""
        return None

    def keep(self, idx: np.ndarray) -> None:
        """Keep configurations ``idx`` (in that order, repeats allowed): constants and state."""
        self.c = _take(self.c, idx)
        self.state = [{n: v[idx] for n, v in st.items()} for st in self.state]
        self.rows = {n: v[idx] for n, v in self.rows.items()}
        self.scratch = [np.empty((idx.size, *s.shape[1:]), dtype=s.dtype) for s in self.scratch]

    def take(self, idx: np.ndarray) -> Rule[C]:
        """A copy holding configurations ``idx`` only (this rule is left as it is)."""
        part = copy.copy(self)
        part.keep(idx)
        return part

    def put(self, idx: np.ndarray, part: Rule[C]) -> None:
        """Write the state of ``part`` (from :meth:`take` with the same ``idx``) back."""
        for st, part_st in zip(self.state, part.state, strict=True):
            for n, v in part_st.items():
                st[n][idx] = v
        for n, v in part.rows.items():
            self.rows[n][idx] = v


def add_l2(p: np.ndarray, g: np.ndarray, s: np.ndarray, wd: np.ndarray) -> None:
    """``g = g + theta * wd`` (torch: ``grad = grad.add(param, alpha=weight_decay)``)."""
    np.multiply(p, wd, out=s)
    np.add(g, s, out=g)
