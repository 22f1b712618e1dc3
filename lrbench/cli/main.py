"""The ``lrbench`` command line. The only module that prints or exits.

Results and tables go to stdout; progress and diagnostics to stderr. Bad input (a config, a
flag, a file) is one line on stderr and exit code 2; an interrupted sweep exits 130 with its
finished runs kept; a bug in lrbench keeps its traceback.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from lrbench.cli.batch import (
    AddressOpt,
    BaselineOpt,
    CheckOpt,
    ExecutorKind,
    ExecutorOpt,
    JunitOpt,
    ToleranceOpt,
    batch,
    ci_json,
    ci_options,
    compare,
    finish_checks,
)
from lrbench.cli.common import (
    EXIT_BAD_INPUT,
    USAGE_ERROR,
    Format,
    FormatOpt,
    JobsOpt,
    NoResumeOpt,
    PlotsOpt,
    QuietOpt,
    ScheduleFormat,
    SetOpt,
    stderr,
    stdout,
    usage_line,
    user_errors,
    write_report,
)
from lrbench.cli.find_lr import find_lr
from lrbench.errors import LrbenchError
from lrbench.files import atomic_write
from lrbench.params import Param

if TYPE_CHECKING:
    from lrbench.cli.progress import SweepProgress

app = typer.Typer(
    name="lrbench",
    help="Which learning rate, schedule and optimizer, and how sensitive is the answer?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def sweep(
    configs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Config file(s); default: the bundled quick start.", show_default=False
        ),
    ] = None,  # noqa: UP007
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Results folder (default results/<name>).")
    ] = None,  # noqa: UP007
    jobs: JobsOpt = None,
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    no_resume: NoResumeOpt = False,
    plots: PlotsOpt = True,
    check: CheckOpt = False,
    baseline: BaselineOpt = None,
    junit: JunitOpt = None,
    tolerance: ToleranceOpt = None,
    executor: ExecutorOpt = ExecutorKind.local,
    address: AddressOpt = None,
) -> None:
    """Train the grid of a config and report which learning rates worked."""
    from lrbench.config import load_config  # config+core: not for --help
    from lrbench.sweep import run as sweep_mod  # sweep: --help, list load none
    from lrbench.sweep.executor import default_jobs  # sweep: --help, list load none
    from lrbench.sweep.executors import open_executor  # sweep: --help, list load none

    with user_errors(), open_executor(executor.value, jobs or default_jobs(), address) as runner:
        config = load_config(configs or None, set_ or ())
        ci = ci_options(check, baseline, junit, tolerance, config.name)
        n_jobs = jobs or default_jobs()
        err = stderr()
        progress = None if quiet else _progress_printer(err)
        outcome = sweep_mod.run(
            config,
            out=out,
            jobs=n_jobs,
            resume=not no_resume,
            on_event=progress.event if progress else None,
            argv=sys.argv,
            executor=runner,
        )
        if progress:
            progress.close()
        if plots:
            outcome = write_report(outcome)
        source = " ".join(str(c) for c in configs or ())
        checks = ci.run_checks(outcome, source) if ci.wanted(config, fmt) else None
    from lrbench.report import tables as report  # report, core: --help loads none

    if fmt is Format.json:
        data = {**report.summary_json(outcome), **ci_json(checks)}
        sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
    elif fmt is Format.markdown:
        sys.stdout.write(report.markdown(outcome))
    else:
        console = stdout()
        for renderable in report.tables(outcome):
            console.print(renderable)
    if not quiet and fmt is not Format.table:
        stderr().print(f"results: {outcome.out_dir}")
    if checks is not None:
        finish_checks([checks], ci, fmt)


def _progress_printer(console: Console) -> SweepProgress:
    from lrbench.cli.progress import SweepProgress  # rich.progress: only when progress is shown

    return SweepProgress(console)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="Config file to check.")],
    set_: SetOpt = None,
) -> None:
    """Check a config; print the grid size and the lockstep groups."""
    from lrbench.config import load_config  # config+core: not for --help
    from lrbench.report import commands  # report, core: --help loads none
    from lrbench.sweep.executor import default_jobs, make_groups  # sweep: --help, list load none
    from lrbench.sweep.preflight import preflight  # sweep: --help, list load none

    with user_errors():
        cfg = load_config([config], set_ or ())
        specs = cfg.specs()
        memory = preflight(specs, default_jobs())
        groups = make_groups(specs)
    stdout().print(commands.validate_table(cfg, specs, groups))
    stdout().print(memory.text())


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path(
        "lrbench.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example config to start from."""
    from lrbench.config import example_config  # config+core: not for --help

    with user_errors():
        if path.exists() and not force:
            raise LrbenchError(f"{path} exists; use --force to overwrite it")
        path.write_text(example_config())
    stderr().print(f"wrote {path}; run it with: lrbench sweep {path}")


class Family(str, Enum):
    all = "all"
    optimizers = "optimizers"
    schedules = "schedules"
    models = "models"
    datasets = "datasets"


@app.command("list")
def list_(
    family: Annotated[Family, typer.Argument(help="Which registry to show.")] = Family.all,
) -> None:
    """Optimizers, schedules, models and datasets, with parameters and defaults."""
    from lrbench.report import commands  # report, core: --help loads none

    console = stdout()
    for table in commands.registry_tables(family.value):
        console.print(table)


@app.command()
def schedule(
    name: Annotated[str, typer.Argument(help="Schedule name (see lrbench list schedules).")],
    steps: Annotated[
        int, typer.Option("--steps", "-n", min=1, max=10**7, help="Run length in steps.")
    ] = 100,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Base (or peak) learning rate.")] = 0.1,
    set_: SetOpt = None,
    fmt: Annotated[
        ScheduleFormat, typer.Option("--format", "-f", help="table or csv (step,lr rows).")
    ] = ScheduleFormat.table,
    plot: Annotated[
        Path | None,  # noqa: UP007
        typer.Option(
            "--plot", help="Also draw the schedule into this SVG file.", show_default=False
        ),
    ] = None,
) -> None:
    """Print the learning rate at every step of a schedule (and draw it with --plot)."""
    from lrbench.config import parse_value  # config+core: not for --help
    from lrbench.core import schedules  # the core: --help loads none

    with user_errors():
        Param("lr", 0.1, "float", low=0).check(lr, "--lr")
        given = {}
        for item in set_ or ():
            if "=" not in item:
                raise LrbenchError(f"--set {item!r}: expected key=value, e.g. warmup=0.1")
            k, v = item.split("=", 1)
            given[k.strip()] = parse_value(v, f"--set {k.strip()}")
        params = schedules.resolve_schedule(name, given, name)
        if schedules.is_stateful(name):
            raise LrbenchError(
                f"{name} depends on the validation loss; it has no fixed table (before any reduction it is the warmup then the base lr)"
            )
        table = schedules.lr_table(name, params, lr, steps)
        moms = schedules.momentum_table(name, params, steps)
        if plot is not None:
            from lrbench.report.plots import schedule_figure  # report: --help loads none

            atomic_write(plot, schedule_figure(name, params, lr, table, moms))
            stderr().print(f"wrote {plot}", soft_wrap=True)
    if fmt is ScheduleFormat.csv:
        head = "step,lr,momentum" if moms is not None else "step,lr"
        lines = [head]
        for t, v in enumerate(table):
            lines.append(f"{t},{float(v)!r}" + (f",{float(moms[t])!r}" if moms is not None else ""))
        sys.stdout.write("\n".join(lines) + "\n")
        return
    from lrbench.report import commands  # report, core: --help loads none

    stdout().print(commands.schedule_table(name, params, lr, table, moms))


@app.command("report")
def report_cmd(
    folder: Annotated[Path, typer.Argument(help="A results folder (of lrbench sweep or find-lr).")],
    out: Annotated[
        Path | None,  # noqa: UP007
        typer.Option("--out", "-o", help="Where to write the report (default: the folder)."),
    ] = None,
) -> None:
    """Write report.html and report.md from a results folder (no training) and print its tables."""
    from lrbench.report import results  # report: --help loads none

    with user_errors():
        kind = results.kind(folder)
        target = out if out is not None else folder
        if kind == "find-lr":
            lines = _findlr_report(results.read_findlr(folder), target)
        else:
            lines = _sweep_report(results.read_sweep(folder), target)
    console = stdout()
    for item in lines:
        console.print(item)


def _sweep_report(folder, target: Path) -> list:
    """Write a sweep folder's report to ``target``; what to print: its tables and where it is."""
    from lrbench.report import tables as report  # report, core: --help loads none
    from lrbench.report.html import missing_line  # report: --help loads none
    from lrbench.report.table_model import to_rich  # report: --help loads none

    outcome = folder.outcome
    write_report(outcome, folder, target)
    shown: list = [report.heatmap(outcome, t) for t in outcome.analysis.tasks]
    if outcome.analysis.tasks:
        shown.append(report.best_table(outcome))
    profile = report.profile_model(outcome)  # with a target and two or more tasks
    if profile is not None:
        shown.append(to_rich(profile))
    counts = outcome.analysis.statuses.as_dict(nonzero=True)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing finished yet"
    found = f"{len(outcome.results)} of {folder.expected} runs"
    shown.append(Text(f"{found} in {outcome.out_dir}/: {parts}"))
    if folder.missing:
        shown.append(Text(missing_line(folder), style="yellow"))
    shown.append(Text(f"report: {target / 'report.html'}, {target / 'report.md'}"))
    return shown


def _findlr_report(folder, target: Path) -> list:
    """Write a find-lr folder's report to ``target``; what to print: its suggestion tables."""
    from lrbench.report.findlr_tables import suggestion_model  # report: --help loads none
    from lrbench.report.html import findlr_html  # report: --help loads none
    from lrbench.report.markdown_page import findlr_markdown  # report: --help loads none
    from lrbench.report.table_model import to_rich  # report: --help loads none

    atomic_write(target / "report.html", findlr_html(folder))
    atomic_write(target / "report.md", findlr_markdown(folder))
    s = folder.summary
    shown: list = [to_rich(suggestion_model(p, s["settings"])) for p in s["results"]]
    shown.append(Text(f"report: {target / 'report.html'}, {target / 'report.md'}"))
    return shown


app.command("find-lr")(find_lr)
app.command()(batch)
app.command()(compare)


def main() -> None:
    """Console-script entry point. A mistake the command-line parser finds (an unknown option or
    command, a value of the wrong type, out of its range or not a choice) is one line on stderr
    and exit 2, as every other bad input is; typer would draw it as a framed box."""
    if os.environ.get("NO_COLOR"):
        os.environ.setdefault("TERM", "dumb")
    try:
        code = app(standalone_mode=False)  # exit codes come back; mistakes are raised
    except USAGE_ERROR as exc:
        if type(exc).__name__ != "NoArgsIsHelpError":  # bare `lrbench`: the help is shown
            stderr().print(f"[red]error:[/red] {escape(usage_line(exc))}", soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    raise SystemExit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
