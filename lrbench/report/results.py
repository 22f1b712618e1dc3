"""A results folder read back, without training: what ``lrbench report`` renders.

A sweep's folder (``config.yaml`` and ``runs/``) becomes a
:class:`lrbench.sweep.run.SweepOutcome` through the same steps as a sweep's end: the config's
grid (:meth:`lrbench.config.Config.specs`), each finished run file
(:meth:`lrbench.sweep.store.ResultsDir.load`: a run whose spec changed is not read), the
analysis (:func:`lrbench.sweep.analysis.analyze`) and the stability bounds (from
``manifest.json``, or computed when a sweep was stopped before writing it). Runs of the grid
without a file are counted as missing: a report of a partly finished sweep says how many.

A find-lr folder (``summary.json`` with its ``settings``) is read as its summary, config and
figure (``plot.svg``, when it was drawn).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrbench.config import load_config
from lrbench.core.models import MODELS
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.schedules import SCHEDULES
from lrbench.errors import LrbenchError
from lrbench.spec import registry_defaults
from lrbench.sweep.analysis import analyze
from lrbench.sweep.run import SweepOutcome
from lrbench.sweep.store import ResultsDir
from lrbench.sweep.theory import bounds_by_label, task_bounds


@dataclass(frozen=True)
class SweepFolder:
    """A sweep's results folder: the outcome of its finished runs, how many runs its grid has,
    its manifest (empty if there is none yet) and its config's text."""

    outcome: SweepOutcome
    expected: int
    manifest: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""

    @property
    def missing(self) -> int:
        return self.expected - len(self.outcome.results)


@dataclass(frozen=True)
class FindLrFolder:
    """A find-lr results folder: ``summary.json`` as data, the config's text, ``plot.svg``
    (None when it was not drawn) and the folder."""

    summary: dict[str, Any]
    config_text: str
    figure: str | None
    out_dir: Path


def kind(folder: Path) -> str:
    """``"sweep"`` (a ``config.yaml`` with ``runs/`` or ``runs.csv``), ``"find-lr"`` (a
    ``summary.json`` with ``settings``), or a one-line :class:`LrbenchError`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LrbenchError(f"{folder}: no such results folder")
    if (folder / "config.yaml").is_file() and (
        (folder / "runs").is_dir() or (folder / "runs.csv").is_file()
    ):
        return "sweep"
    summary = _json(folder / "summary.json")
    if isinstance(summary, dict) and "settings" in summary and "results" in summary:
        return "find-lr"
    raise LrbenchError(
        f"{folder}: not a results folder (a sweep's has config.yaml and runs/, a find-lr "
        "one summary.json)"
    )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LrbenchError(f"{path}: cannot read it as JSON ({exc})") from None


def read_sweep(folder: Path) -> SweepFolder:
    """The finished runs of a sweep's folder, analysed (see the module docstring)."""
    folder = Path(folder)
    config = load_config([folder / "config.yaml"])
    specs = config.specs()
    store = ResultsDir(folder)
    results = tuple(r for r in (store.load(s) for s in specs) if r is not None)
    manifest = _json(folder / "manifest.json")
    manifest = manifest if isinstance(manifest, dict) else {}
    # models first: `linear` names a model and a schedule, and the schedule's defaults must win
    defaults = registry_defaults(MODELS, OPTIMIZERS, SCHEDULES)
    analysis = analyze(
        results, config.analysis["metric"], config.analysis["target"], defaults=defaults
    )
    bounds = manifest.get("stability_bounds")
    if not isinstance(bounds, dict) or manifest.get("runs") != len(specs):
        bounds = bounds_by_label(analysis, task_bounds(config.tasks, config.train["dtype"]))
    outcome = SweepOutcome(
        config=config,
        out_dir=folder,
        results=results,
        analysis=analysis,
        bounds={str(k): float(v) for k, v in bounds.items()},
        n_resumed=len(results),
        wall_s=float(manifest.get("wall_s") or 0.0),
    )
    text = (folder / "config.yaml").read_text(encoding="utf-8")
    return SweepFolder(outcome, len(specs), manifest, text)


def read_findlr(folder: Path) -> FindLrFolder:
    """A find-lr folder's summary, config text and figure."""
    folder = Path(folder)
    summary = _json(folder / "summary.json")
    if not isinstance(summary, dict):
        raise LrbenchError(f"{folder / 'summary.json'}: missing or not a find-lr summary")
    config = folder / "config.yaml"
    plot = folder / "plot.svg"
    return FindLrFolder(
        summary=summary,
        config_text=config.read_text(encoding="utf-8") if config.is_file() else "",
        figure=plot.read_text(encoding="utf-8") if plot.is_file() else None,
        out_dir=folder,
    )


def finished_folder(outcome: SweepOutcome) -> SweepFolder:
    """The folder of a sweep that just finished: every run there, its manifest and config as
    the sweep wrote them."""
    folder = Path(outcome.out_dir)
    manifest = _json(folder / "manifest.json")
    config = folder / "config.yaml"
    return SweepFolder(
        outcome=outcome,
        expected=len(outcome.results),
        manifest=manifest if isinstance(manifest, dict) else {},
        config_text=config.read_text(encoding="utf-8") if config.is_file() else "",
    )
