"""What every command shares: consoles, exit codes, the one place bad input becomes exit 2."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lrbench.errors import ConfigErrors, LrbenchError

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


def stdout() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 200  # logs and pipes: do not squeeze wide tables to 80 columns
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input: one line a problem on stderr, exit 2. Ctrl-C: exit 130.

    A :class:`lrbench.errors.ConfigErrors` prints each of its lines (at most
    :data:`lrbench.errors.MAX_REPORTED` and ``and N more``), each starting ``error:``.
    """
    try:
        yield
    except LrbenchError as exc:
        console = stderr()
        lines = exc.lines if isinstance(exc, ConfigErrors) else str(exc).splitlines() or [""]
        for line in lines:
            console.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        stderr().print("interrupted: finished runs are kept; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None


SetOpt = Annotated[
    list[str] | None,  # noqa: UP007 - typer needs Optional here on 3.10
    typer.Option(
        "--set", "-s", help="Override a config value: key.path=value (YAML value). Repeatable."
    ),
]
