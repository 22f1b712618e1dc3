"""The results folder: one file per finished run, written atomically, and the tables.

Layout of ``results/<name>/``::

    config.yaml      the resolved config (defaults filled in)
    manifest.json    versions, command line, time, machine, grid size
    runs/<id>.json   one finished run: spec, status, curves (the resume key is <id>)
    runs.csv         one row per run
    curves.csv       one row per run and logged step (tidy long format)
    summary.csv      one row per cell (task, optimizer, schedule, lr) aggregated over seeds
    sharpness.csv    with train.track: [sharpness], one row per run and evaluation point
    plots/           the figures (SVG), written by the command line (lrbench.report.plots)

A run file appears only once complete (temp file + rename), so an interrupted sweep never
leaves a file that a resume would trust.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lrbench.files import atomic_write, csv_text, jsonable
from lrbench.spec import RunResult, RunSpec

FORMAT_VERSION = 1
CURVE_COLUMNS = (
    "run_id",
    "step",
    "epoch",
    "lr",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "full_train_loss",
)


def _floats(a: np.ndarray) -> list[float | None]:
    a = np.asarray(a, dtype=float)
    if np.isfinite(a).all():
        return a.tolist()
    return [None if not math.isfinite(x) else x for x in a.tolist()]


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def result_to_json(result: RunResult) -> dict[str, Any]:
    """A run file's content. Non-finite numbers are stored as null.

    Fields added after the first runs were written come last (a file of a run without them keeps
    every byte it had before them): ``eval.train_accuracy`` (when recorded), for a spec with
    early stopping only, ``early_stopping: {stopped, restored_step}``, and ``eval.sharpness``
    only when tracked (``train.track``)."""
    out: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "run_id": result.spec.run_id,
        "spec": result.spec.to_dict(),
        "status": result.status,
        "steps_done": result.steps_done,
        "diverged_at": result.diverged_at,
        "steps_per_epoch": result.steps_per_epoch,
        "wall_s": result.wall_s,
        "log": {
            "step": [int(s) for s in result.log_step],
            "lr": _floats(result.log_lr),
            "loss": _floats(result.log_loss),
        },
        "eval": {
            "step": [int(s) for s in result.eval_step],
            "train_loss": _floats(result.eval_train_loss),
            "val_loss": _floats(result.eval_val_loss),
            "val_accuracy": _floats(result.eval_val_accuracy),
        },
    }
    if result.eval_train_accuracy is not None:
        out["eval"]["train_accuracy"] = _floats(result.eval_train_accuracy)
    if result.spec.train.early_stopping is not None:
        out["early_stopping"] = {
            "stopped": result.stopped_early,
            "restored_step": result.restored_step,
        }
    if result.eval_sharpness is not None:
        out["eval"]["sharpness"] = _floats(result.eval_sharpness)
    return out


def _csv_floats(a: np.ndarray, texts: list[str] | None = None) -> list[str]:
    """``curves.csv`` cells of a float array: ``repr`` (``texts`` when already made), NaN as
    an empty cell (infinities as ``inf``, ``-inf``)."""
    a = np.asarray(a, dtype=float)
    texts = _repr_all(a) if texts is None else texts
    return ["" if t == "nan" else t for t in texts] if np.isnan(a).any() else texts


def _repr_all(a: np.ndarray) -> list[str]:
    """``[repr(x) for x in a]``, formatting each distinct value once when values repeat (a
    constant or stepped learning rate repeats one value hundreds of times; ``repr`` of a float
    costs about 0.6 us; measured: saving a constant-lr run 1.2 -> 0.7 ms, BENCHMARKS.md).
    ``np.unique`` merges 0.0 with -0.0, so signed zeros take the plain path."""
    if a.size < 64:
        return [repr(x) for x in a.tolist()]
    values, inverse = np.unique(a, return_inverse=True)
    if 2 * values.size > a.size or np.signbit(a[a == 0]).any():
        return [repr(x) for x in a.tolist()]
    texts = [repr(x) for x in values.tolist()]
    return [texts[i] for i in inverse.tolist()]


# The float arrays of a run file: (section, key, RunResult attribute).
_RUN_FILE_FLOATS = (
    ("log", "lr", "log_lr"),
    ("log", "loss", "log_loss"),
    ("eval", "train_loss", "eval_train_loss"),
    ("eval", "val_loss", "eval_val_loss"),
    ("eval", "val_accuracy", "eval_val_accuracy"),
    ("eval", "train_accuracy", "eval_train_accuracy"),
    ("eval", "sharpness", "eval_sharpness"),
)
_NON_FINITE = frozenset(("nan", "inf", "-inf"))  # their repr; JSON has null for them


def run_texts(result: RunResult) -> tuple[str, str]:
    """The run file's text, equal to ``json.dumps(result_to_json(result))``, and the run's
    ``curves.csv`` lines (:func:`curve_lines`, newline-joined): what a worker writes and sends
    back.

    Each float is formatted once (``repr``, as ``json.dumps`` does) for both files and the
    run file's arrays are spliced from that text: formatting them a second time in
    ``json.dumps`` took 0.25 s of the workers' time on W1 against 0.05 s, about 3 % of its
    wall time at ``--jobs 2`` (BENCHMARKS.md, session 7). A test holds the text equal to
    ``json.dumps``."""
    doc = result_to_json(result)
    texts: dict[str, list[str]] = {}
    arrays: dict[str, str] = {}
    for section, key, attr in _RUN_FILE_FLOATS:
        if key not in doc[section]:
            continue
        values = np.asarray(getattr(result, attr), dtype=float)
        texts[attr] = _repr_all(values)
        cells = texts[attr]
        if not np.isfinite(values).all():
            cells = [c if c not in _NON_FINITE else "null" for c in cells]
        slot = f"\x00{attr}"
        doc[section][key] = slot
        arrays[json.dumps(slot)] = "[" + ", ".join(cells) + "]"
    text = json.dumps(doc)
    for slot, array in arrays.items():  # the arrays come after the spec's strings
        head, _, tail = text.rpartition(slot)
        text = head + array + tail
    return text, "\n".join(curve_lines(result, texts))


def result_from_json(d: Mapping[str, Any]) -> RunResult:
    """The inverse of :func:`result_to_json` (non-finite values come back as NaN; a file
    written before ``eval.train_accuracy`` existed gives ``eval_train_accuracy=None``)."""
    log, ev = d["log"], d["eval"]
    stopping = d.get("early_stopping") or {}
    return RunResult(
        spec=RunSpec.from_dict(d["spec"]),
        status=d["status"],
        steps_done=d["steps_done"],
        diverged_at=d["diverged_at"],
        log_step=np.array(log["step"], dtype=np.int64),
        log_lr=_array(log["lr"]),
        log_loss=_array(log["loss"]),
        eval_step=np.array(ev["step"], dtype=np.int64),
        eval_train_loss=_array(ev["train_loss"]),
        eval_val_loss=_array(ev["val_loss"]),
        eval_val_accuracy=_array(ev["val_accuracy"]),
        steps_per_epoch=d["steps_per_epoch"],
        wall_s=d["wall_s"],
        eval_train_accuracy=_array(ev["train_accuracy"]) if "train_accuracy" in ev else None,
        stopped_early=bool(stopping.get("stopped", False)),
        restored_step=stopping.get("restored_step"),
        eval_sharpness=_array(ev["sharpness"]) if "sharpness" in ev else None,
    )


class ResultsDir:
    """A sweep's results folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.json"

    def load(self, spec: RunSpec) -> RunResult | None:
        """The finished result of ``spec``, or ``None`` (missing, unreadable or another spec)."""
        path = self.run_path(spec.run_id)
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if d.get("format") != FORMAT_VERSION or d.get("spec") != spec.to_dict():
            return None
        return result_from_json(d)

    def save(self, result: RunResult, text: str | None = None) -> None:
        """Write the run file; ``text`` is its content when already made (:func:`run_texts`)."""
        text = json.dumps(result_to_json(result)) if text is None else text
        atomic_write(self.run_path(result.spec.run_id), text)

    def remove_partial(self) -> None:
        """Delete temporary files that a stopped writer left behind (see :func:`atomic_write`)."""
        if self.runs.is_dir():
            for p in self.runs.glob(".*.tmp"):
                p.unlink(missing_ok=True)

    def clear_runs(self) -> None:
        """Forget every finished run (``--no-resume``)."""
        if self.runs.is_dir():
            for p in self.runs.glob("*.json"):
                p.unlink()

    def write_json(self, name: str, data: Any) -> Path:
        path = self.root / name
        atomic_write(path, json.dumps(jsonable(data), indent=2) + "\n")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.root / name
        atomic_write(path, text)
        return path

    def write_csv(
        self, name: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
    ) -> Path:
        return self.write_text(name, csv_text(rows, columns))


def curve_rows(result: RunResult) -> list[dict[str, Any]]:
    """``curves.csv`` rows of one run as dicts (see :func:`curve_lines` for the meaning)."""
    lines = curve_lines(result)
    return [dict(zip(CURVE_COLUMNS, line.split(","))) for line in lines]


@functools.lru_cache(maxsize=64)
def _step_cells(n: int, steps_per_epoch: int) -> tuple[list[str], list[str]]:
    """The ``step`` and ``epoch`` cells of steps ``0 .. n-1`` (the same for every run of a
    group, so formatted once)."""
    steps = np.arange(n)
    return [str(s) for s in steps.tolist()], _csv_floats(steps / steps_per_epoch)


def curve_lines(result: RunResult, texts: Mapping[str, list[str]] | None = None) -> list[str]:
    """``curves.csv`` lines of one run: logged steps, with evaluation values at their step.

    ``train_loss`` at step t is the minibatch loss computed in step t's forward pass (before
    update t); ``val_loss``, ``val_accuracy`` and ``full_train_loss`` are filled at
    evaluation points, measured after t updates. The last evaluation (after the last update)
    has a row of its own with an empty ``lr`` and ``train_loss``. Built column by column:
    a sweep writes hundreds of thousands of these, in the workers that trained the runs.
    ``texts`` maps a float array's attribute to its ``repr`` cells when already made
    (:func:`run_texts`).
    """
    rid = result.spec.run_id
    log_step = np.asarray(result.log_step, dtype=np.int64)
    ev_step = np.asarray(result.eval_step, dtype=np.int64)
    steps = np.union1d(log_step, ev_step)
    n = steps.size
    if n and steps[0] == 0 and steps[-1] == n - 1:
        step_txt, epoch_txt = _step_cells(n, result.steps_per_epoch)
    else:
        step_txt = [str(s) for s in steps.tolist()]
        epoch_txt = _csv_floats(steps / result.steps_per_epoch)
    li = np.searchsorted(steps, log_step).tolist()
    ei = np.searchsorted(steps, ev_step).tolist()
    out = []
    for name, idx in (
        ("log_lr", li),
        ("log_loss", li),
        ("eval_val_loss", ei),
        ("eval_val_accuracy", ei),
        ("eval_train_loss", ei),
    ):
        cells = _csv_floats(getattr(result, name), texts.get(name) if texts else None)
        if len(idx) == n:  # every step has a value
            out.append(cells)
            continue
        full = [""] * n
        for i, c in zip(idx, cells):
            full[i] = c
        out.append(full)
    lr, loss, val, acc, full_loss = out
    return [
        f"{rid},{a},{b},{c},{d},{e},{f},{g}"
        for a, b, c, d, e, f, g in zip(step_txt, epoch_txt, lr, loss, val, acc, full_loss)
    ]


SHARPNESS_COLUMNS = ("run_id", "step", "epoch", "lr", "sharpness", "two_over_lr")


def sharpness_rows(results: Iterable[RunResult]) -> list[dict[str, Any]]:
    """``sharpness.csv`` rows: each tracked run's sharpness (top Hessian eigenvalue of the
    training loss) at each evaluation point ``step`` (updates applied), with ``lr`` the
    learning rate of the next update (of the last one at the end) and ``2/lr``, the sharpness
    above which gradient descent at that rate is unstable on a quadratic."""
    out = []
    for r in results:
        if r.eval_sharpness is None:
            continue
        for step, lr, value in zip(r.eval_step.tolist(), eval_lrs(r), r.eval_sharpness.tolist()):
            out.append({
                "run_id": r.spec.run_id, "step": step, "epoch": step / r.steps_per_epoch,
                "lr": lr, "sharpness": value if math.isfinite(value) else None,
                "two_over_lr": 2.0 / lr if lr and math.isfinite(lr) else None,
            })  # fmt: skip
    return out


def eval_lrs(result: RunResult) -> list[float]:
    """The learning rate at each evaluation point: that of the update at its step (the last
    logged one at or before it, so the last update's at the end); NaN without one."""
    steps, lrs = np.asarray(result.log_step), np.asarray(result.log_lr, dtype=float)
    at = np.searchsorted(steps, np.asarray(result.eval_step), side="right") - 1
    return [float(lrs[i]) if i >= 0 else math.nan for i in at.tolist()]
