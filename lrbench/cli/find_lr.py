"""``lrbench find-lr``: the LR range test on the command line.

Flags and an optional sweep config become a :class:`lrbench.config.Config`
(:func:`build_config`), :func:`lrbench.finder.run.run` does the work, and this module renders the
result: a Rich table of suggestions per task x optimizer, a text chart of the loss against the
learning rate, and a ready-to-run ``lrbench sweep`` command. ``--format json`` prints
``summary.json`` on stdout and nothing else; warnings and notes go to stderr.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

DEFAULT_RAW: dict[str, Any] = {
    "tasks": [{"dataset": "digits", "model": "mlp", "hidden": [32]}],
    "optimizers": ["adam"],
    "train": {"batch_size": 32},
}
TASK, RAMP, RULES, OUTPUT = "Task (overrides the config)", "Ramp and curve", "Divergence and suggestions", "Output"  # fmt: skip


# ------------------------------------------------------------------------------ flags -> config


@dataclass(frozen=True)
class TaskFlags:
    """Flags that override the config: ``--dataset --target --model --hidden --optimizer
    --batch-size``. ``hidden`` as typed (``64,64``); ``batch_size`` an integer or ``full``."""

    dataset: str | None = None
    target: str | None = None
    model: str | None = None
    hidden: str | None = None
    optimizers: tuple[str, ...] = ()
    batch_size: str | None = None

    def any(self) -> bool:
        return any(v not in (None, ()) for v in dataclasses.astuple(self))


def build_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), flags: TaskFlags | None = None
):
    """The sweep config whose tasks, optimizers and ``train`` settings (batch size, dtype) the
    range test uses: ``path`` (default: digits, ``mlp`` with ``hidden: [32]``, ``adam``, batch 32),
    then ``overrides`` (``--set``, as ``lrbench sweep``), then ``flags``.

    ``--dataset`` replaces the task list with one task whose model is ``--model``, else the first
    task's if it fits the data, else ``logreg`` (``linear`` for a regression dataset);
    ``--model``, ``--hidden`` and ``--target`` alone change every task. Without ``path`` the name
    (the results folder) is made from the task and optimizer, e.g. ``digits-mlp-32-adam``.
    """
    from lrbench.config import apply_overrides, read_yaml, validate
    from lrbench.errors import ConfigError

    raw = read_yaml(path) if path is not None else copy.deepcopy(DEFAULT_RAW)
    raw = apply_overrides(raw, overrides)
    flags = flags or TaskFlags()
    _check_names(flags)
    tasks = raw.get("tasks")
    tasks = [tasks] if isinstance(tasks, dict) else tasks
    base = tasks[0] if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict) else {}
    hidden = _hidden(flags.hidden) if flags.hidden is not None else None
    if flags.dataset is not None:
        raw["tasks"] = [_retask(_new_task(flags, base), flags, hidden)]
    elif (flags.model or flags.target or hidden) and isinstance(tasks, list):
        raw["tasks"] = [
            _retask(dict(t), flags, hidden) if isinstance(t, dict) else t for t in tasks
        ]
    if flags.optimizers:
        raw["optimizers"] = list(flags.optimizers)
    if flags.batch_size is not None:
        text = flags.batch_size.strip()
        if text != "full" and not (text.isdigit() and int(text) >= 1):
            raise ConfigError("--batch-size", flags.batch_size, "an integer >= 1 or 'full'")
        train = raw.get("train") if isinstance(raw.get("train"), dict) else {}
        raw["train"] = {**train, "batch_size": text if text == "full" else int(text)}
    named = "name" in raw
    raw.setdefault("name", Path(path).stem if path is not None else "find-lr")
    config = validate(raw)
    if path is None and not named:
        from lrbench.report.plots import slug

        name = slug(f"{config.tasks[0].label} {config.optimizers[0][0]}")
        config = dataclasses.replace(config, name=name, raw={**config.raw, "name": name})
    return config


def _check_names(flags: TaskFlags) -> None:
    """Unknown names in flags fail with the flag's name (and "did you mean")."""
    from lrbench.core.data import DATASETS
    from lrbench.core.models import MODELS
    from lrbench.core.optimizers import OPTIMIZERS
    from lrbench.params import lookup

    if flags.dataset is not None and not flags.dataset.endswith(".csv"):
        lookup(DATASETS, flags.dataset, "--dataset", "dataset (or a path ending in .csv)")
    if flags.model is not None:
        lookup(MODELS, flags.model, "--model", "model")
    for name in flags.optimizers:
        lookup(OPTIMIZERS, name, "--optimizer", "optimizer")


def _hidden(text: str) -> list[int]:
    from lrbench.errors import ConfigError

    parts = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError("--hidden", text, "hidden-layer widths, e.g. 64 or 64,64")
    return [int(p) for p in parts]


def _new_task(flags: TaskFlags, base: dict[str, Any]) -> dict[str, Any]:
    from lrbench.core.data import dataset_kind
    from lrbench.core.models import model_task

    kind = dataset_kind(flags.dataset)
    model = flags.model or base.get("model")
    if not model or (kind != "csv" and model_task(model) != kind):
        model = "linear" if kind == "regression" else "logreg"
    task: dict[str, Any] = {"dataset": flags.dataset, "model": model}
    if model == "mlp" and base.get("model") == "mlp":
        task.update({k: base[k] for k in ("hidden", "activation") if k in base})
    return task


def _retask(task: dict[str, Any], flags: TaskFlags, hidden: list[int] | None) -> dict[str, Any]:
    from lrbench.errors import ConfigError

    if flags.model and flags.model != task.get("model"):
        task["model"] = flags.model
        if flags.model != "mlp":
            task.pop("hidden", None)
            task.pop("activation", None)
    if flags.target is not None:
        task["target"] = flags.target
    if hidden is not None:
        if task.get("model") != "mlp":
            raise ConfigError("--hidden", flags.hidden, "only with --model mlp")
        task["hidden"] = hidden
    return task


# ------------------------------------------------------------------------------ the command


_Config = Annotated[Path | None, typer.Argument(help="Sweep config: its tasks, optimizers, batch size and dtype are tested (schedules and lr grid ignored). Default: digits, mlp [32], adam, batch 32.", show_default=False)]  # fmt: skip
_Dataset = Annotated[str | None, typer.Option("--dataset", help="Dataset name or FILE.csv; replaces the config's tasks.", rich_help_panel=TASK)]  # fmt: skip
_Target = Annotated[str | None, typer.Option("--target", help="CSV column to predict.", rich_help_panel=TASK)]  # fmt: skip
_Model = Annotated[str | None, typer.Option("--model", help="logreg, mlp or linear.", rich_help_panel=TASK)]  # fmt: skip
_Hidden = Annotated[str | None, typer.Option("--hidden", help="MLP hidden widths, e.g. 64,64.", rich_help_panel=TASK)]  # fmt: skip
_Optimizer = Annotated[list[str] | None, typer.Option("--optimizer", help="Optimizer name; repeatable; replaces the config's.", rich_help_panel=TASK)]  # fmt: skip
_Batch = Annotated[str | None, typer.Option("--batch-size", help="Minibatch size or 'full'.", rich_help_panel=TASK)]  # fmt: skip
_Set = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config value: key.path=value (YAML value). Repeatable.", rich_help_panel=TASK)]  # fmt: skip
_Seeds = Annotated[int, typer.Option("--seeds", help="Repeats (seeds 0..N-1): init, batch order, probe rows.", rich_help_panel=RAMP)]  # fmt: skip
_Start = Annotated[float, typer.Option("--start-lr", help="First learning rate.", rich_help_panel=RAMP)]  # fmt: skip
_End = Annotated[float, typer.Option("--end-lr", help="Last learning rate (reached exactly).", rich_help_panel=RAMP)]  # fmt: skip
_Iter = Annotated[int, typer.Option("--num-iter", help="Steps of the ramp.", rich_help_panel=RAMP)]  # fmt: skip
_Mode = Annotated[str, typer.Option("--mode", help="exp (constant ratio) or linear (constant step).", rich_help_panel=RAMP)]  # fmt: skip
_Curve = Annotated[str, typer.Option("--curve", help="probe: loss on fixed training rows after each step; batch: minibatch loss before it.", rich_help_panel=RAMP)]  # fmt: skip
_Probe = Annotated[int, typer.Option("--probe-size", help="Probe rows per seed (capped at the training set).", rich_help_panel=RAMP)]  # fmt: skip
_Beta = Annotated[float, typer.Option("--smooth-beta", help="EMA factor of the divergence rule, in [0, 1).", rich_help_panel=RULES)]  # fmt: skip
_Window = Annotated[int | None, typer.Option("--smooth-window", help="Centred Hann window (odd) for the suggestions; default max(5, 5% of --num-iter).", rich_help_panel=RULES, show_default=False)]  # fmt: skip
_Div = Annotated[float, typer.Option("--div-factor", help="Stop when (ema - floor) > factor x (best - floor) and ema > its first value, or when the raw loss is above factor x its running minimum for 2 steps (README).", rich_help_panel=RULES)]  # fmt: skip
_NoStop = Annotated[bool, typer.Option("--no-stop-div", help="Stop only on a non-finite loss.", rich_help_panel=RULES)]  # fmt: skip
_Floor = Annotated[float, typer.Option("--loss-floor", help="Known lower bound of the loss.", rich_help_panel=RULES)]  # fmt: skip
_SkipStart = Annotated[int, typer.Option("--skip-start", help="Leading steps that suggestions and the rise rule ignore.", rich_help_panel=RULES)]  # fmt: skip
_SkipEnd = Annotated[int, typer.Option("--skip-end", help="Steps before the stop that suggestions ignore.", rich_help_panel=RULES)]  # fmt: skip
_Suggest = Annotated[str, typer.Option("--suggest", help="Recommended method: minimum, steepest, valley or range.", rich_help_panel=RULES)]  # fmt: skip
_MinDiv = Annotated[float, typer.Option("--min-div", help="minimum = lr at the smoothed loss minimum / this.", rich_help_panel=RULES)]  # fmt: skip
_Out = Annotated[Path | None, typer.Option("--out", "-o", help="Results folder (default results/find-lr/<name>).", rich_help_panel=OUTPUT, show_default=False)]  # fmt: skip
_Format = Annotated[str, typer.Option("--format", "-f", help="table, or json (summary.json on stdout, nothing else).", rich_help_panel=OUTPUT)]  # fmt: skip
_Plot = Annotated[bool, typer.Option("--plot/--no-plot", help="Write plot.png.", rich_help_panel=OUTPUT)]  # fmt: skip
_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No notes on stderr (warnings are still shown).", rich_help_panel=OUTPUT)]  # fmt: skip


def find_lr(
    config: _Config = None,
    dataset: _Dataset = None,
    target: _Target = None,
    model: _Model = None,
    hidden: _Hidden = None,
    optimizer: _Optimizer = None,
    batch_size: _Batch = None,
    set_: _Set = None,
    seeds: _Seeds = 5,
    start_lr: _Start = 1e-6,
    end_lr: _End = 10.0,
    num_iter: _Iter = 100,
    mode: _Mode = "exp",
    curve: _Curve = "probe",
    probe_size: _Probe = 1024,
    smooth_beta: _Beta = 0.95,
    smooth_window: _Window = None,
    div_factor: _Div = 4.0,
    no_stop_div: _NoStop = False,
    loss_floor: _Floor = 0.0,
    skip_start: _SkipStart = 10,
    skip_end: _SkipEnd = 3,
    suggest: _Suggest = "minimum",
    min_div: _MinDiv = 4.0,
    out: _Out = None,
    fmt: _Format = "table",
    plot: _Plot = True,
    quiet: _Quiet = False,
) -> None:
    """LR range test: ramp the learning rate over a short run and suggest one (with its spread
    over seeds)."""
    from lrbench.cli.common import user_errors
    from lrbench.errors import ConfigError
    from lrbench.finder import run as finder
    from lrbench.sweep.executor import limit_blas_threads

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with user_errors():
        if fmt not in ("table", "json"):
            raise ConfigError("--format", fmt, "table or json")
        settings = finder.Settings(
            start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, mode=mode, curve=curve,
            seeds=seeds, probe_size=probe_size, smooth_beta=smooth_beta,
            smooth_window=smooth_window, div_factor=None if no_stop_div else div_factor,
            loss_floor=loss_floor, skip_start=skip_start, skip_end=skip_end, suggest=suggest,
            min_div=min_div,
        )  # fmt: skip
        settings.check()
        flags = TaskFlags(dataset, target, model, hidden, tuple(optimizer or ()), batch_size)
        cfg = build_config(config, set_ or (), flags)
        n_pairs = len(cfg.tasks) * len(cfg.optimizers)
        if not quiet:
            note = f"find-lr {cfg.name}: {n_pairs} task x optimizer pair(s) x {seeds} seed(s), "
            note += f"{num_iter} steps, lr {start_lr:g} -> {end_lr:g} ({mode})"
            err.print(Text(note))
        limit_blas_threads()
        outcome = finder.run(cfg, settings)
        out_dir = out if out is not None else Path("results") / "find-lr" / cfg.name
        if config is not None and not flags.any():
            command = finder.sweep_command(outcome, config, set_ or ())
        else:
            command = finder.sweep_command(outcome, out_dir / "config.yaml")
        files = finder.write(outcome, out_dir, command, plot=plot)
    for w in outcome.warnings:
        err.print(Text("warning: " + w, style="yellow"))
    if fmt == "json":
        sys.stdout.write(
            json.dumps(finder.summary(outcome, out_dir, command), indent=2, allow_nan=False) + "\n"
        )
        return
    console = Console(highlight=False, soft_wrap=False)
    plain = not (console.encoding or "").lower().startswith("utf")
    for pair in outcome.pairs:
        console.print(suggestion_table(pair, outcome))
        for line in pair_chart(pair, outcome, ascii_only=plain):
            console.print(Text(line))
        console.print()
    if command:
        console.print(Text("next: " + command), soft_wrap=True)
    else:
        console.print(Text("no recommendation: no method produced a learning rate (see the notes)"))
    names = ", ".join(f.name for f in files)
    console.print(Text(f"files: {out_dir}/ ({names})"), soft_wrap=True)


# ------------------------------------------------------------------------------ rendering


def _lr(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def suggestion_table(pair: Any, outcome: Any) -> Table:
    """One task x optimizer: every method's cross-seed median and spread, its value on the mean
    curve and a short note; ``*`` marks the recommended method. The caption says why."""
    from lrbench.finder.suggest import METHODS

    st = outcome.settings
    n = len(pair.seeds)
    title = (
        f"{pair.task.label} / {pair.label}: {n} seed{'s' if n > 1 else ''}, {st.curve} curve, "
        f"{st.mode} ramp {st.start_lr:g} -> {st.end_lr:g} in {st.num_iter} steps"
    )
    table = Table(
        title=Text(title, style="bold"),
        caption=Text(_caption(pair, outcome)),
        title_justify="left",
        caption_justify="left",
        box=None,
        pad_edge=False,
        show_edge=False,
    )
    for name in ("method", "median", "min-max", "sd log10", "unstable", "on mean", "note"):
        right = name in ("median", "min-max", "sd log10", "on mean")
        table.add_column(name, justify="right" if right else "left", header_style="bold")
    for m in METHODS:
        a, mean = pair.aggregates[m], pair.mean_suggestions[m]
        chosen = m == st.suggest
        spread = f"{a['min']:.3g}-{a['max']:.3g}" if a["n"] else "-"
        sd = "-" if a["sd_log10"] is None else f"{a['sd_log10']:.2f}"
        unstable = {None: "-", True: "yes", False: "no"}[a["unstable"]]
        note = "none" if not a["n"] else (f"{a['n_missing']}/{n} none" if a["n_missing"] else "")
        if a["lower_bound_only"]:
            note = (note + ", " if note else "") + "lower bound"
        cells = [m + (" *" if chosen else ""), _lr(a["median"]), spread, sd, unstable]
        style = "bold" if chosen else ("yellow" if a["unstable"] else "")
        table.add_row(*(Text(c, style=style) for c in [*cells, _lr(mean.lr), note]))
    return table


def _caption(pair: Any, outcome: Any) -> str:
    from lrbench.finder.suggest import METHODS

    st, lrs = outcome.settings, outcome.lrs
    n = len(pair.seeds)
    agg = pair.aggregates
    lines = []
    if pair.recommended is None:
        lines.append(f"no recommendation: {st.suggest} gave no value for any seed")
    else:
        bound = " (a lower bound)" if agg[st.suggest]["lower_bound_only"] else ""
        what = f"lr {pair.recommended:.3g}"
        if pair.recommended_base is not None:
            what = f"base_lr {pair.recommended_base:.3g}, max_lr {pair.recommended:.3g}"
        lines.append(f"* recommended {what}{bound}: median over seeds of {st.suggest}")
    lines += _trust_lines(pair, outcome)
    if pair.bound is not None:
        lines.append(
            f"stability bound 2/L = {pair.bound:.3g} (full-batch gradient descent, no momentum)"
        )
    stops = [s.divergence.stop_step for s in pair.seeds if s.divergence.stop_step is not None]
    if stops:
        lo, hi = min(stops), max(stops)
        where = f"lr {lrs[lo]:.3g} (step {lo})"
        if hi > lo:
            where = f"lr {lrs[lo]:.3g}-{lrs[hi]:.3g} (steps {lo}-{hi})"
        lines.append(f"stopped: {len(stops)}/{n} seeds, at {where}")
    if len(stops) < n:
        what = "no divergence in range" if st.div_factor else "--no-stop-div: no non-finite loss"
        lines.append(f"{what} for {n - len(stops)}/{n} seeds: minimum and range are lower bounds")
    if pair.methods_disagree:
        lines.append(
            "steepest and minimum differ by more than 10x: read the chart before trusting either"
        )
    if agg["range"]["base"]["median"] is not None:
        lines.append(
            f"range: base_lr {agg['range']['base']['median']:.3g} = max_lr/4, for cyclic or one-cycle schedules"
        )
    lines.append("valley: fastai parity; on a convex curve it tracks --start-lr, not the problem")
    for m in METHODS:
        if agg[m]["n_missing"]:
            lines.append(
                f"{m}: none for {agg[m]['n_missing']}/{n} seeds: " + "; ".join(agg[m]["reasons"])
            )
    return "\n".join(lines)


def _trust_lines(pair: Any, outcome: Any) -> list[str]:
    """How far to trust the answer (:func:`lrbench.finder.run.trust`): spread, clear minimum,
    divergence, capping, and a range test run on another budget than the proposed sweep."""
    from lrbench.finder.run import trust

    t, n = trust(pair, outcome), len(pair.seeds)
    sp = t["seed_spread"]
    spread = "no value" if sp["max_over_min"] is None else f"x{sp['max_over_min']:.2f}"
    if sp["sd_log10"] is not None:
        spread += f" (sd log10 {sp['sd_log10']:.2f}{', unstable' if sp['unstable'] else ''})"
    lines = [
        f"trust: seed spread {spread}; clear minimum {t['clear_minimum']}/{n} seeds; "
        f"divergence detected {t['diverged']}/{n} seeds"
    ]
    for m, agg in pair.aggregates.items():
        if agg["n_capped"]:
            lines.append(
                f"capped: {m} at {pair.cap_rule} = {pair.cap:.3g} for {agg['n_capped']}/{n} seeds"
                " (no suggestion exceeds it)"
            )
    if not t["same_setup"]:
        a, b = t["range_test"], t["sweep"]
        epochs = f" ({b['epochs']} epochs)" if b["epochs"] else ""
        longer = " (a longer run's best lr is often smaller)" if b["steps"] > a["steps"] else ""
        lines.append(
            f"the range test ran {a['steps']} steps at batch {a['batch_size']}; the proposed sweep"
            f" trains {b['steps']} steps{epochs} at batch {b['batch_size']}{longer}"
        )
    return lines


def pair_chart(pair: Any, outcome: Any, *, ascii_only: bool = False) -> list[str]:
    """The text chart of one pair: the smoothed mean curve, the recommendation and 2/L."""
    from lrbench.report.findlr_plot import smoothed_mean

    bar, dash = ("|", ":") if ascii_only else ("┃", "┆")
    marks = []
    if pair.bound is not None:
        marks.append((pair.bound, dash, f"2/L = {pair.bound:.3g}"))
    if pair.recommended is not None:
        marks.append((pair.recommended, bar, f"recommended {pair.recommended:.3g}"))
    y = smoothed_mean(pair, outcome.settings)
    label = f"mean of {len(pair.seeds)} seeds, smoothed"
    return text_chart(outcome.lrs, y, marks=marks, label=label, ascii_only=ascii_only)


def text_chart(
    lrs: np.ndarray,
    y: np.ndarray,
    *,
    marks: Sequence[tuple[float, str, str]] = (),
    label: str = "loss",
    width: int = 60,
    height: int = 15,
    ascii_only: bool = False,
) -> list[str]:
    """Loss ``y[t]`` against ``log10(lrs[t])`` as ``height + 3`` lines of text.

    The x axis spans ``lrs[0]..lrs[-1]``; the y axis :func:`lrbench.report.findlr_plot.view_limits`
    (points above it are drawn as ``^`` on the top row). ``marks`` are ``(lr, char, text)``:
    a vertical line of ``char`` at ``lr`` (under the curve) and ``text`` in the legend.
    Returns ``[]`` when ``y`` has no finite point.
    """
    from lrbench.report.findlr_plot import view_limits

    lim = view_limits(y)
    if lim is None:
        return []
    bot, top = lim
    x0, x1 = math.log10(lrs[0]), math.log10(lrs[-1])
    dot, over = ("*", "^") if ascii_only else ("•", "^")

    def col(lr: float) -> int:
        return round((math.log10(lr) - x0) / (x1 - x0) * (width - 1))

    grid = [[" "] * width for _ in range(height)]
    for lr, char, _ in marks:
        if 0 <= col(lr) < width:
            for row in grid:
                row[col(lr)] = char
    for lr, v in zip(lrs, y):
        if math.isfinite(v):
            r = round((top - v) / (top - bot) * (height - 1))
            grid[max(r, 0)][col(lr)] = over if r < 0 else dot
    lines = []
    for i, row in enumerate(grid):
        tick = i in (0, height // 2, height - 1)
        value = top - (top - bot) * i / (height - 1)
        axis = ("+" if ascii_only else "┤") if tick else ("|" if ascii_only else "│")
        lines.append(f"{(f'{value:.4g}' if tick else ''):>9} {axis}" + "".join(row).rstrip())
    lines.append(" " * 10 + ("+" + "-" * width if ascii_only else "└" + "─" * width))
    axis = [" "] * (width + 8)
    taken = -2
    ticks = [(col(10.0**d), f"1e{d}") for d in range(math.ceil(x0), math.floor(x1) + 1)]
    if len(ticks) < 2:
        ticks = [(0, f"{lrs[0]:.3g}"), (width - 1, f"{lrs[-1]:.3g}")]
    for c, text in ticks:
        c = min(c, len(axis) - len(text))
        if c > taken + 1:
            axis[c : c + len(text)] = list(text)
            taken = c + len(text)
    lines.append((" " * 11 + "".join(axis)).rstrip())
    legend = [f"{dot} {label}"]
    legend += [
        f"{ch} {text}" + ("" if 0 <= col(lr) < width else " (off the chart)")
        for lr, ch, text in marks
    ]
    lines.append(" " * 11 + "   ".join(legend))
    return lines
