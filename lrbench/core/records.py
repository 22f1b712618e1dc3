"""What the lockstep engine (:mod:`lrbench.core.engine`) records while it trains a group: per
configuration, the logged minibatch losses and learning rates, the evaluations, the probe losses
of the LR range test and where each configuration stopped; and the run results built from them.
"""

from __future__ import annotations

import numpy as np

from lrbench.core.sharing import GroupPlan, Rows
from lrbench.spec import RunResult, TrainSpec


class Records:
    """What the engine records, per configuration ``k`` (of ``plan.specs``): the minibatch loss
    and learning rate every ``log_every`` steps, the evaluations, the probe losses (LR range
    test), where each configuration stopped and, with early stopping, whether its patience ran
    out and its best evaluation step. A row's values go to every configuration on it
    (:meth:`lrbench.core.sharing.Rows.spread`). :meth:`results` builds the run results."""

    def __init__(self, K: int, train: TrainSpec, per_epoch: int, probe: bool) -> None:
        T = train.steps
        self.log_every = train.log_every
        self.log_steps = np.arange(0, T, train.log_every)
        self.lr = np.full((len(self.log_steps), K), np.nan)
        self.loss = np.full((len(self.log_steps), K), np.nan)
        eval_steps = sorted(set(range(0, T, train.eval_every or per_epoch)) | {T})
        self.eval_steps = eval_steps
        self.eval_at = {step: i for i, step in enumerate(eval_steps)}  # step -> evaluation
        self.train_loss = np.full((len(eval_steps), K), np.nan)
        self.val_loss = np.full((len(eval_steps), K), np.nan)
        self.val_accuracy = np.full((len(eval_steps), K), np.nan)
        self.train_accuracy = np.full((len(eval_steps), K), np.nan)
        self.stopped_early = np.zeros(K, dtype=bool)
        self.best_at = np.zeros(K, dtype=np.int64)
        self.probe_loss = np.full((T, K), np.nan) if probe else None
        tracked = "sharpness" in train.track
        self.sharpness = np.full((len(eval_steps), K), np.nan) if tracked else None
        self.steps_done = np.full(K, T)
        self.diverged_at: list[int | None] = [None] * K

    def log(self, t: int, rows: Rows, loss: np.ndarray, lr: np.ndarray) -> None:
        """Minibatch loss and learning rate of step ``t``, if ``t`` is a logged step."""
        if t % self.log_every == 0:
            i = t // self.log_every
            self.loss[i, rows.owners] = rows.spread(loss)
            self.lr[i, rows.owners] = rows.spread(lr)

    def evaluation(
        self,
        t: int,
        rows: Rows,
        train: np.ndarray,
        val: np.ndarray,
        acc: np.ndarray | None,
        train_acc: np.ndarray | None = None,
    ) -> None:
        """The evaluation at step ``t``: per-row losses and accuracies."""
        i = self.eval_at[t]
        self.train_loss[i, rows.owners] = rows.spread(train)
        self.val_loss[i, rows.owners] = rows.spread(val)
        if acc is not None:
            self.val_accuracy[i, rows.owners] = rows.spread(acc)
        if train_acc is not None:
            self.train_accuracy[i, rows.owners] = rows.spread(train_acc)

    def best_points(self, rows: Rows, best_at: np.ndarray) -> None:
        """Early stopping's best evaluation step of each row, for its configurations."""
        self.best_at[rows.owners] = rows.spread(best_at)

    def stopped(self, configurations: list[int], t: int) -> None:
        """These configurations' patience ran out at evaluation ``t`` (after ``t`` updates)."""
        for k in configurations:
            self.stopped_early[k] = True
            self.steps_done[k] = t

    def curvature(self, t: int, rows: Rows, sharpness: np.ndarray) -> None:
        """The sharpness (top Hessian eigenvalue) of each row at evaluation ``t``."""
        assert self.sharpness is not None
        self.sharpness[self.eval_at[t], rows.owners] = rows.spread(sharpness)

    def probe(self, t: int, rows: Rows, loss: np.ndarray) -> None:
        """The probe loss after update ``t`` (the range test shares no row)."""
        assert self.probe_loss is not None
        self.probe_loss[t, rows.lead] = loss

    def diverged(self, configurations: list[int], t: int) -> None:
        """These configurations stopped at step ``t``."""
        for k in configurations:
            self.diverged_at[k] = t
            self.steps_done[k] = t

    def results(self, plan: GroupPlan, per_epoch: int, wall_s: float) -> list[RunResult]:
        """One result per spec, in the order the specs were given. A curve ends at the step where
        the configuration stopped (its offending loss logged) or at the last update."""
        results = []
        for k, s in enumerate(plan.specs):
            done, stop = int(self.steps_done[k]), self.diverged_at[k]
            n_log = int(
                np.searchsorted(
                    self.log_steps, done if stop is not None else done - 1, side="right"
                )
            )
            n_eval = int(np.searchsorted(self.eval_steps, done, side="right"))
            extra = {}
            if self.probe_loss is not None:
                extra["probe_loss"] = self.probe_loss[:done, k].copy()
            es = s.train.early_stopping
            restore = es is not None and es.restore_best and stop is None
            results.append(
                RunResult(
                    spec=s,
                    status="diverged" if stop is not None else "ok",
                    steps_done=done,
                    diverged_at=stop,
                    log_step=self.log_steps[:n_log].copy(),
                    log_lr=self.lr[:n_log, k].copy(),
                    log_loss=self.loss[:n_log, k].copy(),
                    eval_step=np.asarray(self.eval_steps[:n_eval]),
                    eval_train_loss=self.train_loss[:n_eval, k].copy(),
                    eval_val_loss=self.val_loss[:n_eval, k].copy(),
                    eval_val_accuracy=self.val_accuracy[:n_eval, k].copy(),
                    steps_per_epoch=per_epoch,
                    wall_s=wall_s,
                    extra=extra,
                    eval_train_accuracy=self.train_accuracy[:n_eval, k].copy(),
                    stopped_early=bool(self.stopped_early[k]),
                    restored_step=int(self.best_at[k]) if restore else None,
                    eval_sharpness=None
                    if self.sharpness is None
                    else self.sharpness[:n_eval, k].copy(),
                )
            )
        out = [results[0]] * len(results)
        for i, k in enumerate(plan.order):
            out[k] = results[i]
        return out
