"""A table as data (title, columns, rows of text with a style name, notes), fitted to a width,
and its renderers (Rich for a terminal, GitHub Markdown; :mod:`lrbench.report.html` for HTML).

The model knows nothing of Rich or Markdown: a cell's ``style`` names what the cell *is*
(:data:`STYLES`), and each renderer decides how that looks (:data:`RICH_STYLES` for a terminal,
bold for the best cell in Markdown, which has no colours).

**What gives way on a narrow terminal** is decided here, once, for every table
(:func:`fit`). A table is shown as built when it fits; otherwise these steps are taken in
order, each keeping the ones before it, and the first layout that fits is shown:

1. lighter rules: the boxed table (3 columns of rules and padding a column), then no vertical
   rules with two spaces between columns, then one space;
2. ``side`` columns (a heatmap's "best lr" and "good band") move to a table of their own, with
   the row-naming ``key`` columns;
3. a ``group`` column (the task of "best configurations") becomes one table per value;
4. short forms: a column's ``short`` header and an entry's ``short`` text (a heatmap cell
   without its ``±`` part); the table's ``short_note`` says what was left out;
5. the other columns are split over several tables, each repeating the ``key`` columns, as
   few as fit (the title says which columns each holds).

Prose (a column that may wrap) is wrapped only when no layout of steps 1 to 4 fits without it
(then with the lightest rules, to wrap the fewest lines), and to a width no smaller than its
longest word, so no word and no number is ever cut and no line is longer than the width. Only a table whose
``key`` columns alone are wider than the terminal is left to Rich (under about 40 columns).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
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

#: The rules a table may be drawn with, heaviest first, and the width each adds to a table of
#: ``n`` columns: boxed (``┃ a ┃ b ┃``), open (no vertical rules, two spaces between columns),
#: tight (one space).
RULES = ("boxed", "open", "tight")


def rules_width(rules: str, n: int) -> int:
    """Columns of the terminal that the rules and padding of an ``n``-column table take."""
    return {"boxed": 3 * n + 1, "open": 2 * (n - 1), "tight": n - 1}[rules]


@dataclass(frozen=True)
class Column:
    """A column: its header, alignment, whether its text may wrap (prose; numbers never wrap),
    and a footnote mark shown after the header (e.g. ``*`` for an lr above 2/L) that one of the
    table's notes explains.

    How it gives way on a narrow terminal (:func:`fit`): ``short`` is a shorter header;
    ``key`` columns name the row and are repeated when the table is split; ``side`` columns
    move to a table of their own; a ``group`` column turns the table into one table per value.
    ``width`` is the width a wrapping column is given by :func:`fit` (None: its natural width).
    """

    header: str
    justify: Literal["left", "right"] = "left"
    wrap: bool = True
    mark: str = ""
    short: str | None = None
    key: bool = False
    side: bool = False
    group: bool = False
    width: int | None = None

    @property
    def label(self) -> str:
        return self.header + self.mark


@dataclass(frozen=True)
class Entry:
    """One cell: its text, what it is (a name of :data:`STYLES`), and a shorter text for a
    narrow terminal (None: the text is already as short as it gets)."""

    text: str
    style: str = ""
    short: str | None = None

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"unknown style {self.style!r}; one of {STYLES}")


@dataclass(frozen=True)
class TableModel:
    """A table: a title, columns, rows (one :class:`Entry` per column) and notes shown under it
    (a legend, what a column mark means).

    For :func:`fit`: ``side_title`` names the table the ``side`` columns move to,
    ``short_note`` is added to the notes when short forms are shown, ``part_label`` names the
    split columns in a part's title (``lr 0.001 to 0.03``), ``rules`` the rules to try.
    ``row_lines``: a rule between rows (rows of several lines).
    """

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Entry, ...], ...]
    notes: tuple[str, ...] = ()
    side_title: str = ""
    short_note: str = ""
    part_label: str = "columns"
    rules: tuple[str, ...] = RULES
    row_lines: bool = False

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"a row of {len(row)} entries in {len(self.columns)} columns")
        bad = [r for r in self.rules if r not in RULES]
        if bad or not self.rules:
            raise ValueError(f"rules: got {self.rules!r}; a sequence of {RULES}")

    def width(self) -> int:
        """The natural width of the table with its first rules (nothing wrapped)."""
        widths = [_max_width(self, i) for i in range(len(self.columns))]
        return sum(widths) + rules_width(self.rules[0], len(self.columns))


# ------------------------------------------------------------------------------ measuring


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _max_width(model: TableModel, i: int) -> int:
    """The widest line of column ``i``, header included."""
    texts = [model.columns[i].label, *(row[i].text for row in model.rows)]
    return max(cell_len(line) for t in texts for line in _lines(t))


def _min_width(model: TableModel, i: int) -> int:
    """The narrowest column ``i`` can be: its widest line, or its longest word if it wraps."""
    if not model.columns[i].wrap:
        return _max_width(model, i)
    texts = [model.columns[i].label, *(row[i].text for row in model.rows)]
    return max((cell_len(w) for t in texts for w in t.split()), default=1)


def _sized(model: TableModel, width: int, wrap: bool = True) -> TableModel | None:
    """``model`` fitted to ``width`` with its first rules: as it is if it fits; else, with
    ``wrap``, its wrapping columns given widths (each its longest word, then a share of the room
    left in proportion to how much more it would take); None when that is still too wide."""
    n = len(model.columns)
    hi = [_max_width(model, i) for i in range(n)]
    room = width - rules_width(model.rules[0], n)
    if sum(hi) <= room:
        return model
    lo = [_min_width(model, i) for i in range(n)]
    if not wrap or sum(lo) > room:
        return None
    spare, want = room - sum(lo), [h - lo_ for h, lo_ in zip(hi, lo)]
    total = sum(want)
    sizes = [lo_ + (w * spare) // total for lo_, w in zip(lo, want)]
    columns = tuple(
        replace(c, width=s) if c.wrap and s < h else c for c, s, h in zip(model.columns, sizes, hi)
    )
    return replace(model, columns=columns)


# ------------------------------------------------------------------------------ giving way


def _with_rules(model: TableModel, rules: str) -> TableModel:
    return replace(model, rules=(rules,))


def _take(model: TableModel, keep: Sequence[int], title: str) -> TableModel:
    """The columns ``keep`` of ``model`` (in order), under ``title``."""
    return replace(
        model,
        title=title,
        columns=tuple(model.columns[i] for i in keep),
        rows=tuple(tuple(row[i] for i in keep) for row in model.rows),
    )


def _move_side(model: TableModel) -> list[TableModel]:
    cols = model.columns
    side = [i for i, c in enumerate(cols) if c.side]
    if not side:
        return [model]
    keys = [i for i, c in enumerate(cols) if c.key]
    main = _take(model, [i for i, c in enumerate(cols) if not c.side], model.title)
    other = _take(model, keys + side, model.side_title or f"{model.title} (continued)")
    return [replace(main, notes=()), replace(other, notes=model.notes)]


def _group(model: TableModel) -> list[TableModel]:
    at = next((i for i, c in enumerate(model.columns) if c.group), None)
    if at is None:
        return [model]
    values = list(dict.fromkeys(row[at].text for row in model.rows))
    rest = [i for i in range(len(model.columns)) if i != at]
    out = []
    for k, value in enumerate(values):
        part = _take(model, rest, f"{model.title}: {value}")
        rows = tuple(tuple(row[i] for i in rest) for row in model.rows if row[at].text == value)
        out.append(replace(part, rows=rows, notes=model.notes if k == len(values) - 1 else ()))
    return out or [model]


def _shorten(model: TableModel) -> TableModel:
    columns = tuple(replace(c, header=c.short) if c.short is not None else c for c in model.columns)
    rows = tuple(
        tuple(replace(e, text=e.short, short=None) if e.short is not None else e for e in row)
        for row in model.rows
    )
    changed = rows != model.rows
    notes = (*model.notes, model.short_note) if changed and model.short_note else model.notes
    return replace(model, columns=columns, rows=rows, notes=notes)


def _layouts(model: TableModel) -> Iterator[list[TableModel]]:
    """Steps 2 to 4 of the module docstring, each keeping the ones before it."""
    tables = [model]
    yield tables
    for step in (_move_side, _group):
        changed = [t for table in tables for t in step(table)]
        if changed != tables:
            tables = changed
            yield tables
    shortened = [_shorten(t) for t in tables]
    if shortened != tables:
        yield shortened


def _fitted(tables: list[TableModel], width: int, wrap: bool) -> list[TableModel] | None:
    """Step 1 for a layout: the heaviest rules with which every table fits without wrapping,
    or with ``wrap`` the lightest rules (the most room, the fewest wrapped lines) with which
    every table fits once its prose wraps; None if none does."""
    for rules in tables[0].rules[:: -1 if wrap else 1]:
        sized = [_sized(_with_rules(t, rules), width, wrap) for t in tables]
        if all(s is not None for s in sized):
            return [s for s in sized if s is not None]
    return None


def _pack(model: TableModel, width: int, rules: str, wrap: bool) -> list[list[int]]:
    """The non-key columns packed left to right into parts that each fit with the keys;
    ``[]`` if one column with the keys is already too wide."""
    keys = [i for i, c in enumerate(model.columns) if c.key]
    parts: list[list[int]] = []
    for i in (i for i, c in enumerate(model.columns) if not c.key):
        for cols in ([*parts[-1], i] if parts else None, [i]):
            if cols and _sized(_with_rules(_take(model, keys + cols, ""), rules), width, wrap):
                if len(cols) > 1:
                    parts[-1] = cols
                else:
                    parts.append(cols)
                break
        else:
            return []
    return parts


def _split(model: TableModel, width: int) -> list[TableModel] | None:
    """Step 5: the non-key columns split over as few tables as fit (ties: nothing wrapped, then
    the heaviest rules); None if one column with the keys is too wide."""
    keys = [i for i, c in enumerate(model.columns) if c.key]
    best: tuple[int, bool, str, list[list[int]]] | None = None
    for wrap in (False, True):
        for rules in model.rules:
            parts = _pack(model, width, rules, wrap)
            if parts and (best is None or len(parts) < best[0]):
                best = (len(parts), wrap, rules, parts)
    if best is None:
        return None
    n, wrap, rules, parts = best
    return [_part(model, keys, p, k, n, rules, width, wrap) for k, p in enumerate(parts)]


def _part(
    model: TableModel,
    keys: list[int],
    cols: list[int],
    k: int,
    n: int,
    rules: str,
    width: int,
    wrap: bool,
) -> TableModel:
    first, last = model.columns[cols[0]].label, model.columns[cols[-1]].label
    span = first if first == last else f"{first} to {last}"
    part = _take(model, keys + cols, f"{model.title} ({model.part_label} {span})")
    part = replace(part, notes=model.notes if k == n - 1 else ())
    sized = _sized(_with_rules(part, rules), width, wrap)
    return sized if sized is not None else part


def fit(model: TableModel, width: int) -> list[TableModel]:
    """The tables to show for ``model`` on a terminal ``width`` columns wide (see the module
    docstring for the order in which things give way). Each returned table has one rule style
    and fixed widths for its wrapping columns; together they hold every row of ``model``."""
    layouts = list(_layouts(model))
    for wrap in (False, True):
        for tables in layouts:
            fitted = _fitted(tables, width, wrap)
            if fitted is not None:
                return fitted
    parts: list[TableModel] = []
    for t in layouts[-1]:
        fitted = _fitted([t], width, False) or _fitted([t], width, True) or _split(t, width)
        parts += fitted or [_with_rules(t, t.rules[-1])]
    return parts


# ------------------------------------------------------------------------------ renderers


def rich_table(model: TableModel) -> Table:
    """One (fitted) table for a terminal, without its title and notes: rules from
    ``model.rules[0]``, column marks after the headers, styles through :data:`RICH_STYLES`.
    Cells are plain text (no Rich markup)."""
    rules = model.rules[0]
    if rules == "boxed":
        table = Table(show_lines=model.row_lines)
    else:
        pad = (0, 1) if rules == "open" else (0, 0)
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=pad, pad_edge=False)
        table.collapse_padding = rules == "open"
        table.show_lines = model.row_lines
    for c in model.columns:
        table.add_column(
            c.label, justify=c.justify, no_wrap=not c.wrap, width=c.width, overflow="fold"
        )
    for row in model.rows:
        table.add_row(*(Text(e.text, style=RICH_STYLES[e.style]) for e in row))
    return table


def rich_parts(tables: Sequence[TableModel]) -> list[RenderableType]:
    """Fitted tables as renderables: each one's title (bold), the table, its notes."""
    out: list[RenderableType] = []
    for t in tables:
        if t.title:
            out.append(Text(t.title, style="bold"))
        out.append(rich_table(t))
        out += [Text(note) for note in t.notes]
    return out


class Fitted:
    """A table model that fits itself to the width of the console it is printed on
    (:func:`fit` with the console's width)."""

    def __init__(self, model: TableModel) -> None:
        self.model = model

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Group(*rich_parts(fit(self.model, options.max_width)))


def to_rich(model: TableModel) -> Fitted:
    """The table for a terminal: fitted to the console's width when printed (:class:`Fitted`)."""
    return Fitted(model)


def to_markdown(model: TableModel) -> list[str]:
    """The table as GitHub Markdown lines: header, alignment row, one line per row; the best
    cell bold (``**0.12**``), other styles unmarked, ``|`` escaped, line breaks as spaces.
    Title, notes and column marks are left to the document around it (Markdown tables have no
    caption). Markdown is not fitted: every column, full texts."""
    lines = ["| " + " | ".join(_md(c.header) for c in model.columns) + " |"]
    lines.append("|" + "".join("---:|" if c.justify == "right" else "---|" for c in model.columns))
    for row in model.rows:
        cells = (f"**{_md(e.text)}**" if e.style == "best" else _md(e.text) for e in row)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
