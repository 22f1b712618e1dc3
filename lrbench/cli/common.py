"""What every command shares: consoles, exit codes, the one place bad input becomes exit 2."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome

from lrbench.errors import ConfigErrors, LrbenchError, one_line
from lrbench.files import atomic_write

EXIT_BAD_INPUT = 2
EXIT_EXPECTATIONS = 1
EXIT_INTERRUPTED = 130


class Format(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class ScheduleFormat(str, Enum):
    table = "table"
    csv = "csv"


#: The width tables are fitted to when stdout is not a terminal (a pipe, a file, a CI log) and
#: ``COLUMNS`` does not say otherwise: wide enough for a 3-seed heatmap of 7 lrs in full.
PIPE_WIDTH = 200


def stdout() -> Console:
    """The console for results: its terminal's width (tables fit it, see
    :func:`lrbench.report.table_model.fit`); ``COLUMNS`` when set; else :data:`PIPE_WIDTH`."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console.width = PIPE_WIDTH  # logs and pipes: do not squeeze wide tables to 80 columns
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input: one line a problem on stderr, exit 2. Ctrl-C: exit 130. A file the system
    refuses to write (:data:`WRITE_ERRNOS`: a full disk, a read-only folder...): one line, exit 2.

    A :class:`lrbench.errors.ConfigErrors` prints each of its lines (at most
    :data:`lrbench.errors.MAX_REPORTED` and ``and N more``), each starting ``error:``.
    """
    try:
        yield
    except LrbenchError as exc:
        console = stderr()
        lines = exc.lines if isinstance(exc, ConfigErrors) else [str(exc)]
        for line in lines:
            console.print(f"[red]error:[/red] {escape(one_line(line))}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise  # not the machine's answer to a write: a bug keeps its traceback
        message = one_line(write_problem(exc))
        stderr().print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        stderr().print("interrupted: finished runs are kept; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None


# click's UsageError, the parser's mistakes (an unknown option or command, a value of the wrong
# type, out of its range or not one of the choices), found through typer's public BadParameter:
# typer 0.26 and later carry their own copy of click, earlier ones import the click package.
USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def usage_line(exc: Exception) -> str:
    """A mistake the command-line parser found, as one line: its message (which names the
    option or command, the value and what is allowed) and where the help is."""
    message: str = exc.format_message()  # type: ignore[attr-defined]  # click's UsageError
    ctx = getattr(exc, "ctx", None)
    hint = f" (see {ctx.command_path} -h)" if ctx is not None else ""
    return one_line(" ".join(message.split())) + hint  # its lines joined


# What the system answers when a file cannot be written: no space or quota, a file over the
# size limit (RLIMIT_FSIZE), a read-only file system, no permission, a path through a file.
WRITE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
    }
)


def write_problem(exc: OSError) -> str:
    """``cannot write results/x/runs.csv: No space left on device``: the file the write was
    for (a temporary ``.runs.csv.abc123.tmp`` of :func:`lrbench.files.atomic_write` is shown as
    ``runs.csv``), or ``the results`` when the system did not say."""
    target = "the results"
    if exc.filename:
        path = Path(str(exc.filename))
        name = path.name
        if name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3:
            name = name[1:].rsplit(".", 2)[0]
        target = str(path.with_name(name))
    reason = exc.strerror or os.strerror(exc.errno or 0)
    return (
        f"cannot write {target}: {reason} (files written before are kept; "
        "a sweep resumes from its finished runs)"
    )


SetOpt = Annotated[
    list[str] | None,  # noqa: UP007 - typer needs Optional here on 3.10
    typer.Option(
        "--set", "-s", help="Override a config value: key.path=value (YAML value). Repeatable."
    ),
]


# Options that sweep and batch share (one declaration each).
JobsOpt = Annotated[
    int | None,  # noqa: UP007 - typer needs Optional here on 3.10
    typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores)."),
]
FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help="Output: table, json or markdown.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
NoResumeOpt = Annotated[
    bool, typer.Option("--no-resume", help="Retrain every run, ignoring finished ones.")
]
PlotsOpt = Annotated[
    bool,
    typer.Option(
        "--plots/--no-plots",
        help="Write the SVG figures to <out>/plots and report.html and report.md to <out>.",
    ),
]


def write_figures(outcome: SweepOutcome) -> SweepOutcome:
    """Write the sweep's figures (:func:`lrbench.report.figures.sweep_plots`) into
    ``<out>/plots/``, atomically; the outcome with their paths added to its files."""
    from lrbench.report.figures import sweep_plots  # report: --help loads none

    return replace(outcome, files=(*outcome.files, *_write_plots(outcome, sweep_plots(outcome))))


def _write_plots(outcome: SweepOutcome, figures: list) -> list[Path]:

    paths = []
    for figure in figures:
        path = outcome.out_dir / "plots" / figure.name
        atomic_write(path, figure.svg)
        paths.append(path)
    return paths


def write_report(
    outcome: SweepOutcome, folder: Any = None, out: Path | None = None
) -> SweepOutcome:
    """Write the sweep's figures into ``<out>/plots/`` and ``report.html`` and ``report.md``
    into ``<out>/`` (atomically; ``out`` defaults to the results folder); the outcome with
    their paths added to its files. ``folder`` is the :class:`lrbench.report.results.SweepFolder`
    when the caller read one (``lrbench report``), else it is made from the finished sweep."""
    from lrbench.report.figures import sweep_plots  # report: --help loads none
    from lrbench.report.html import sweep_html  # report: --help loads none
    from lrbench.report.markdown_page import sweep_markdown  # report: --help loads none
    from lrbench.report.results import finished_folder  # report: --help loads none

    folder = folder if folder is not None else finished_folder(outcome)
    target = out if out is not None else outcome.out_dir
    figures = sweep_plots(outcome)
    paths = _write_plots(replace(outcome, out_dir=target), figures)
    for name, text in (
        ("report.html", sweep_html(folder, figures)),
        ("report.md", sweep_markdown(folder, figures)),
    ):
        atomic_write(target / name, text)
        paths.append(target / name)
    return replace(outcome, files=(*outcome.files, *paths))
