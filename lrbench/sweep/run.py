"""A sweep end to end: config -> finished runs (resumed or trained) -> analysis -> files.

Returns a :class:`SweepOutcome` for the CLI to render; prints nothing and draws nothing (the
CLI asks :mod:`lrbench.report.plots` for the figures).
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy
import yaml

from lrbench import __version__
from lrbench.config import Config
from lrbench.core import kernels
from lrbench.core.data import DATASETS
from lrbench.core.datacache import sklearn_version
from lrbench.core.models import MODELS
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.schedules import SCHEDULES
from lrbench.spec import RunResult, differs, registry_defaults
from lrbench.sweep.analysis import analyze
from lrbench.sweep.executor import Executor, OnEvent, default_jobs, execute, plan
from lrbench.sweep.findings import (
    OPTIONAL_RUN_COLUMNS,
    RUN_COLUMNS,
    SUMMARY_COLUMNS,
    Analysis,
    RunMetrics,
    optional_columns,
)
from lrbench.sweep.lock import holding_results_lock
from lrbench.sweep.preflight import preflight
from lrbench.sweep.store import (
    CURVE_COLUMNS,
    SHARPNESS_COLUMNS,
    ResultsDir,
    curve_lines,
    sharpness_rows,
)
from lrbench.sweep.theory import bounds_by_label, task_bounds


@dataclass(frozen=True)
class SweepStart:
    """The payload of the ``"start"`` event: what the sweep is about to do."""

    name: str  # the config's name
    runs: int  # runs to train
    resumed: int  # finished runs found in the results folder
    steps: int  # optimizer steps to compute (shared prefixes counted once)
    groups: int  # lockstep groups
    jobs: int  # worker processes used


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did and found: its results (in the config's order), their analysis, the
    stability bound 2/L of each task that has one (task label -> 2/L), and the files written."""

    config: Config
    out_dir: Path
    results: tuple[RunResult, ...]
    analysis: Analysis
    bounds: Mapping[str, float]
    n_trained: int = 0
    n_resumed: int = 0
    wall_s: float = 0.0
    files: tuple[Path, ...] = ()

    @property
    def n_seeds(self) -> int:
        return len(self.config.seeds)


def default_out(config: Config) -> Path:
    return Path("results") / config.name


@holding_results_lock(default_out)
def run(
    config: Config,
    *,
    out: Path | None = None,
    jobs: int = 1,
    resume: bool = True,
    on_event: OnEvent | None = None,
    argv: Sequence[str] = (),
    executor: Executor | None = None,
) -> SweepOutcome:
    """Train (or resume) every run of ``config`` and write the results folder (figures aside:
    :func:`lrbench.report.figures.sweep_plots`); ``executor`` trains the chunks (default: ``jobs``
    local processes)."""
    start = time.perf_counter()
    out_dir = Path(out) if out is not None else default_out(config)
    store = ResultsDir(out_dir)
    if not resume:
        store.clear_runs()
    store.write_text("config.yaml", yaml.safe_dump(config.raw, sort_keys=False))
    specs = config.specs()
    preflight(specs, jobs)
    the_plan = plan(specs, store, jobs)
    emit = on_event or (lambda kind, payload: None)
    emit(
        "start",
        SweepStart(
            name=config.name,
            runs=the_plan.pending_runs,
            resumed=len(the_plan.done),
            steps=the_plan.pending_steps,
            groups=len(the_plan.groups),
            jobs=max(1, min(jobs, len(the_plan.groups) or 1)),
        ),
    )
    executed = execute(the_plan, store, jobs, on_event, executor)
    results = tuple(executed.results[s.run_id] for s in specs)
    # models first: `linear` names a model and a schedule, and the schedule's defaults must win
    defaults = registry_defaults(MODELS, OPTIMIZERS, SCHEDULES)
    bounds = task_bounds(config.tasks, config.train["dtype"])  # 2/L (lrbench.sweep.theory)
    analysis = analyze(
        results, config.analysis["metric"], config.analysis["target"], defaults=defaults,
        rows=config.analysis.get("rows"), bounds=bounds,
    )  # fmt: skip
    outcome = SweepOutcome(
        config=config,
        out_dir=out_dir,
        results=results,
        analysis=analysis,
        bounds=bounds_by_label(analysis, bounds),
        n_trained=the_plan.pending_runs,
        n_resumed=len(the_plan.done),
    )
    files = write_tables(store, outcome, executed.curves)
    outcome = replace(outcome, files=tuple(files), wall_s=time.perf_counter() - start)
    path = store.write_json("manifest.json", manifest(outcome, argv))
    return replace(outcome, files=(*outcome.files, path))


def write_tables(
    store: ResultsDir, outcome: SweepOutcome, curves: Mapping[str, str] | None = None
) -> list[Path]:
    """``runs.csv``, ``curves.csv`` and ``summary.csv``. ``curves`` holds runs' curve lines
    already formatted (by the workers that trained them); the others are formatted here."""
    a = outcome.analysis
    defaults = {
        "optimizer": registry_defaults(OPTIMIZERS),
        "schedule": registry_defaults(SCHEDULES),
        "model": registry_defaults(MODELS),
        "data": registry_defaults(DATASETS),
    }
    rows = [run_row(r, m, defaults) for r, m in zip(outcome.results, a.runs, strict=True)]
    hyper = sorted({k for row in rows for k in row if "." in k})
    head = ["run_id", "task", "dataset", "model", "optimizer", "schedule", "lr", "seed"]
    runs_cols = head + hyper + [c for c in RUN_COLUMNS if c not in head]
    runs_cols += optional_columns(a.runs)  # batch_size, base_lr, descent check: when set
    files = [store.write_csv("runs.csv", rows, runs_cols)]
    curves = curves or {}
    lines = [",".join(CURVE_COLUMNS)]
    for r in outcome.results:
        text = curves.get(r.spec.run_id)
        if text is None:
            lines += curve_lines(r)
        elif text:
            lines.append(text)
    files.append(store.write_text("curves.csv", "\n".join(lines) + "\n"))
    files.append(store.write_csv("summary.csv", a.summary, SUMMARY_COLUMNS))
    if any(r.eval_sharpness is not None for r in outcome.results):  # train.track: [sharpness]
        files.append(store.write_csv("sharpness.csv", sharpness_rows(outcome.results),
                                     SHARPNESS_COLUMNS))  # fmt: skip
    return files


def run_row(
    result: RunResult, metrics: RunMetrics, defaults: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """A ``runs.csv`` row: the metrics, the task's parts and every non-default hyperparameter
    (``optimizer.momentum``, ``schedule.warmup``, ``model.hidden``, ``data.noise``...).
    ``defaults[prefix][name]`` are the registries' defaults (:func:`registry_defaults`)."""
    s = result.spec
    row = metrics.csv_row()
    row.update({c: getattr(metrics, c) for c in OPTIONAL_RUN_COLUMNS})
    row["dataset"] = s.task.dataset
    row["model"] = s.task.model
    parts = (
        ("optimizer", s.optimizer, s.optimizer_params),
        ("schedule", s.schedule, s.schedule_params),
        ("model", s.task.model, s.task.model_params),
        ("data", s.task.dataset, s.task.dataset_params),
    )
    for prefix, name, params in parts:
        dflt = defaults[prefix].get(name, {})
        for k, v in params:
            if k not in dflt or differs(v, dflt[k]):
                row[f"{prefix}.{k}"] = list(v) if isinstance(v, tuple) else v
    return row


def manifest(outcome: SweepOutcome, argv: Sequence[str]) -> dict[str, Any]:
    """Versions, command line, time, machine and counts, for ``manifest.json``."""
    skl = sklearn_version()
    return {
        "lrbench": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "scikit_learn": skl,
        "kernels": "compiled" if kernels.available() else "numpy",
        "command": list(argv),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cores": default_jobs(),
        },
        "config": outcome.config.name,
        "runs": len(outcome.results),
        "trained": outcome.n_trained,
        "resumed": outcome.n_resumed,
        "statuses": outcome.analysis.statuses.as_dict(nonzero=True),
        "wall_s": round(outcome.wall_s, 3),
        "stability_bounds": outcome.bounds,
    }
