"""Output for CI: the Markdown job summary and JUnit XML. Builds text; never prints.

**Job summary** (:func:`step_summary`): the combined table, failed expectations, regressions and,
space allowing, every expectation. GitHub rejects a step summary over 1 MiB whole, so the text is
kept under :data:`SUMMARY_BUDGET` bytes however large the grid: long cells are cut and a section
that does not fit ends with a line saying how many rows were left out.

**JUnit XML** (:func:`junit_xml`), the Ant/Jenkins layout that GitHub, GitLab and Jenkins read:
``<testsuites>`` with one ``<testsuite>`` per config (its ``properties`` first, then its test
cases, then ``system-out`` and ``system-err``), one ``<testcase>`` for the config's sweep, one per
expectation (a ``<failure>`` with the measured value when it fails) and, with a baseline, one for
the comparison (a ``<failure>`` per regression, ``<skipped>`` when the config has no baseline).
Timestamps are UTC without a zone, as the Ant schema writes them.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone

from lrbench.report.checks import (
    TableModel,
    batch_model,
    comparison_lines,
    comparison_model,
    expectations_model,
    markdown_lines,
)
from lrbench.sweep.checks import SweepChecks, best_text
from lrbench.sweep.compare import Comparison

SUMMARY_BUDGET = 512 * 1024  # bytes: half of GitHub's 1 MiB step-summary limit
CELL_CHARS = 300  # longest table cell in the summary


# ---------------------------------------------------------------- job summary
def headline(checks: Sequence[SweepChecks]) -> str:
    """``all 3 configs passed`` or ``2 expectations failed, 1 regression in 2 of 3 configs``."""
    failed = sum(len(c.failed) for c in checks)
    regs = sum(c.regressions for c in checks)
    if not failed and not regs:
        return f"all {len(checks)} config{'s' * (len(checks) != 1)} passed"
    bad = sum(not c.ok for c in checks)
    parts = [f"{failed} expectation{'s' * (failed != 1)} failed"] * bool(failed)
    parts += [f"{regs} regression{'s' * (regs != 1)}"] * bool(regs)
    return f"{', '.join(parts)} in {bad} of {len(checks)} configs"


def step_summary(checks: Sequence[SweepChecks], budget: int = SUMMARY_BUDGET) -> str:
    """The Markdown job summary, at most ``budget`` bytes (UTF-8)."""
    sections: list[list[str]] = [
        [f"## lrbench: {headline(checks)}", ""],
        markdown_lines(_cut(batch_model(checks))),
    ]
    if any(c.failed for c in checks):
        model = expectations_model(checks, failed_only=True, title="failed expectations")
        sections.append(markdown_lines(_cut(model)))
    for c in checks:
        if c.comparison is not None and c.comparison.regressions:
            model = comparison_model(c.comparison, rows=c.comparison.regressions)
            sections.append(markdown_lines(_cut(model)))
    notes = [f"- {c.baseline_note}" for c in checks if c.baseline_note]
    if notes:
        sections.append([*notes, ""])
    if any(c.expectations for c in checks):
        every = markdown_lines(_cut(expectations_model(checks, title="every expectation")), "")
        sections.append(["<details><summary>every expectation</summary>", "", *every[2:],
                         "</details>", ""])  # fmt: skip
    return _fit(sections, budget)


def compare_summary(c: Comparison, budget: int = SUMMARY_BUDGET) -> str:
    """``lrbench compare``'s job summary: the verdict, then the rows that regressed or changed."""
    rows = c.regressions + [r for r in c.rows if r.changed and not r.regression]
    sections = [[f"## lrbench compare: {c.name}", ""],
                [*(f"- {line}" for line in comparison_lines(c)), ""]]  # fmt: skip
    if rows:
        sections.append(markdown_lines(_cut(comparison_model(c, rows=rows))))
    return _fit(sections, budget)


def _cut(t: TableModel) -> TableModel:
    """The table with every cell cut to :data:`CELL_CHARS` characters."""

    def cut(s: str) -> str:
        return s if len(s) <= CELL_CHARS else s[: CELL_CHARS - 1] + "…"

    rows = tuple(tuple(cut(x) for x in row) for row in t.rows)
    return TableModel(t.title, t.columns, rows, t.right, t.styles, t.keys)


def _fit(sections: list[list[str]], budget: int) -> str:
    """Join sections line by line while they fit in ``budget`` bytes; the first section that
    does not fit is cut with a note, and later ones are left out."""
    note_room = 200
    out: list[str] = []
    used = 0
    for section in sections:
        for i, line in enumerate(section):
            size = len(line.encode()) + 1
            if used + size > budget - note_room:
                left = sum(1 for x in section[i:] if x.startswith("|"))
                out += ["", f"_… {left} more table rows left out to stay under GitHub's 1 MiB "
                            "step-summary limit; every row is in the results folders and the "
                            "JUnit file._", ""]  # fmt: skip
                return "\n".join(out) + "\n"
            out.append(line)
            used += size
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- JUnit XML
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    """Text with the characters XML 1.0 cannot hold removed."""
    return _BAD_XML.sub("", text)


def _seconds(t: float) -> str:
    return f"{max(t, 0.0):.3f}"


def junit_xml(
    checks: Sequence[SweepChecks], when: datetime | None = None, host: str | None = None
) -> str:
    """JUnit XML for the checked configs (see the module docstring for the layout)."""
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S")
    host = host or socket.gethostname() or "localhost"
    root = ET.Element("testsuites")
    for i, c in enumerate(checks):
        cases = _cases(c)
        failures = sum(case.find("failure") is not None for case in cases)
        errors = sum(case.find("error") is not None for case in cases)
        skipped = sum(case.find("skipped") is not None for case in cases)
        suite = ET.SubElement(root, "testsuite", {
            "name": _clean(c.name), "package": "lrbench", "id": str(i), "timestamp": stamp,
            "hostname": host, "tests": str(len(cases)), "failures": str(failures),
            "errors": str(errors), "skipped": str(skipped), "time": _seconds(c.wall_s),
        })  # fmt: skip
        props = ET.SubElement(suite, "properties")
        for name, value in (("config", c.source), ("results", str(c.out_dir)),
                            ("metric", c.metric), ("runs", str(c.runs)),
                            ("diverged", str(c.diverged))):  # fmt: skip
            ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
        suite.extend(cases)
        out = ET.SubElement(suite, "system-out")
        out.text = _clean(f"{c.runs} runs, {c.diverged} diverged; best: {best_text(c)}\n")
        ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _case(classname: str, name: str, time: float = 0.0) -> ET.Element:
    return ET.Element(
        "testcase", {"name": _clean(name), "classname": _clean(classname), "time": _seconds(time)}
    )


def _cases(c: SweepChecks) -> list[ET.Element]:
    cls = f"lrbench.{c.name}"
    cases = [_case(cls, "sweep", c.wall_s)]
    for r in c.expectations:
        case = _case(f"{cls}.expect", r.expectation.title)
        if not r.passed:
            e = r.expectation
            msg = f"{e.title}: measured {r.measured()}, expected {e.what} {e.bound}"
            fail = ET.SubElement(case, "failure", {"type": "expectation", "message": _clean(msg)})
            fail.text = _clean(f"{msg}\n{r.detail}\n")
        cases.append(case)
    if c.comparison is not None or c.baseline_note:
        case = _case(f"{cls}.compare", "baseline comparison")
        if c.baseline_error and c.baseline_note:
            error = ET.SubElement(case, "error", {"type": "not comparable",
                                                  "message": _clean(c.baseline_note)})  # fmt: skip
            error.text = _clean(c.baseline_note + "\n")
        elif c.baseline_note:
            ET.SubElement(case, "skipped", {"message": _clean(c.baseline_note)})
        elif c.comparison is not None and c.comparison.regressions:
            regs = c.comparison.regressions
            lines = [f"{' '.join(r.row)}: {'; '.join(r.reasons)}" for r in regs]
            fail = ET.SubElement(case, "failure", {
                "type": "regression",
                "message": _clean(f"{len(regs)} regression(s) against {c.comparison.baseline}"),
            })  # fmt: skip
            fail.text = _clean("\n".join(lines) + "\n")
        cases.append(case)
    return cases
