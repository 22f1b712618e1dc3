"""The tables of ``lrbench validate`` (the lockstep groups), ``lrbench list`` (the registries)
and ``lrbench schedule`` (a schedule step by step), each built as a
:class:`~lrbench.report.table_model.TableModel` and rendered for a terminal. Builds; never
prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text

from lrbench.core.data import DATASETS
from lrbench.core.models import MODELS
from lrbench.core.optimizers import OPTIMIZERS
from lrbench.core.schedules import SCHEDULES
from lrbench.report.table_model import Column, Entry, TableModel, to_rich
from lrbench.report.tables import lr_text, notation
from lrbench.spec import show

if TYPE_CHECKING:
    import numpy as np

    from lrbench.config import Config
    from lrbench.spec import RunSpec


def validate_model(
    cfg: Config, specs: Sequence[RunSpec], groups: Sequence[Sequence[RunSpec]]
) -> TableModel:
    """``lrbench validate``'s table: the lockstep groups, with the optimizer steps each group
    computes once shared prefixes are counted once (:mod:`lrbench.core.sharing`)."""
    from lrbench.core.sharing import row_steps  # lrbench list and schedule do not load it

    short = {"configurations": "configs", "steps each": "steps", "steps computed": "computed"}
    columns = (
        Column("task", key=True),
        Column("optimizers"),
        *(Column(h, "right", wrap=False, short=short[h]) for h in short),
        Column("batch", "right", wrap=False),
        Column("dtype", wrap=False),
    )
    rows = []
    for g in groups:
        s = g[0]
        computed = row_steps(g)
        texts = (
            s.task.label,
            ", ".join(sorted({x.optimizer for x in g})),
            str(len(g)),
            str(s.train.steps),
            f"{computed:,} ({computed / (len(g) * s.train.steps):.0%})",
            str(s.train.batch_size or "full"),
            s.train.dtype,
        )
        rows.append(tuple(Entry(t) for t in texts))
    title = f"{cfg.name}: {len(specs)} runs in {len(groups)} lockstep groups"
    return TableModel(title, columns, tuple(rows))


def validate_table(
    cfg: Config, specs: Sequence[RunSpec], groups: Sequence[Sequence[RunSpec]]
) -> Group:
    """``lrbench validate``: the grid size, then :func:`validate_model`."""
    stops = len(cfg.train.get("early_stopping", (None,)))
    axes = (
        f"{len(cfg.tasks)} tasks x {len(cfg.optimizers)} optimizers x {len(cfg.schedules)} "
        f"schedules x {len(cfg.lrs)} lrs x {len(cfg.seeds)} seeds"
        + (f" x {stops} early-stopping settings" if stops > 1 else "")
        + f" = {len(specs)} runs"
    )
    return Group(Text(f"config OK: {axes}"), to_rich(validate_model(cfg, specs, groups)))


def registry_models(family: str = "all") -> list[TableModel]:
    """``lrbench list``: each registry with its parameters and defaults (prose columns wrap)."""
    families = {
        "optimizers": OPTIMIZERS,
        "schedules": SCHEDULES,
        "models": MODELS,
        "datasets": DATASETS,
    }
    out = []
    for name, reg in families.items():
        if family not in ("all", name):
            continue
        columns = (
            Column("name", wrap=False, key=True),
            Column("description"),
            Column("parameters (default: allowed)", short="parameters"),
        )
        rows = []
        for entry in reg.values():
            params = "\n".join(
                f"{p.name} = {show(p.default)}: {p.allowed()}" + (f". {p.help}" if p.help else "")
                for p in entry.params
            )
            rows.append((Entry(entry.name, "strong"), Entry(entry.doc), Entry(params or "-")))
        out.append(TableModel(name, columns, tuple(rows), row_lines=True, rules=("boxed",)))
    return out


def registry_tables(family: str = "all") -> list[RenderableType]:
    """:func:`registry_models` for a terminal."""
    return [to_rich(m) for m in registry_models(family)]


def schedule_model(
    name: str,
    params: Mapping[str, Any],
    lr: float,
    table_values: np.ndarray,
    moms: np.ndarray | None,
) -> TableModel:
    """``lrbench schedule``: the lr (and cycled momentum) at every step, 6 significant figures,
    one notation for the table (fixed unless a value is below 1e-9 or above 1e6)."""
    shown = ", ".join(f"{k}={show(v)}" for k, v in params.items())
    columns = [Column("step", "right", wrap=False, key=True), Column("lr", "right", wrap=False)]
    series = [table_values] + ([moms] if moms is not None else [])
    if moms is not None:
        columns.append(Column("momentum", "right", wrap=False))
    style = notation([float(v) for col in series for v in col], low=1e-9)
    rows = tuple(
        (Entry(str(t)), *(Entry(_six(float(col[t]), style)) for col in series))
        for t in range(len(table_values))
    )
    notes = (shown,) if shown else ()
    return TableModel(f"{name} with lr={lr_text(lr)}", tuple(columns), rows, notes)


def _six(v: float, style: str) -> str:
    """6 significant figures: ``0.0999753`` (fixed, trailing zeros dropped) or ``9.99753e-02``."""
    if style == "sci" or not math.isfinite(v):
        return f"{v:.5e}"
    if v == 0:
        return "0"
    decimals = max(0, 5 - math.floor(math.log10(abs(v))))
    text = f"{v:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def schedule_table(
    name: str,
    params: Mapping[str, Any],
    lr: float,
    table_values: np.ndarray,
    moms: np.ndarray | None,
) -> RenderableType:
    """:func:`schedule_model` for a terminal."""
    return to_rich(schedule_model(name, params, lr, table_values, moms))
