"""``report.md``: the results folder as GitHub Markdown (tables, figures linked from
``plots/``), the text twin of ``report.html`` (:mod:`lrbench.report.html`), readable on GitHub or
in any editor. Markdown has no colours: the best cell of a heatmap row is bold, the marks
(``✗ ~ ↓``) are in the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lrbench.report import tables
from lrbench.report.html import counts_line, manifest_items, missing_line, status_model
from lrbench.report.table_model import TableModel, to_markdown

if TYPE_CHECKING:
    from lrbench.report.plots import Figure
    from lrbench.report.results import FindLrFolder, SweepFolder


def _table(model: TableModel, heading: str = "") -> list[str]:
    lines = [heading, ""] if heading else []
    lines += [*to_markdown(model), ""]
    lines += [f"{note}  " for note in model.notes]
    return [*lines, ""] if model.notes else lines


def _figure(f: Figure) -> list[str]:
    return [f"![{f.caption}](plots/{f.name})", "", f"_{f.caption}_", ""]


def _code(text: str, lang: str = "") -> list[str]:
    fence = "````" if "```" in text else "```"
    return [fence + lang, text.rstrip("\n"), fence, ""]


def sweep_markdown(folder: SweepFolder, figures: Sequence[Figure]) -> str:
    """``report.md`` of a sweep's results folder."""
    outcome = folder.outcome
    lines = [f"# lrbench sweep: {outcome.config.name}", "", counts_line(folder), ""]
    if folder.missing:
        lines += [f"**{missing_line(folder)}**", ""]
    for task in outcome.analysis.tasks:
        lines += [f"## {task}", ""]
        model = tables.heatmap_model(outcome, task)
        lines += _table(model, f"### {model.title}")
        for f in figures:
            if f.task == task:
                lines += _figure(f)
    lines += _table(tables.best_model(outcome), "## best configurations")
    profile = tables.profile_model(outcome)  # with a target and two or more tasks
    if profile is not None:
        lines += _table(profile, "## performance profile across tasks")
    whole = [f for f in figures if f.task is None]
    if whole:
        lines += ["## figures of the whole sweep", ""]
        for f in whole:
            lines += _figure(f)
    lines += _table(status_model(folder), "## run statuses")
    lines += ["## config", "", *_code(folder.config_text, "yaml")]
    lines += ["## manifest", ""]
    if folder.manifest:
        lines += ["| key | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in manifest_items(folder.manifest)]
        lines.append("")
    else:
        lines += ["No manifest.json yet: the sweep has not finished once.", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def findlr_markdown(folder: FindLrFolder) -> str:
    """``report.md`` of a find-lr results folder."""
    from lrbench.report.findlr_tables import suggestion_model  # find-lr only: sweep pages skip it

    s = folder.summary
    lines = [f"# lrbench find-lr: {s.get('name', 'find-lr')}", ""]
    lines += [f"**warning: {w}**  " for w in s.get("warnings", [])]
    if s.get("warnings"):
        lines.append("")
    for pair in s["results"]:
        model = suggestion_model(pair, s["settings"])
        lines += _table(model, f"## {pair['task']} / {pair['optimizer_label']}")
    if folder.figure is not None:
        caption = "loss against the learning rate, each seed, the mean, every suggestion and 2/L"
        lines += ["## figure", "", f"![{caption}](plot.svg)", ""]
    lines += ["## next", ""]
    command = s.get("sweep_command")
    lines += _code(command, "bash") if command else ["No recommendation: no sweep to run.", ""]
    lines += ["## settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(str(v))} |" for k, v in s["settings"].items()]
    lines += ["", "## config", "", *_code(folder.config_text, "yaml")]
    return "\n".join(lines)
