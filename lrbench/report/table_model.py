"""A table as data (title, columns, rows of text with a style name, notes) and its renderers.

The model knows nothing of Rich or Markdown: a cell's ``style`` names what the cell *is*
(:data:`STYLES`), and each renderer decides how that looks (:data:`RICH_STYLES` for a terminal,
bold for the best cell in Markdown, which has no colours). A renderer for another medium (HTML)
or a step that fits a model to a width (dropping or shortening columns) works on the model alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.table import Table
from rich.text import Text

#: What a cell can be: the best of its row, within tolerance of it (good), all seeds diverged
#: (bad), unstable or partly diverged (warn), too slow (dim), or a value to stress (strong).
STYLES = ("", "best", "good", "bad", "warn", "dim", "strong")

#: How a terminal shows each style (Rich style strings).
RICH_STYLES = {
    "": "",
    "best": "bold black on green",
    "good": "green",
    "bad": "red",
    "warn": "yellow",
    "dim": "dim",
    "strong": "bold",
}


@dataclass(frozen=True)
class Column:
    """A column: its header, alignment, whether its text may wrap, and a footnote mark shown
    after the header (e.g. ``*`` for an lr above 2/L) that one of the table's notes explains."""

    header: str
    justify: Literal["left", "right"] = "left"
    wrap: bool = True
    mark: str = ""


@dataclass(frozen=True)
class Entry:
    """One cell: its text and what it is (a name of :data:`STYLES`)."""

    text: str
    style: str = ""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}; one of {STYLES}")


@dataclass(frozen=True)
class TableModel:
    """A table: a title, columns, rows (one :class:`Entry` per column) and notes shown under it
    (a legend, what a column mark means)."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Entry, ...], ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row of {len(row)} entries in {len(self.columns)} columns")


def to_rich(model: TableModel) -> Table:
    """The table for a terminal: title and notes (the caption) left-aligned, column marks after
    the headers, styles through :data:`RICH_STYLES`. Cells are plain text (no Rich markup)."""
    table = Table(
        title=model.title,
        caption="\n".join(model.notes) or None,
        title_justify="left",
        caption_justify="left",
    )
    for c in model.columns:
        table.add_column(c.header + c.mark, justify=c.justify, no_wrap=not c.wrap)
    for row in model.rows:
        table.add_row(*(Text(e.text, style=RICH_STYLES[e.style]) for e in row))
    return table


def to_markdown(model: TableModel) -> list[str]:
    """The table as GitHub Markdown lines: header, alignment row, one line per row; the best
    cell bold (``**0.12**``), other styles unmarked, ``|`` escaped. Title, notes and column
    marks are left to the document around it (Markdown tables have no caption)."""
    lines = ["| " + " | ".join(_md(c.header) for c in model.columns) + " |"]
    lines.append("|" + "".join("---:|" if c.justify == "right" else "---|" for c in model.columns))
    for row in model.rows:
        cells = (f"**{_md(e.text)}**" if e.style == "best" else _md(e.text) for e in row)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|")
