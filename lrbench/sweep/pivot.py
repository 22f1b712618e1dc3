"""Which parts name a heatmap row, and in what order (``analysis.rows``).

A row is always one configuration (task, optimizer with its hyperparameters, schedule with its
parameters, early stopping): cells never merge different configurations. ``analysis.rows``
chooses how rows are named and ordered: a list of parts from ``optimizer``, ``weight_decay``,
``schedule`` and ``early_stopping``. A row's label joins its parts' labels with `` / ``; rows
are ordered by the named parts in turn, each part's values in order of first appearance (the
config's order). A part not named but varying across the sweep (optimizer, schedule or early
stopping) is added after the named ones, so two rows never share a label; weight decay not
named stays in the optimizer's label, as without ``analysis.rows``.

``rows: [optimizer, weight_decay]`` with ``{adam: {weight_decay: [0, 0.001]}}`` and one
schedule labels the rows ``adam / wd=0`` and ``adam / wd=0.001``; the table's first column is
titled ``optimizer / weight decay``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from lrbench.config import ROW_PARTS as PARTS
from lrbench.spec import part_label, show
from lrbench.sweep.findings import RowKey, RunMetrics

TITLES = {"optimizer": "optimizer", "weight_decay": "weight decay", "schedule": "schedule",
          "early_stopping": "early stopping"}  # fmt: skip


def part_text(part: str, row: RowKey, named: Sequence[str], defaults: Mapping | None) -> str:
    """The label of one part of a row (``row`` a :func:`lrbench.sweep.analysis.row_key`)."""
    _, (oname, oparams), (sname, sparams), stopping, *_ = row
    if part == "optimizer":
        kept = [(k, v) for k, v in oparams if k != "weight_decay" or "weight_decay" not in named]
        return part_label(oname, kept, defaults)
    if part == "weight_decay":
        wd = dict(oparams).get("weight_decay")
        if wd is None:  # an optimizer given without its defaults: the registry's
            wd = ((defaults or {}).get(oname) or {}).get("weight_decay", 0.0)
        return f"wd={show(wd)}"
    if part == "schedule":
        return part_label(sname, sparams, defaults)
    if part == "early_stopping":
        return "no early stop" if stopping is None else stopping.label
    raise ValueError(f"unknown row part {part!r}; one of {', '.join(PARTS)}")


def shown_parts(runs: Sequence[RunMetrics], named: Sequence[str], defaults: Mapping | None
                ) -> list[str]:  # fmt: skip
    """The named parts, then every other part (but weight decay) whose label varies."""
    out = list(named)
    for part in ("optimizer", "schedule", "early_stopping"):
        if part not in out and len({part_text(part, m.row, named, defaults) for m in runs}) > 1:
            out.append(part)
    return out


def pivot(
    runs: Sequence[RunMetrics], named: Sequence[str], defaults: Mapping | None = None
) -> tuple[list[RunMetrics], str, dict[RowKey, tuple[int, ...]]]:
    """Relabel ``runs`` by ``named`` parts (their order kept); returns the relabelled runs,
    the title of the label column and each row's rank (task first, then the shown parts, each
    by first appearance), by which the analysis orders its cells."""
    parts = shown_parts(runs, named, defaults)
    first: dict[str, dict[Hashable, int]] = {p: {} for p in ("task", *parts)}
    rank: dict[RowKey, tuple[int, ...]] = {}
    out = []
    for m in runs:
        texts = [part_text(p, m.row, named, defaults) for p in parts]
        keys: list[Any] = [m.task, *texts]
        rank[m.row] = tuple(
            first[p].setdefault(k, len(first[p])) for p, k in zip(("task", *parts), keys)
        )
        out.append(replace(m, row_label=" / ".join(texts)))
    return out, " / ".join(TITLES[p] for p in parts), rank
