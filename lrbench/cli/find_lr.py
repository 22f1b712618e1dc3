"""``lrbench find-lr``: the LR range test on the command line.

Flags and an optional sweep config become a :class:`lrbench.config.Config`
(:func:`build_config`) and checked :class:`lrbench.finder.settings.Settings`;
:func:`lrbench.finder.run.run` does the work, :mod:`lrbench.finder.output` writes the files and
:mod:`lrbench.report.findlr` draws the tables, text charts and ``plot.svg``, which this module
prints and writes. ``--format json`` prints ``summary.json`` on stdout and nothing else;
warnings and notes go to stderr.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from lrbench.cli.common import stdout, user_errors
from lrbench.errors import ConfigError
from lrbench.files import atomic_write
from lrbench.finder.settings import PARAM, Settings, resolve
from lrbench.params import Param, flag, lookup

if TYPE_CHECKING:
    from lrbench.config import Config
    from lrbench.finder.run import Outcome

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
    from lrbench.config import apply_overrides, read_yaml, validate  # config+core: not for --help

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
        given = raw.get("train")
        train: dict[str, Any] = given if isinstance(given, dict) else {}
        raw["train"] = {**train, "batch_size": text if text == "full" else int(text)}
    named = "name" in raw
    raw.setdefault("name", Path(path).stem if path is not None else "find-lr")
    config = validate(raw)
    if path is None and not named:
        from lrbench.report.plots import slug  # report: --help loads none

        name = slug(f"{config.tasks[0].label} {config.optimizers[0][0]}")
        config = dataclasses.replace(config, name=name, raw={**config.raw, "name": name})
    return config


def _check_names(flags: TaskFlags) -> None:
    """Unknown names in flags fail with the flag's name (and "did you mean")."""
    from lrbench.core.data import DATASETS  # the core: --help loads none
    from lrbench.core.models import MODELS  # the core: --help loads none
    from lrbench.core.optimizers import OPTIMIZERS  # the core: --help loads none

    if flags.dataset is not None and not flags.dataset.endswith(".csv"):
        lookup(DATASETS, flags.dataset, "--dataset", "dataset (or a path ending in .csv)")
    if flags.model is not None:
        lookup(MODELS, flags.model, "--model", "model")
    for name in flags.optimizers:
        lookup(OPTIMIZERS, name, "--optimizer", "optimizer")


def _hidden(text: str) -> list[int]:

    parts = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError("--hidden", text, "hidden-layer widths, e.g. 64 or 64,64")
    return [int(p) for p in parts]


def _new_task(flags: TaskFlags, base: dict[str, Any]) -> dict[str, Any]:
    from lrbench.core.data import dataset_kind  # the core: --help loads none
    from lrbench.core.models import model_task  # the core: --help loads none

    assert flags.dataset is not None  # called only when --dataset is given
    kind = dataset_kind(flags.dataset)
    model = flags.model or base.get("model")
    if not model or (kind != "csv" and model_task(model) != kind):
        model = "linear" if kind == "regression" else "logreg"
    task: dict[str, Any] = {"dataset": flags.dataset, "model": model}
    if model == "mlp" and base.get("model") == "mlp":
        task.update({k: base[k] for k in ("hidden", "activation") if k in base})
    return task


def _retask(task: dict[str, Any], flags: TaskFlags, hidden: list[int] | None) -> dict[str, Any]:

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


def _setting(name: str, panel: str, **more: Any) -> Any:
    """The option of a range-test setting: ``--name``, its help from the setting's :class:`Param`."""
    return typer.Option(flag(name), help=PARAM[name].help, rich_help_panel=panel, **more)


DEFAULT = resolve()  # the settings' defaults, shown in --help
FORMAT = Param("format", "table", "choice", choices=("table", "json"))
_Config = Annotated[Path | None, typer.Argument(help="Sweep config: its tasks, optimizers, batch size and dtype are tested (schedules and lr grid ignored). Default: digits, mlp [32], adam, batch 32.", show_default=False)]  # fmt: skip
_Dataset = Annotated[str | None, typer.Option("--dataset", help="Dataset name or FILE.csv; replaces the config's tasks.", rich_help_panel=TASK)]  # fmt: skip
_Target = Annotated[str | None, typer.Option("--target", help="CSV column to predict.", rich_help_panel=TASK)]  # fmt: skip
_Model = Annotated[str | None, typer.Option("--model", help="logreg, mlp or linear.", rich_help_panel=TASK)]  # fmt: skip
_Hidden = Annotated[str | None, typer.Option("--hidden", help="MLP hidden widths, e.g. 64,64.", rich_help_panel=TASK)]  # fmt: skip
_Optimizer = Annotated[list[str] | None, typer.Option("--optimizer", help="Optimizer name; repeatable; replaces the config's.", rich_help_panel=TASK)]  # fmt: skip
_Batch = Annotated[str | None, typer.Option("--batch-size", help="Minibatch size or 'full'.", rich_help_panel=TASK)]  # fmt: skip
_Set = Annotated[list[str] | None, typer.Option("--set", "-s", help="Override a config value: key.path=value (YAML value). Repeatable.", rich_help_panel=TASK)]  # fmt: skip
_Seeds = Annotated[int, _setting("seeds", RAMP)]
_Start = Annotated[float, _setting("start_lr", RAMP)]
_End = Annotated[float, _setting("end_lr", RAMP)]
_Iter = Annotated[int, _setting("num_iter", RAMP)]
_Mode = Annotated[str, _setting("mode", RAMP)]
_Curve = Annotated[str, _setting("curve", RAMP)]
_Probe = Annotated[int, _setting("probe_size", RAMP)]
_Beta = Annotated[float, _setting("smooth_beta", RULES)]
_Window = Annotated[int | None, _setting("smooth_window", RULES, show_default=False)]
_Div = Annotated[float | None, _setting("div_factor", RULES)]
_NoStop = Annotated[bool, typer.Option("--no-stop-div", help="Stop only on a non-finite loss.", rich_help_panel=RULES)]  # fmt: skip
_Floor = Annotated[float, _setting("loss_floor", RULES)]
_SkipStart = Annotated[int, _setting("skip_start", RULES)]
_SkipEnd = Annotated[int, _setting("skip_end", RULES)]
_Suggest = Annotated[str, _setting("suggest", RULES)]
_MinDiv = Annotated[float, _setting("min_div", RULES)]
_Out = Annotated[Path | None, typer.Option("--out", "-o", help="Results folder (default results/find-lr/<name>).", rich_help_panel=OUTPUT, show_default=False)]  # fmt: skip
_Format = Annotated[str, typer.Option("--format", "-f", help="table, or json (summary.json on stdout, nothing else).", rich_help_panel=OUTPUT)]  # fmt: skip
_Plot = Annotated[bool, typer.Option("--plot/--no-plot", help="Write plot.svg.", rich_help_panel=OUTPUT)]  # fmt: skip
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
    seeds: _Seeds = DEFAULT.seeds,
    start_lr: _Start = DEFAULT.start_lr,
    end_lr: _End = DEFAULT.end_lr,
    num_iter: _Iter = DEFAULT.num_iter,
    mode: _Mode = DEFAULT.mode,
    curve: _Curve = DEFAULT.curve,
    probe_size: _Probe = DEFAULT.probe_size,
    smooth_beta: _Beta = DEFAULT.smooth_beta,
    smooth_window: _Window = DEFAULT.smooth_window,
    div_factor: _Div = DEFAULT.div_factor,
    no_stop_div: _NoStop = False,
    loss_floor: _Floor = DEFAULT.loss_floor,
    skip_start: _SkipStart = DEFAULT.skip_start,
    skip_end: _SkipEnd = DEFAULT.skip_end,
    suggest: _Suggest = DEFAULT.suggest,
    min_div: _MinDiv = DEFAULT.min_div,
    out: _Out = None,
    fmt: _Format = "table",
    plot: _Plot = True,
    quiet: _Quiet = False,
) -> None:
    """LR range test: ramp the learning rate over a short run and suggest one (with its spread
    over seeds)."""
    with user_errors():
        FORMAT.check(fmt, "--format")
        settings = resolve(
            start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, mode=mode, curve=curve,
            seeds=seeds, probe_size=probe_size, smooth_beta=smooth_beta,
            smooth_window=smooth_window, div_factor=div_factor, stop_div=not no_stop_div,
            loss_floor=loss_floor, skip_start=skip_start, skip_end=skip_end, suggest=suggest,
            min_div=min_div,
        )  # fmt: skip
        flags = TaskFlags(dataset, target, model, hidden, tuple(optimizer or ()), batch_size)
        cfg = build_config(config, set_ or (), flags)
        if not quiet:
            _note(cfg, settings)
        outcome = _run(cfg, settings)
        out_dir = out if out is not None else Path("results") / "find-lr" / cfg.name
        as_given = None if flags.any() else config  # the config file, if the flags left it as is
        command, files = _write(outcome, out_dir, as_given, set_ or (), plot)
    _show(outcome, fmt == "json", out_dir, command, files)


def _run(config: Config, settings: Settings) -> Outcome:
    """The range test, with one BLAS thread in this process (the same bits on any machine)."""
    # The engine loads when a test runs, not with every `lrbench` command.
    from lrbench.finder.run import run  # the engine: when a test runs
    from lrbench.sweep.executor import limit_blas_threads  # sweep: --help, list load none

    limit_blas_threads()
    return run(config, settings)


def _write(
    outcome: Outcome, out_dir: Path, config: Path | None, overrides: Sequence[str], plot: bool
) -> tuple[str | None, list[Path]]:
    """Write the results, ``plot.svg`` (with ``plot``), ``report.html`` and ``report.md``; return
    the next sweep command and the files. The command runs ``config`` with ``overrides`` if
    given, else the written config."""
    from lrbench.finder import output  # the engine: after a range test
    from lrbench.report.findlr import figure  # report: --help loads none

    if config is not None:
        command = output.sweep_command(outcome, config, overrides)
    else:
        command = output.sweep_command(outcome, out_dir / "config.yaml")
    files = output.write(outcome, out_dir, command)
    svg = figure(outcome) if plot else None
    if svg is not None:
        files.append(out_dir / "plot.svg")
        atomic_write(files[-1], svg)
    return command, files + _write_report(outcome, out_dir, command, svg)


def _write_report(
    outcome: Outcome, out_dir: Path, command: str | None, svg: str | None
) -> list[Path]:
    """``report.html`` and ``report.md`` in the results folder (with the figure if drawn)."""
    import yaml  # PyYAML: --help loads no YAML

    from lrbench.finder.output import summary  # the engine: after a range test
    from lrbench.report.html import findlr_html  # report: --help loads none
    from lrbench.report.markdown_page import findlr_markdown  # report: --help loads none
    from lrbench.report.results import FindLrFolder  # report: --help loads none

    config = yaml.safe_dump(outcome.config.raw, sort_keys=False)
    folder = FindLrFolder(summary(outcome, out_dir, command), config, svg, out_dir)
    paths = [out_dir / "report.html", out_dir / "report.md"]
    atomic_write(paths[0], findlr_html(folder))
    atomic_write(paths[1], findlr_markdown(folder))
    return paths


# ------------------------------------------------------------------------------ printing


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _note(config: Config, st: Settings) -> None:
    pairs = len(config.tasks) * len(config.optimizers)
    note = f"find-lr {config.name}: {pairs} task x optimizer pair(s) x {st.seeds} seed(s), "
    note += f"{st.num_iter} steps, lr {st.start_lr:g} -> {st.end_lr:g} ({st.mode})"
    _stderr().print(Text(note))


def _show(
    outcome: Outcome, as_json: bool, out_dir: Path, command: str | None, files: list[Path]
) -> None:
    """Warnings on stderr; on stdout ``summary.json`` alone (``as_json``), or per task x optimizer
    the suggestion table and text chart, then the next command and the files written."""
    from lrbench.finder.output import summary, summary_json  # the engine: after a range test
    from lrbench.report.findlr import pair_chart  # report: --help loads none
    from lrbench.report.findlr_tables import suggestion_model  # report: --help loads none
    from lrbench.report.table_model import to_rich  # report: --help loads none

    for w in outcome.warnings:
        _stderr().print(Text("warning: " + w, style="yellow"))
    if as_json:
        sys.stdout.write(summary_json(outcome, out_dir, command))
        return
    console = stdout()
    plain = not (console.encoding or "").lower().startswith("utf")
    width = max(20, min(60, console.width - 20))  # the chart's axis labels take 20 more
    data = summary(outcome)
    for pair, item in zip(outcome.pairs, data["results"]):
        console.print(to_rich(suggestion_model(item, data["settings"])))
        for line in pair_chart(pair, outcome, ascii_only=plain, width=width):
            console.print(Text(line))
        console.print()
    if command:
        console.print(Text("next: " + command), soft_wrap=True)
    else:
        console.print(Text("no recommendation: no method produced a learning rate (see the notes)"))
    names = ", ".join(f.name for f in files)
    console.print(Text(f"files: {out_dir}/ ({names})"))
