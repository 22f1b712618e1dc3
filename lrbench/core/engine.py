"""The lockstep training engine: K configurations of one group trained as one stack.

A group shares its data, model, batch size, steps and dtype (:func:`lrbench.core.sharing.group_key`)
and arrives planned (:class:`lrbench.core.sharing.GroupPlan`): configurations ordered by update
rule (each rule updates a contiguous slice of the stack), every update's learning rate, and the
fork plan (which configurations share a row until their learning rates part). Each
configuration keeps its own schedule, hyperparameters, initialisation and minibatch order (both
from its own seed). Parameters carry a leading configuration axis and every product and
reduction is per configuration, so a configuration gives the same bits alone, in any group, or
on a shared row.

What the loop changes lives in two objects: the stack (:class:`_Stack`: each row's parameters,
update rule, minibatches, divergence threshold, learning rates and plateau state, forked,
dropped and reindexed together) and the records (:class:`lrbench.core.records.Records`: per-configuration logs and
evaluations, and the results built from them). Step ``t`` (0-based) of the loop:

1. evaluation, at ``t == 0`` and every ``eval_every`` steps: full training loss and accuracy,
   validation loss and accuracy; ``t == 0`` sets the divergence thresholds, later ones feed
   plateau schedules; a non-finite loss stops the configuration; with early stopping
   (:class:`lrbench.spec.EarlyStopping`), a configuration whose validation loss has not improved
   for ``patience`` evaluations stops too (``stopped_early``; it leaves the stack as a diverged
   one does, so its group shrinks and no other configuration's bits change); with
   ``train.track: [sharpness]``, the largest Hessian eigenvalue of the training loss
   (:mod:`lrbench.core.sharpness`);
2. forward and backward pass on each row's minibatch (the minibatch loss logged for step ``t``
   is this one, before the update);
3. fork: rows whose configurations' learning rates part at ``t`` are copied (after the pass,
   which the copies share);
4. learning rates ``lr_t`` (a plateau schedule's as it stands), logged with the loss;
5. divergence: a non-finite minibatch loss, or one above ``divergence_factor`` times the initial
   full training loss, stops the configuration (``diverged``; its curve ends at step ``t``);
6. the optimizer update with ``lr_t`` (and momentum, for ``cycle_momentum``);
7. for the LR range test, the loss on fixed probe rows after the update.

After the last step, one more evaluation at ``t == T``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from lrbench.core import schedules
from lrbench.core.data import Data
from lrbench.core.models import Model
from lrbench.core.optimizers import Optimizer
from lrbench.core.records import Records
from lrbench.core.sharing import Fork, GroupPlan, Rows, plan_group, rule_key
from lrbench.core.sharpness import top_eigenvalue
from lrbench.core.stopping import Patience
from lrbench.core.tasks import load_task_data, steps_per_epoch
from lrbench.spec import RunResult, RunSpec

Progress = Callable[[int], None]


def seed_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for initialisation and minibatch order, from one run seed."""
    init_ss, batch_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_ss), np.random.default_rng(batch_ss)


class _Batches:
    """Per-configuration minibatch indices: a fresh permutation per epoch from each run's
    seed (its batch stream, :func:`seed_streams`), the last partial batch kept. Full batch: the
    data in its stored order.

    Rows of one seed draw the same permutations, so each distinct seed draws once per epoch;
    when every row has one seed, the minibatch is gathered once and shared (a broadcast view,
    which the stacked products read like ``K`` copies).
    """

    def __init__(self, seeds: Sequence[int], n: int, batch_size: int | None) -> None:
        distinct = list(dict.fromkeys(seeds))
        self.rngs = [seed_streams(s)[1] for s in distinct]
        self._set_rows(np.array([distinct.index(s) for s in seeds], dtype=np.intp))
        self.n = n
        self.full = batch_size is None or batch_size >= n
        self.batch_size = n if batch_size is None or self.full else batch_size
        self.per_epoch = steps_per_epoch(n, batch_size)
        self.perms = np.empty((len(distinct), n), dtype=np.intp)

    def indices(self, t: int) -> np.ndarray:
        """The rows of step ``t`` for every configuration, ``(K, B)``."""
        return self.perms[self.row_seed, self._cols(t)]

    def _cols(self, t: int) -> slice:
        """Step ``t``'s place in the epoch's permutations (drawn at the epoch's first step)."""
        j = t % self.per_epoch
        if j == 0:
            for i, rng in enumerate(self.rngs):
                self.perms[i] = rng.permutation(self.n)
        return slice(j * self.batch_size, (j + 1) * self.batch_size)

    def take(self, X: np.ndarray, y: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The minibatch of step ``t``: ``X`` rows ``(K, B, d)`` and labels ``(K, B)``."""
        K = self.row_seed.size
        if self.full:
            return np.broadcast_to(X, (K, *X.shape)), np.broadcast_to(y, (K, *y.shape))
        if K == 1 or not self.one_seed:
            idx = self.indices(t)
            return X[idx], y[idx]
        rows = self.perms[self.row_seed[0], self._cols(t)]
        return (
            np.broadcast_to(X[rows], (K, rows.size, X.shape[1])),
            np.broadcast_to(y[rows], (K, rows.size)),
        )

    def keep(self, idx: np.ndarray) -> None:
        """Reorder, drop or repeat rows (a repeated row gets the same stream)."""
        self._set_rows(self.row_seed[idx])

    def _set_rows(self, row_seed: np.ndarray) -> None:
        """Each row's seed (an index into the distinct seeds)."""
        self.row_seed = row_seed
        self.one_seed = row_seed.size > 0 and bool((row_seed == row_seed[0]).all())


class _Rules:
    """The optimizers of a group: one per update rule, each on a contiguous slice of the stack
    (with its cycled-momentum table when ``cycle_momentum`` is on)."""

    def __init__(self, specs: Sequence[RunSpec], params: list[np.ndarray], T: int) -> None:
        dtype = params[0].dtype
        self.parts: list[list] = []
        start = 0
        keys = [rule_key(s) for s in specs]
        while start < len(specs):
            stop = start
            while stop < len(specs) and keys[stop] == keys[start]:
                stop += 1
            chunk = specs[start:stop]
            cycle = keys[start][1]
            moms = None
            if cycle:
                moms = np.empty((T, stop - start))
                for k, s in enumerate(chunk):
                    table = schedules.momentum_table(s.schedule, dict(s.schedule_params), T)
                    moms[:, k] = table if table is not None else _own_momentum(s)
                moms = moms.astype(dtype)
            sub = [p[start:stop] for p in params]
            opt = Optimizer(
                chunk[0].optimizer,
                [dict(s.optimizer_params) for s in chunk],
                sub,
                cycle_momentum=cycle,
            )
            self.parts.append([start, stop, opt, moms])
            start = stop

    def update(
        self, params: list[np.ndarray], grads: list[np.ndarray], lr: np.ndarray, t: int
    ) -> None:
        for a, b, opt, moms in self.parts:
            opt.update(
                [p[a:b] for p in params],
                [g[a:b] for g in grads],
                lr[a:b],
                None if moms is None else moms[t],
            )

    def keep(self, keep: np.ndarray) -> None:
        parts = []
        start = 0
        for a, b, opt, moms in self.parts:
            local = keep[(keep >= a) & (keep < b)] - a
            if local.size == 0:
                continue
            opt.keep(local)
            n = local.size
            parts.append([start, start + n, opt, None if moms is None else moms[:, local]])
            start += n
        self.parts = parts


class _Stack:
    """The configurations still training, as the rows of one stack.

    Per row: parameters (``params``, each ``(rows, ...)``), update rule (``rules``), minibatch
    stream (``batches``), divergence threshold (``threshold``), learning rate of every update
    (``row_lrs``, ``(T, rows)``), whether a plateau schedule sets it (``plateau``, with its
    ``tracker``) and early stopping's state (``patience``, :mod:`lrbench.core.stopping`).
    ``rows`` says which configurations ride on which row. :meth:`fork` and :meth:`drop` change
    the rows; every per-row array follows (:meth:`_reindex`).
    """

    def __init__(self, plan: GroupPlan, model: Model, n_train: int) -> None:
        train = plan.specs[0].train
        self.lrs = plan.lrs
        self.rows = Rows(plan.rows)
        leads = [plan.specs[k] for k in self.rows.lead]
        self.params = model.init([seed_streams(s.seed)[0] for s in leads])
        self.batches = _Batches([s.seed for s in leads], n_train, train.batch_size)
        self.rules = _Rules(leads, self.params, train.steps)
        self.threshold = np.full(len(self.rows), np.inf)  # set by the evaluation at t = 0
        self.row_lrs = self.lrs[:, self.rows.lead]
        self.plateau = plan.plateau[self.rows.lead]  # plateau configurations never share a row
        self.patience = None  # early stopping's per-row state
        if train.early_stopping is not None:
            self.patience = Patience(train.early_stopping, len(self.rows))
        self.tracker = None
        if plan.plateau.any():
            cols = np.flatnonzero(plan.plateau)
            self.tracker = schedules.PlateauTracker(
                [dict(plan.specs[k].schedule_params) for k in cols],
                np.array([plan.specs[k].lr for k in cols]),
                train.steps,
            )

    def __len__(self) -> int:
        return len(self.rows)

    def learning_rates(self, t: int) -> np.ndarray:
        """Each row's learning rate for update ``t`` (a plateau schedule's as it stands)."""
        lr = self.row_lrs[t]
        if self.tracker is not None:
            lr = lr.copy()
            lr[self.plateau] = self.tracker.lr(t)
        return lr

    def observe(self, val_loss: np.ndarray, t: int) -> None:
        """Plateau schedules see the validation loss of evaluation ``t``."""
        if self.tracker is not None:
            self.tracker.observe(val_loss[self.plateau], t)

    def fork(self, forks: Sequence[Fork]) -> np.ndarray | None:
        """Make the forks of one step; returns the stack index applied (None: nothing forked)."""
        idx = self.rows.fork(forks)
        if idx is not None:
            self._reindex(idx)
        return idx

    def drop(self, bad: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Remove the rows where ``bad`` is true; returns the rows kept (a stack index) and
        the configurations removed."""
        keep, gone = self.rows.drop(bad)
        self._reindex(keep)
        return keep, gone

    def _reindex(self, idx: np.ndarray) -> None:
        """Keep, reorder or repeat rows of everything kept per row (``rows`` has changed)."""
        self.row_lrs = self.lrs[:, self.rows.lead]
        self.params = [p[idx] for p in self.params]
        self.rules.keep(idx)
        self.batches.keep(idx)
        self.threshold = self.threshold[idx]
        if self.patience is not None:
            self.patience.keep(idx)
        if self.tracker is not None:
            position = np.cumsum(self.plateau) - 1  # row -> the tracker's column
            self.tracker.keep(position[idx[self.plateau[idx]]])
        self.plateau = self.plateau[idx]


def _evaluation_point(
    model: Model, stack: _Stack, plan: GroupPlan, data: Data, records: Records, t: int
) -> None:
    """The loop's phase 1 at an evaluation point ``t``: record the losses (and the sharpness
    when tracked); at ``t = 0`` set the divergence thresholds, later feed the plateau
    schedules; drop rows with a non-finite loss, and with early stopping the rows out of
    patience (not at the last step)."""
    train = plan.specs[0].train
    T = train.steps
    tr_loss, va_loss, va_acc, tr_acc = _evaluate(model, stack, plan, data, t)
    records.evaluation(t, stack.rows, tr_loss, va_loss, va_acc, tr_acc)
    if records.sharpness is not None:  # train.track: [sharpness]
        eig = top_eigenvalue(model, stack.params, data.X_train, data.y_train)
        records.curvature(t, stack.rows, eig)
    if t == 0:
        stack.threshold = train.divergence_factor * np.maximum(np.abs(tr_loss), 1e-12)
    elif t < T:
        stack.observe(va_loss, t)
    bad = ~(np.isfinite(tr_loss) & np.isfinite(va_loss))
    if bad.any():
        keep, gone = stack.drop(bad)
        records.diverged(gone, t)
        va_loss = va_loss[keep]
    if stack.patience is not None:  # early stopping: rows out of patience leave
        out = stack.patience.see(va_loss, t)
        records.best_points(stack.rows, stack.patience.best_at)
        if t < T and out.any():
            records.stopped(stack.drop(out)[1], t)


def train_group(
    group: GroupPlan | Sequence[RunSpec],
    data: Data | None = None,
    *,
    lr_table: np.ndarray | None = None,
    probe_idx: np.ndarray | None = None,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Train one lockstep group and return one result per spec, in the group's order.

    ``group`` is planned (:func:`lrbench.core.sharing.plan_group`), or the specs of one group,
    planned here. ``lr_table`` ``(T, K)`` replaces the specs' schedules (the LR range test's
    ramp; specs only). ``probe_idx``: per-configuration training-row indices ``(K, P)`` on which
    the loss is measured after every update (``extra["probe_loss"]``, length ``steps_done``);
    nothing is shared then. ``progress(n)`` is called with the steps completed since its last
    call.
    """
    if not group:
        return []
    plan = _as_plan(group, lr_table, probe_idx is not None)
    if probe_idx is not None:
        probe_idx = np.asarray(probe_idx)[list(plan.order)]
    first = plan.specs[0]
    data = load_task_data(first.task, first.train.dtype) if data is None else data
    train, T, X, y = first.train, first.train.steps, data.X_train, data.y_train
    start = time.perf_counter()
    n_out = data.n_classes or 1  # regression: one output
    model = Model(
        first.task.model, dict(first.task.model_params), data.n_features, n_out, train.dtype
    )
    stack = _Stack(plan, model, len(y))
    per_epoch = stack.batches.per_epoch
    records = Records(len(plan), train, per_epoch, probe_idx is not None)
    reported = 0

    with np.errstate(all="ignore"):  # overflow in a diverging configuration is expected
        for t in range(T + 1):
            if t in records.eval_at:  # 1. evaluation (t = 0 also sets the divergence thresholds)
                _evaluation_point(model, stack, plan, data, records, t)
            if t == T or not stack:
                break
            # 2. forward and backward pass on each row's minibatch
            Xb, yb = stack.batches.take(X, y, t)
            loss, grads = model.loss_and_grad(stack.params, Xb, yb)
            # 3. fork the rows whose learning rates part at t (the copies share the pass)
            idx = stack.fork(plan.forks[t]) if t in plan.forks else None
            if idx is not None:
                loss, grads = loss[idx], [g[idx] for g in grads]
            # 4. learning rates, logged with the minibatch loss
            lr = stack.learning_rates(t)
            records.log(t, stack.rows, loss, lr)
            # 5. divergence: drop rows whose loss is not finite or above their threshold
            bad = ~np.isfinite(loss) | (loss > stack.threshold)
            if bad.any():
                keep, gone = stack.drop(bad)
                records.diverged(gone, t)
                if not stack:
                    break
                grads, lr = [g[keep] for g in grads], lr[keep]
            # 6. the optimizer update
            stack.rules.update(stack.params, grads, lr, t)
            # 7. the range test's probe loss after the update (one row per configuration)
            if probe_idx is not None:
                probe = probe_idx[stack.rows.lead]
                p_loss, _ = model.loss_and_grad(stack.params, X[probe], y[probe])
                records.probe(t, stack.rows, p_loss)
            if progress is not None and (t + 1) % per_epoch == 0:
                progress(t + 1 - reported)
                reported = t + 1
    if progress is not None and T > reported:
        progress(T - reported)
    return records.results(plan, per_epoch, (time.perf_counter() - start) / len(plan))


def _as_plan(
    group: GroupPlan | Sequence[RunSpec], lr_table: np.ndarray | None, probe: bool
) -> GroupPlan:
    """The group's plan: as given, or planned here from its specs (a given ``lr_table`` replaces
    the schedules; with probe rows, nothing is shared)."""
    if not isinstance(group, GroupPlan):
        return plan_group(group, lr_table, scheduled=lr_table is None, shareable=not probe)
    if lr_table is not None or (probe and len(group.rows) < len(group)):
        raise ValueError("a plan takes no lr_table, and probe rows need a plan sharing no row")
    return group


Evaluation = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _evaluate(model: Model, stack: _Stack, plan: GroupPlan, data: Data, t: int) -> Evaluation:
    """Each row's full training loss, validation loss and accuracy, and training accuracy (at
    ``t == 0``, each distinct initialisation once). The training accuracy is the argmax count
    of the training-loss pass (no second pass; ``None`` for ``linear``)."""
    if t == 0:
        seeds = [plan.specs[k].seed for k in stack.rows.lead]
        return _evaluate_initial(model, stack.params, seeds, data)
    tr_loss, tr_acc = model.evaluate(stack.params, data.X_train, data.y_train)
    va_loss, va_acc = model.evaluate(stack.params, data.X_val, data.y_val)
    return tr_loss, va_loss, va_acc, tr_acc


def _evaluate_initial(
    model: Model, params: list[np.ndarray], seeds: Sequence[int], data: Data
) -> Evaluation:
    """:func:`_evaluate` of freshly initialised rows, computing each distinct initialisation
    once (``mlp`` draws from the seed; the others start at zero)."""
    keys = list(seeds) if model.name == "mlp" else [0] * len(seeds)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    distinct = [p[first] for p in params]
    tr_loss, tr_acc = model.evaluate(distinct, data.X_train, data.y_train)
    va_loss, va_acc = model.evaluate(distinct, data.X_val, data.y_val)
    return (
        tr_loss[inverse],
        va_loss[inverse],
        None if va_acc is None else va_acc[inverse],
        None if tr_acc is None else tr_acc[inverse],
    )


def _own_momentum(spec: RunSpec) -> float:
    """A configuration's fixed momentum (sgd, rmsprop) or beta1 (Adam family)."""
    hp = dict(spec.optimizer_params)
    if "betas" in hp:
        return float(hp["betas"][0])
    return float(hp.get("momentum", 0.0))
