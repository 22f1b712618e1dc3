"""What one run is (its resolved spec) and what it produced (its result).

A :class:`RunSpec` fully determines a run: same spec, same bits. Its ``run_id`` is a stable hash
of the spec's canonical JSON, so results files can be found again on resume.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Params = tuple[tuple[str, Any], ...]


def freeze(params: Mapping[str, Any] | None) -> Params:
    """A mapping as a hashable tuple of ``(key, value)`` pairs, lists turned into tuples."""
    if not params:
        return ()
    return tuple((k, _freeze_value(v)) for k, v in params.items())


def _freeze_value(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze_value(x) for x in v)
    return v


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


@dataclass(frozen=True)
class TaskSpec:
    """The data and the model: everything a group shares apart from training settings."""

    dataset: str
    model: str
    dataset_params: Params = ()
    model_params: Params = ()
    target: str | None = None
    test_size: float = 0.2
    data_seed: int = 0

    @property
    def label(self) -> str:
        """A short human name, e.g. ``digits/mlp[64]``; a subsampled training split shows its
        size: ``digits(train_size=300)/mlp[64]``."""
        extra = ""
        mp = dict(self.model_params)
        if "hidden" in mp:
            extra = "[" + "-".join(str(h) for h in mp["hidden"]) + "]"
        name = self.dataset.rsplit("/", 1)[-1]
        n_train = dict(self.dataset_params).get("train_size")
        if n_train is not None:
            name += f"(train_size={n_train})"
        return f"{name}/{self.model}{extra}"


@dataclass(frozen=True)
class EarlyStopping:
    """Stop a configuration whose validation loss stopped improving (Keras' and Lightning's rule).

    At each evaluation (step 0 included) the validation loss ``v`` *improves* when
    ``v < best - min_delta``; then ``best = v`` and the wait restarts at 0, else the wait grows
    by 1. The configuration stops at the evaluation where the wait reaches ``patience`` (with
    ``patience: 3``, improvements at evaluation 4 and none after stop it at evaluation 7).
    With ``restore_best`` its final metrics are those of the last improving evaluation (the
    best point), whether patience ran out or the step budget did.
    """

    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    @property
    def label(self) -> str:
        """``early_stop(patience=5)``; ``min_delta`` shown when not 0, ``restore_best=false``
        when off."""
        shown = [f"patience={self.patience}"]
        if self.min_delta:
            shown.append(f"min_delta={show(self.min_delta)}")
        if not self.restore_best:
            shown.append("restore_best=false")
        return "early_stop(" + ", ".join(shown) + ")"

    def to_dict(self) -> dict[str, Any]:
        return {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "restore_best": self.restore_best,
        }


@dataclass(frozen=True)
class TrainSpec:
    """Training settings shared by a group. ``batch_size=None`` means full batch.
    ``early_stopping`` (None: off) is kept out of :meth:`RunSpec.to_dict` when off, so the run
    ids of specs without it are those they had before it existed."""

    steps: int
    batch_size: int | None = 32
    eval_every: int | None = None  # None: once an epoch
    log_every: int = 1
    dtype: str = "float64"
    divergence_factor: float = 1e3
    early_stopping: EarlyStopping | None = None
    track: tuple[str, ...] = ()  # extra measurements at evaluation points, e.g. ("sharpness",)


@dataclass(frozen=True)
class RunSpec:
    """One training run, fully resolved."""

    task: TaskSpec
    train: TrainSpec
    optimizer: str
    optimizer_params: Params
    schedule: str
    schedule_params: Params
    lr: float
    seed: int
    base_lr: float | None = None  # the grid's lr when lr_scaling rescaled it to ``lr``

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (the run file's ``spec`` and what :attr:`run_id` hashes).

        Fields added after the first release appear only when they differ from their default
        (``train.track`` when not empty, ``base_lr`` when set), so every spec without them keeps
        the dictionary, and hence the run id, it always had."""
        out: dict[str, Any] = {
            "task": {
                "dataset": self.task.dataset,
                "dataset_params": {k: _jsonable(v) for k, v in self.task.dataset_params},
                "model": self.task.model,
                "model_params": {k: _jsonable(v) for k, v in self.task.model_params},
                "target": self.task.target,
                "test_size": self.task.test_size,
                "data_seed": self.task.data_seed,
            },
            "train": {
                "steps": self.train.steps,
                "batch_size": self.train.batch_size,
                "eval_every": self.train.eval_every,
                "log_every": self.train.log_every,
                "dtype": self.train.dtype,
                "divergence_factor": self.train.divergence_factor,
                **(
                    {"early_stopping": self.train.early_stopping.to_dict()}
                    if self.train.early_stopping is not None
                    else {}
                ),
            },
            "optimizer": self.optimizer,
            "optimizer_params": {k: _jsonable(v) for k, v in self.optimizer_params},
            "schedule": self.schedule,
            "schedule_params": {k: _jsonable(v) for k, v in self.schedule_params},
            "lr": self.lr,
            "seed": self.seed,
        }
        if self.train.track:
            out["train"]["track"] = list(self.train.track)
        if self.base_lr is not None:
            out["base_lr"] = self.base_lr
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSpec:
        """The inverse of :meth:`to_dict`."""
        t, tr = d["task"], dict(d["train"])
        stopping = tr.pop("early_stopping", None)
        task = TaskSpec(
            dataset=t["dataset"],
            model=t["model"],
            dataset_params=freeze(t["dataset_params"]),
            model_params=freeze(t["model_params"]),
            target=t["target"],
            test_size=t["test_size"],
            data_seed=t["data_seed"],
        )
        if "track" in tr:
            tr["track"] = tuple(tr["track"])
        train = TrainSpec(
            **tr, early_stopping=None if stopping is None else EarlyStopping(**stopping)
        )
        return cls(
            task=task,
            train=train,
            optimizer=d["optimizer"],
            optimizer_params=freeze(d["optimizer_params"]),
            schedule=d["schedule"],
            schedule_params=freeze(d["schedule_params"]),
            lr=d["lr"],
            seed=d["seed"],
            base_lr=d.get("base_lr"),
        )

    @functools.cached_property
    def run_id(self) -> str:
        """A stable 12-hex-digit hash of the canonical JSON of the spec. Kept once computed (the
        spec is frozen): a sweep asks for each run's id several times, and the 10x grid's
        client spent 0.66 s hashing its 1,260 specs three times each."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class RunResult:
    """What the engine records for one run.

    Logged steps (every ``log_every`` steps): ``log_step[i]`` is the step index ``t`` (number of
    updates applied before it), ``log_lr[i]`` the learning rate used by update ``t`` and
    ``log_loss[i]`` the minibatch loss computed in step ``t``'s forward pass, before the update.

    Evaluation points (step 0, every ``eval_every`` steps and the last step): ``eval_step[i]`` is
    the number of updates applied, ``eval_train_loss`` the full training-set loss there,
    ``eval_val_loss`` and ``eval_val_accuracy`` (NaN for regression) on the validation split.

    ``status`` is ``ok`` or ``diverged``; ``steps_done`` the number of updates applied;
    ``diverged_at`` the step where the divergence was detected (or ``None``).
    ``eval_sharpness``: with ``train.track: [sharpness]``, the largest Hessian eigenvalue of the
    full training loss at each evaluation point (:mod:`lrbench.core.sharpness`), else ``None``.

    ``eval_train_accuracy`` is the accuracy on the full training split at the evaluation points
    (NaN for regression; ``None`` in a run file written before it was recorded). With early
    stopping, ``stopped_early`` says the patience ran out (at step ``steps_done``) and
    ``restored_step``, with ``restore_best``, is the evaluation step whose metrics are the run's
    final ones (:class:`EarlyStopping`).
    """

    spec: RunSpec
    status: str
    steps_done: int
    diverged_at: int | None
    log_step: np.ndarray
    log_lr: np.ndarray
    log_loss: np.ndarray
    eval_step: np.ndarray
    eval_train_loss: np.ndarray
    eval_val_loss: np.ndarray
    eval_val_accuracy: np.ndarray
    steps_per_epoch: int
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    eval_train_accuracy: np.ndarray | None = None
    stopped_early: bool = False
    restored_step: int | None = None
    eval_sharpness: np.ndarray | None = None


# ---------------------------------------------------------------- labels
def registry_defaults(*registries: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {param: default}}`` from registries of :class:`lrbench.params.Entry`."""
    return {n: {p.name: p.default for p in e.params} for reg in registries for n, e in reg.items()}


def part_label(
    name: str, params: Iterable[tuple[str, Any]], defaults: Mapping | None = None
) -> str:
    """``name(k=v, ...)`` listing only params that differ from ``defaults[name]``.

    With ``defaults=None``, or a name missing from it, every given param is listed. Tuples show as
    lists: ``adam(betas=[0.9, 0.99])``; no params left: just ``adam``.
    """
    dflt = (defaults or {}).get(name)
    shown = [(k, v) for k, v in params if dflt is None or k not in dflt or differs(v, dflt[k])]
    if not shown:
        return name
    return f"{name}(" + ", ".join(f"{k}={show(v)}" for k, v in shown) + ")"


def row_label(spec: RunSpec, defaults: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """``"adam(betas=[0.9, 0.99]) / cosine(warmup=0.05)"`` (see :func:`part_label`)."""
    opt = part_label(spec.optimizer, spec.optimizer_params, defaults)
    return f"{opt} / {part_label(spec.schedule, spec.schedule_params, defaults)}"


def differs(a: Any, b: Any) -> bool:
    """Whether a hyperparameter value differs from a default (lists and tuples alike)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(differs(x, y) for x, y in zip(a, b, strict=True))
    return a != b


def show(v: Any) -> str:
    """A parameter value as a person reads it in YAML: ``null``, ``true``/``false``, lists (and
    tuples) as ``[a, b]``, anything else as ``str``: ``show((0.9, None)) == "[0.9, null]"``.
    The one value-to-text display (labels, ``lrbench list``, ``lrbench schedule``)."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(show(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)
