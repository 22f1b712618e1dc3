"""Tables of CI checks: expectations, baseline comparisons and ``lrbench batch``'s combined
table. Each is built once as a :class:`TableModel` and rendered as Rich or as Markdown; builds,
never prints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.console import RenderableType

from lrbench.report.table_model import Column, Entry, to_rich
from lrbench.report.table_model import TableModel as Model
from lrbench.sweep.checks import SweepChecks, best_text
from lrbench.sweep.compare import Comparison, RowChange
from lrbench.sweep.expect import ExpectationResult, show


@dataclass(frozen=True)
class TableModel:
    """A table as plain strings: ``right`` holds the right-aligned column indices,
    ``styles`` one Rich style per row (``""`` for none), ``keys`` how many leading columns name
    a row (repeated when a narrow terminal splits the table)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: frozenset[int] = frozenset()
    styles: tuple[str, ...] = ()
    keys: int = 1


#: The cell style (:data:`lrbench.report.table_model.STYLES`) of each row style used here.
ROW_STYLES = {"": "", "red": "bad", "green": "good", "yellow": "warn"}


def to_model(t: TableModel) -> Model:
    """The table in the one table model (:mod:`lrbench.report.table_model`), so that it fits a
    terminal as every other table does: right-aligned columns are numbers (never wrapped), the
    ``keys`` leading columns name the row, the others are prose that may wrap."""
    columns = tuple(
        Column(h, "right" if i in t.right else "left", wrap=i not in t.right, key=i < t.keys)
        for i, h in enumerate(t.columns)
    )
    rows = tuple(
        tuple(Entry(x, ROW_STYLES[t.styles[i] if i < len(t.styles) else ""]) for x in row)
        for i, row in enumerate(t.rows)
    )
    return Model(t.title, columns, rows)


def rich_table(t: TableModel) -> RenderableType:
    """The table for a terminal, fitted to its width (:func:`lrbench.report.table_model.fit`)."""
    return to_rich(to_model(t))


def markdown_lines(t: TableModel, heading: str = "###") -> list[str]:
    """GitHub Markdown: a heading, the header row and one line per row (``|`` escaped)."""
    align = "|" + "".join("---:|" if i in t.right else "---|" for i in range(len(t.columns)))
    lines = [f"{heading} {t.title}", "", _md_row(t.columns), align]
    lines += [_md_row(r) for r in t.rows]
    return [*lines, ""]


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


# ---------------------------------------------------------------- batch
def expectations_cell(c: SweepChecks) -> str:
    """``3 passed``, ``1 of 3 failed`` or ``-`` (none declared)."""
    if not c.expectations:
        return "-"
    failed = len(c.failed)
    return (
        f"{failed} of {len(c.expectations)} failed" if failed else f"{len(c.expectations)} passed"
    )


def regressions_cell(c: SweepChecks) -> str:
    if c.baseline_error:
        return "not comparable"
    if c.baseline_note:
        return "no baseline"
    if c.comparison is None:
        return "-"
    return str(c.regressions)


BATCH_COLUMNS = ("config", "runs", "diverged", "best configuration", "expectations",
                 "regressions", "wall s")  # fmt: skip


def batch_model(checks: Sequence[SweepChecks]) -> TableModel:
    """One row per config: runs, diverged, the best configuration and its metric, expectations
    passed or failed, regressions against the baseline, wall time."""
    rows = tuple(
        (c.name, str(c.runs), str(c.diverged), best_text(c), expectations_cell(c),
         regressions_cell(c), f"{c.wall_s:.1f}")
        for c in checks
    )  # fmt: skip
    return TableModel(
        title=f"lrbench batch: {len(checks)} config{'s' * (len(checks) != 1)}",
        columns=BATCH_COLUMNS,
        rows=rows,
        right=frozenset({1, 2, 6}),
        styles=tuple("" if c.ok else "red" for c in checks),
    )


# ---------------------------------------------------------------- expectations
def result_row(r: ExpectationResult) -> tuple[str, ...]:
    verdict = r.verdict  # pass / FAIL, or holds / does not hold for a claim
    if r.near_bound:
        verdict += " (within noise)"
    return (r.expectation.title, verdict, r.measured(), r.expectation.bound, r.detail)


def expectations_model(
    checks: Sequence[SweepChecks], *, failed_only: bool = False, title: str = "expectations"
) -> TableModel:
    """Every expectation (or only failed ones) of every config, with the measured value."""
    pairs = [(c, r) for c in checks for r in c.expectations if not (failed_only and r.passed)]
    several = len({c.name for c, _ in pairs}) > 1
    head = ("config",) if several else ()
    return TableModel(
        title=title,
        columns=(*head, "expectation", "result", "measured (95% CI)", "expected", "where"),
        rows=tuple(((c.name,) if several else ()) + result_row(r) for c, r in pairs),
        styles=tuple("green" if r.passed else "red" for _, r in pairs),
        keys=2 if several else 1,
    )


# ---------------------------------------------------------------- comparisons
def _lr(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _num(x: float | None) -> str:
    return "-" if x is None else show(x)


def change_row(r: RowChange) -> tuple[str, ...]:
    lr = _lr(r.base_lr) if r.base_lr == r.new_lr else f"{_lr(r.base_lr)} → {_lr(r.new_lr)}"
    delta = "-" if r.delta is None else f"{r.delta:+.4g}"
    noise = "-" if r.noise is None else f"±{r.noise:.3g}"
    statuses = ", ".join(f"lr {s.lr:g} s{s.seed}: {s.before}→{s.after}" for s in r.statuses[:4]) + (
        f" (+{len(r.statuses) - 4})" if len(r.statuses) > 4 else ""
    )
    verdict = "REGRESSION: " + "; ".join(r.reasons) if r.regression else "ok"
    return (*r.row, lr, _num(r.base_value), _num(r.new_value), delta, noise, statuses or "-",
            verdict)  # fmt: skip


COMPARE_COLUMNS = ("task", "optimizer", "schedule", "best lr", "baseline", "new", "Δ",
                   "seeds' noise", "status changes", "verdict")  # fmt: skip


def comparison_model(c: Comparison, *, rows: Sequence[RowChange] | None = None) -> TableModel:
    """The per-row comparison (all rows, or the ``rows`` given)."""
    shown = c.rows if rows is None else tuple(rows)
    return TableModel(
        title=f"{c.name}: {c.metric} of the best cell, baseline vs new (tolerance {c.tolerance})",
        columns=COMPARE_COLUMNS,
        rows=tuple(change_row(r) for r in shown),
        right=frozenset({3, 4, 5, 6, 7}),
        styles=tuple("red" if r.regression else ("yellow" if r.changed else "") for r in shown),
        keys=3,
    )


def comparison_lines(c: Comparison) -> list[str]:
    """The lines around the table: runs on one side only, notes, the verdict."""
    out = [f"baseline {c.baseline}, new {c.new}"]
    for side, runs in (("baseline", c.only_baseline), ("new results", c.only_new)):
        if runs:
            rows = list(dict.fromkeys(" ".join(r.row) for r in runs))
            more = f" (+{len(rows) - 5} more rows)" if len(rows) > 5 else ""
            out.append(f"{len(runs)} runs only in the {side}: {'; '.join(rows[:5])}{more}")
    out += list(c.notes)
    regs = c.regressions
    if regs:
        names = "; ".join(" ".join(r.row) for r in regs)
        out.append(f"{len(regs)} regression{'s' * (len(regs) != 1)}: {names}")
    else:
        out.append("no regression")
    return out


def comparison_markdown(c: Comparison) -> str:
    """``lrbench compare --format markdown``."""
    lines = [f"## lrbench compare: {c.name}", ""]
    lines += [f"- {line}" for line in comparison_lines(c)] + [""]
    lines += markdown_lines(comparison_model(c))
    return "\n".join(lines)
