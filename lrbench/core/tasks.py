"""A task's data and model facts: its data, training-set size, steps per epoch, stability bounds.

A task (:class:`lrbench.spec.TaskSpec`) is a dataset and a model. This module answers the
questions that need both, so that the config (epochs -> steps), the sweep and the finder (the
stability bound) ask one place:

- :func:`load_task_data`: the task's split, standardised data (cached, :mod:`lrbench.core.data`);
- :func:`train_size`: the number of training rows, without loading the data when the dataset's
  size is known (bundled sets, ``n_samples`` of the generators), so ``lrbench validate`` loads no
  dataset; :func:`steps_per_epoch`: ``ceil(n_train / batch_size)``;
- :func:`stability_bound`: ``2/L`` for full-batch gradient descent on the training loss
  (:func:`lrbench.core.models.smoothness`), and :func:`heavy_ball_bound`: ``2(1 + mu)/L`` for
  heavy-ball momentum ``mu`` (PyTorch's SGD with ``momentum=mu``, no dampening, no Nesterov);
  :func:`optimizer_bound` gives the bound of any SGD-type optimizer (dampening, weight decay,
  Nesterov) from ``2/L``, and :func:`momentum_bound` is the one formula behind all of them.
"""

from __future__ import annotations

import math
from typing import Any

from lrbench.core.data import Data, dataset_kind, load_data, resolve_dataset
from lrbench.core.models import model_task, smoothness
from lrbench.spec import TaskSpec

# Rows of scikit-learn's bundled datasets (load_iris, load_wine, load_breast_cancer, load_digits);
# tests/test_tasks.py checks each against the loaded data.
BUNDLED_SIZES = {"iris": 150, "wine": 178, "breast_cancer": 569, "digits": 1797}

SMOOTH_MODELS = ("logreg", "linear")  # models with a global smoothness constant L


def load_task_data(task: TaskSpec, dtype: str = "float64") -> Data:
    """The (cached) dataset of a task, split and standardised, in ``dtype``."""
    return load_data(
        task.dataset,
        dict(task.dataset_params),
        task=model_task(task.model),
        target=task.target,
        test_size=task.test_size,
        data_seed=task.data_seed,
        dtype=dtype,
    )


def dataset_size(task: TaskSpec) -> int | None:
    """Rows of the task's dataset before the split, when known without reading it: the bundled
    sets' sizes, a generator's ``n_samples`` (every generator returns exactly that many rows);
    None for a CSV file."""
    if dataset_kind(task.dataset) == "csv":
        return None
    if task.dataset in BUNDLED_SIZES:
        return BUNDLED_SIZES[task.dataset]
    return int(resolve_dataset(task.dataset, dict(task.dataset_params), "dataset")["n_samples"])


def train_size(task: TaskSpec, dtype: str = "float64") -> int:
    """Rows of the task's training split.

    scikit-learn's ``train_test_split`` with a float ``test_size`` keeps ``n_test =
    ceil(test_size * n)`` rows for validation and ``n - n_test`` for training, stratified or
    not (``_validate_shuffle_split``), so a dataset of known size needs no loading; a bundled
    dataset's ``train_size`` keeps that many of them (:func:`lrbench.core.data.subsample_train`).
    A CSV file, or a split that would leave a part empty (or a ``train_size`` above the split),
    is loaded (the latter to raise the loader's clear error).
    """
    n = dataset_size(task)
    keep = dict(task.dataset_params).get("train_size")
    if n is not None:
        n_train = n - math.ceil(float(task.test_size) * n)
        if 0 < n_train < n and (keep is None or keep <= n_train):
            return n_train if keep is None else int(keep)
    return len(load_task_data(task, dtype).y_train)


def steps_per_epoch(n_train: int, batch_size: int | None) -> int:
    """``ceil(n_train / batch_size)``: the last partial batch is kept. Full batch (``None``, or a
    batch at least ``n_train``): 1."""
    if batch_size is None or batch_size >= n_train:
        return 1
    return math.ceil(n_train / batch_size)


def task_smoothness(task: TaskSpec, dtype: str = "float64") -> float | None:
    """``L`` of the task's full-batch training loss (:func:`lrbench.core.models.smoothness`), or
    None for a model without one (``mlp``, whose data is then not loaded) or ``L = 0``."""
    if task.model not in SMOOTH_MODELS:
        return None
    data = load_task_data(task, dtype)
    return smoothness(task.model, data.X_train, data.y_train, data.n_classes) or None


def stability_bound(task: TaskSpec, dtype: str = "float64") -> float | None:
    """``2/L``: full-batch gradient descent on the training loss is stable for ``lr < 2/L``
    (exactly so for ``linear``, whose Hessian's top eigenvalue is ``L``; for ``logreg`` ``L`` is
    an upper bound, so ``2/L`` is a safe lower estimate). None without an ``L``."""
    L = task_smoothness(task, dtype)
    return 2.0 / L if L else None


def heavy_ball_bound(task: TaskSpec, momentum: float, dtype: str = "float64") -> float | None:
    """``2(1 + mu)/L``: full-batch heavy-ball momentum ``mu`` in ``[0, 1)`` (PyTorch SGD:
    ``v = mu v + g``, ``theta -= lr v``) is stable for ``lr < 2(1 + mu)/L``.

    On a quadratic with Hessian eigenvalue ``lam`` the iteration's characteristic polynomial is
    ``z**2 - (1 + mu - lr lam) z + mu``; both roots lie inside the unit circle exactly when
    ``0 < lr lam < 2(1 + mu)``. ``mu = 0`` gives :func:`stability_bound`. None without an ``L``.
    """
    L = task_smoothness(task, dtype)
    return momentum_bound(L, momentum) if L else None


def optimizer_bound(two_over_l: float, optimizer: str, params: dict[str, Any]) -> float | None:
    """The largest stable constant lr of full-batch ``optimizer`` with ``params`` (its
    ``momentum``, ``dampening``, ``weight_decay``, ``nesterov``) on a quadratic whose Hessian has
    top eigenvalue ``L = 2 / two_over_l`` (:func:`momentum_bound`), or None when no such bound
    is known: adaptive optimizers (adam, rmsprop, ...), whose step is not ``lr x gradient``."""
    if optimizer not in ("sgd", "momentum", "nesterov"):
        return None
    return momentum_bound(
        2.0 / two_over_l,
        float(params.get("momentum", 0.0)),
        dampening=float(params.get("dampening", 0.0)),
        weight_decay=float(params.get("weight_decay", 0.0)),
        nesterov=bool(params.get("nesterov")),
    )


def momentum_bound(
    L: float,
    momentum: float = 0.0,
    *,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> float | None:
    """The stability bound of PyTorch's SGD on a quadratic with top Hessian eigenvalue ``L``.

    Per eigen-direction (curvature ``lam``; weight decay ``wd`` adds to it: ``lam' = lam + wd``),
    heavy ball (``b = mu*b + (1-d)*g``, ``theta -= lr*b``) is the linear recurrence
    ``theta' = theta - lr*(1-d)*lam'*theta + mu*(theta - theta_prev)``, stable iff
    ``0 < lr*(1-d)*lam' < 2*(1+mu)`` (Polyak 1964; the Jury conditions of its characteristic
    polynomial). Nesterov (``theta -= lr*(g + mu*b)``, ``d = 0``) has characteristic polynomial
    ``z^2 - (1+mu)(1-h)z + mu(1-h)``, ``h = lr*lam'``, stable iff ``0 < h < 2(1+mu)/(1+2mu)``:

    - heavy ball: ``2*(1+mu) / ((1-d)*(L+wd))``; ``mu = 0`` gives ``2/(L+wd)``;
    - Nesterov: ``2*(1+mu) / ((1+2*mu)*(L+wd))``;
    - None for ``dampening >= 1`` (``b`` never moves: no step at all).
    """
    L = L + weight_decay
    if nesterov:
        return 2.0 * (1.0 + momentum) / ((1.0 + 2.0 * momentum) * L)
    if dampening >= 1.0:
        return None
    return 2.0 * (1.0 + momentum) / ((1.0 - dampening) * L)
