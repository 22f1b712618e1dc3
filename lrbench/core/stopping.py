"""Early stopping's per-row state in the lockstep engine (:class:`Patience`).

The rule is :class:`lrbench.spec.EarlyStopping`'s (Keras' ``EarlyStopping`` and Lightning's):
at each evaluation the validation loss ``v`` of a row improves when ``v < best - min_delta``
(``best`` starts at ``+inf``, so the evaluation at step 0 always improves); an improvement sets
``best = v``, records its step and resets the wait to 0; anything else makes the wait one
longer. A row stops at the evaluation where its wait reaches ``patience``. Comparisons run in
float64 on the values the run records, so a recorded curve replays the same decisions.
"""

from __future__ import annotations

import numpy as np

from lrbench.spec import EarlyStopping


class Patience:
    """The early-stopping state of every row of a stack: the best validation loss so far
    (``best_val``), the step of the evaluation that set it (``best_at``) and the evaluations
    since (``wait``). Rows are kept, reordered or repeated with the stack (:meth:`keep`)."""

    def __init__(self, rule: EarlyStopping, n_rows: int) -> None:
        self.rule = rule
        self.best_val = np.full(n_rows, np.inf)
        self.best_at = np.zeros(n_rows, dtype=np.int64)
        self.wait = np.zeros(n_rows, dtype=np.int64)

    def see(self, val_loss: np.ndarray, t: int) -> np.ndarray:
        """Evaluation ``t``'s validation loss of every row; returns the rows whose wait reached
        ``patience`` (a boolean mask)."""
        v = np.asarray(val_loss, dtype=np.float64)
        better = v < self.best_val - self.rule.min_delta
        self.best_val = np.where(better, v, self.best_val)
        self.best_at = np.where(better, t, self.best_at)
        self.wait = np.where(better, 0, self.wait + 1)
        return self.wait >= self.rule.patience

    def keep(self, idx: np.ndarray) -> None:
        """Keep, reorder or repeat rows (a fork's copy continues its parent's history)."""
        self.best_val, self.best_at, self.wait = (
            self.best_val[idx],
            self.best_at[idx],
            self.wait[idx],
        )
