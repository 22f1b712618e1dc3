"""The lockstep training engine: K configurations of one group trained as one stack.

A group shares its data, model shape, batch size, number of steps and dtype (see
:func:`lrbench.core.sharing.group_key`); the forward and backward passes run once over the whole
stack. The group arrives planned (:class:`lrbench.core.sharing.GroupPlan`): configurations are
ordered by update rule, and each rule updates its own contiguous slice of the stack. Each
configuration keeps its own learning-rate schedule, numeric hyperparameters, initialisation and
minibatch order (both from its own seed). Parameters carry a leading configuration axis; every
product and reduction is per configuration, so a configuration gives the same bits alone or in
any group. Configurations that compute the same bits share one row of the stack until their
learning rates part (the plan's fork plan); the records are kept per configuration.

One step ``t`` (0-based) of the loop, for the configurations still running:

1. at an evaluation point (``t == 0``, every ``eval_every`` steps): full training loss,
   validation loss and accuracy; a plateau schedule observes the validation loss;
2. forward and backward pass on each configuration's minibatch: the minibatch loss logged for
   step ``t`` is this one, computed before the update;
3. divergence check: a non-finite minibatch loss or one above ``divergence_factor`` times the
   initial full training loss stops the configuration (status ``diverged``); it is dropped
   from the stack and its curve ends at step ``t``;
4. the optimizer update with learning rate ``lr_t`` (and momentum, for ``cycle_momentum``).

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
from lrbench.core.sharing import GroupPlan, Rows, plan_group, rule_key
from lrbench.core.tasks import load_task_data, steps_per_epoch
from lrbench.spec import RunResult, RunSpec

Progress = Callable[[int], None]


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
        self.batch_size = n if self.full else int(batch_size)
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
    specs, order = plan.specs, list(plan.order)
    if probe_idx is not None:
        probe_idx = np.asarray(probe_idx)[order]
    first = specs[0]
    data = load_task_data(first.task, first.train.dtype) if data is None else data
    train = first.train
    T = train.steps
    K = len(specs)
    start = time.perf_counter()

    X, y = data.X_train, data.y_train
    n = X.shape[0]
    n_out = data.n_classes if data.n_classes else 1
    model = Model(
        first.task.model, dict(first.task.model_params), data.n_features, n_out, train.dtype
    )
    lrs, forks = plan.lrs, plan.forks
    rows = Rows(plan.rows)
    row_specs = [specs[k] for k in rows.lead]
    params = model.init([seed_streams(s.seed)[0] for s in row_specs])
    batches = _Batches([s.seed for s in row_specs], n, train.batch_size)
    per_epoch = batches.per_epoch
    eval_every = train.eval_every or per_epoch

    plateau_cols = np.flatnonzero(plan.plateau).tolist()
    tracker = None
    if plateau_cols:
        tracker = schedules.PlateauTracker(
            [dict(specs[k].schedule_params) for k in plateau_cols],
            np.array([specs[k].lr for k in plateau_cols]),
            T,
        )
    plateau_mask = plan.plateau[rows.lead]  # plateau configurations never share a row

    rules = _Rules(row_specs, params, T)

    # Records, indexed by original configuration number.
    log_steps = np.arange(0, T, train.log_every)
    log_lr = np.full((len(log_steps), K), np.nan)
    log_loss = np.full((len(log_steps), K), np.nan)
    eval_steps = sorted(set(range(0, T, eval_every)) | {T})
    ev_train = np.full((len(eval_steps), K), np.nan)
    ev_val = np.full((len(eval_steps), K), np.nan)
    ev_acc = np.full((len(eval_steps), K), np.nan)
    probe_loss = np.full((T, K), np.nan) if probe_idx is not None else None
    steps_done = np.full(K, T)
    diverged_at: list[int | None] = [None] * K

    threshold = np.full(len(rows), np.inf)
    eval_pos = 0
    reported = 0

    row_lrs = lrs[:, rows.lead]

    def reindex(idx: np.ndarray) -> None:
        """Keep, reorder or repeat rows of the stack and of everything kept per row (``rows``
        has already changed)."""
        nonlocal params, threshold, plateau_mask, row_lrs
        row_lrs = lrs[:, rows.lead]
        params = [p[idx] for p in params]
        rules.keep(idx)
        batches.keep(idx)
        threshold = threshold[idx]
        if tracker is not None:
            position = np.cumsum(plateau_mask) - 1
            tracker.keep(position[idx[plateau_mask[idx]]])
        plateau_mask = plateau_mask[idx]

    def drop(bad: np.ndarray, t: int) -> np.ndarray:
        keep, gone = rows.drop(bad)
        for k in gone:
            diverged_at[k] = t
            steps_done[k] = t
        reindex(keep)
        return keep

    with np.errstate(all="ignore"):
        for t in range(T + 1):
            if len(rows) == 0:
                break
            if eval_pos < len(eval_steps) and eval_steps[eval_pos] == t:
                if t == 0:  # fresh parameters: evaluate each distinct initialisation once
                    tr_loss, va_loss, va_acc = _evaluate_initial(model, params, row_specs, data)
                else:
                    tr_loss, _ = model.evaluate(params, X, y, accuracy=False)
                    va_loss, va_acc = model.evaluate(params, data.X_val, data.y_val)
                ev_train[eval_pos, rows.owners] = rows.spread(tr_loss)
                ev_val[eval_pos, rows.owners] = rows.spread(va_loss)
                if va_acc is not None:
                    ev_acc[eval_pos, rows.owners] = rows.spread(va_acc)
                if t == 0:
                    threshold = train.divergence_factor * np.maximum(np.abs(tr_loss), 1e-12)
                eval_pos += 1
                bad = ~(np.isfinite(tr_loss) & np.isfinite(va_loss))
                if tracker is not None and t < T and t > 0:
                    tracker.observe(va_loss[plateau_mask], t)
                if bad.any():
                    drop(bad, t)
                    if len(rows) == 0:
                        break
            if t == T:
                break

            Xb, yb = batches.take(X, y, t)
            loss, grads = model.loss_and_grad(params, Xb, yb)
            if t in forks:
                idx = rows.fork(forks[t])
                if idx is not None:
                    reindex(idx)
                    loss = loss[idx]
                    grads = [g[idx] for g in grads]
            lr = row_lrs[t]
            if tracker is not None:
                lr = lr.copy()
                lr[plateau_mask] = tracker.lr(t)
            if t % train.log_every == 0:
                row = t // train.log_every
                log_loss[row, rows.owners] = rows.spread(loss)
                log_lr[row, rows.owners] = rows.spread(lr)
            bad = ~np.isfinite(loss) | (loss > threshold)
            if bad.any():
                keep = drop(bad, t)
                if len(rows) == 0:
                    break
                grads = [g[keep] for g in grads]
                lr = lr[keep]
            rules.update(params, grads, lr, t)
            if probe_idx is not None:  # never shared: one row per configuration
                probe = probe_idx[rows.lead]
                p_loss, _ = model.loss_and_grad(params, X[probe], y[probe])
                probe_loss[t, rows.lead] = p_loss
            if progress is not None and (t + 1) % per_epoch == 0:
                progress(t + 1 - reported)
                reported = t + 1
    if progress is not None and T > reported:
        progress(T - reported)

    wall = (time.perf_counter() - start) / K
    results = []
    for k, s in enumerate(specs):
        done = int(steps_done[k])
        n_log = int(np.searchsorted(log_steps, done, side="right"))
        if diverged_at[k] is None:
            n_log = int(np.searchsorted(log_steps, done - 1, side="right"))
        n_eval = int(np.searchsorted(eval_steps, done, side="right"))
        extra = {}
        if probe_loss is not None:
            extra["probe_loss"] = probe_loss[:done, k].copy()
        results.append(
            RunResult(
                spec=s,
                status="diverged" if diverged_at[k] is not None else "ok",
                steps_done=done,
                diverged_at=diverged_at[k],
                log_step=log_steps[:n_log].copy(),
                log_lr=log_lr[:n_log, k].copy(),
                log_loss=log_loss[:n_log, k].copy(),
                eval_step=np.asarray(eval_steps[:n_eval]),
                eval_train_loss=ev_train[:n_eval, k].copy(),
                eval_val_loss=ev_val[:n_eval, k].copy(),
                eval_val_accuracy=ev_acc[:n_eval, k].copy(),
                steps_per_epoch=per_epoch,
                wall_s=wall,
                extra=extra,
            )
        )
    out: list[RunResult] = [results[0]] * len(results)
    for i, k in enumerate(order):
        out[k] = results[i]
    assert [r.spec for r in out] == list(plan)
    return out


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


def _evaluate_initial(
    model: Model, params: list[np.ndarray], specs: Sequence[RunSpec], data: Data
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Training loss, validation loss and accuracy of freshly initialised rows, computing each
    distinct initialisation once (``mlp`` draws from the seed; the others start at zero)."""
    keys = [s.seed if model.name == "mlp" else 0 for s in specs]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    distinct = [p[first] for p in params]
    tr_loss, _ = model.evaluate(distinct, data.X_train, data.y_train, accuracy=False)
    va_loss, va_acc = model.evaluate(distinct, data.X_val, data.y_val)
    return tr_loss[inverse], va_loss[inverse], None if va_acc is None else va_acc[inverse]


def _own_momentum(spec: RunSpec) -> float:
    """A configuration's fixed momentum (sgd, rmsprop) or beta1 (Adam family)."""
    hp = dict(spec.optimizer_params)
    if "betas" in hp:
        return float(hp["betas"][0])
    return float(hp.get("momentum", 0.0))
