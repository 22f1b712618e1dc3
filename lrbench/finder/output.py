"""What a range test leaves behind: the rows of ``curve.csv`` and ``suggestions.csv``,
``summary.json``, the tested config, and the ``lrbench sweep`` command to run next.

Data in (a :class:`lrbench.finder.run.Outcome`), rows, dicts and files out; :func:`write` writes
every file but the figure (the CLI asks :mod:`lrbench.report.findlr` for that). Numbers are
written as computed: floats in full (``repr``) in the CSVs, non-finite values as empty cells or
JSON ``null``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lrbench.files import atomic_write, csv_text, jsonable
from lrbench.finder import suggest as sg
from lrbench.finder.divergence import ema
from lrbench.finder.run import Outcome, PairResult
from lrbench.finder.trust import trust

CURVE_COLUMNS = (
    "task", "optimizer", "seed", "step", "lr", "loss_probe_post", "loss_batch_pre",
    "loss_ema", "loss_smooth", "diverged",
)  # fmt: skip
SUGGESTION_COLUMNS = (
    "task", "optimizer", "method", "kind", "seed", "lr", "base_lr", "step", "lower_bound_only",
    "recommended", "min", "max", "sd_log10", "unstable", "n", "reason",
)  # fmt: skip


def curve_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """``curve.csv``: one row per pair, seed and recorded step (:data:`CURVE_COLUMNS`).

    ``loss_ema`` (the divergence rule's causal EMA) and ``loss_smooth`` (the centred curve the
    suggestions read, empty from the stop on) are computed on the chosen ``--curve``;
    ``diverged`` is true from the stop step on.
    """
    st, lrs = outcome.settings, outcome.lrs
    rows = []
    for p in outcome.pairs:
        for s in p.seeds:
            c, stop = s.curve(st.curve), s.divergence.stop_step
            causal = ema(c[: s.rows], st.smooth_beta)
            smooth = sg.smooth_usable(c, stop_step=stop, window=st.window())
            for t in range(s.rows):
                values = (
                    p.task.label, p.label, s.seed, t, lrs[t], s.probe_post[t], s.batch_pre[t],
                    causal[t], smooth[t], stop is not None and t >= stop,
                )  # fmt: skip
                rows.append(dict(zip(CURVE_COLUMNS, values)))
    return rows


def suggestion_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """``suggestions.csv``: per pair and method one row per seed (``kind=seed``), one for the
    mean curve (``kind=mean_curve``) and one aggregate (``kind=median``: ``lr`` is the
    cross-seed median, ``min``/``max``/``sd_log10``/``unstable`` its spread)."""
    rows = []
    for p in outcome.pairs:
        for m in sg.METHODS:
            head = {"task": p.task.label, "optimizer": p.label, "method": m}
            for s in p.seeds:
                rows.append({**head, "kind": "seed", "seed": s.seed, **_sugg(s.suggestions[m])})
            rows.append({**head, "kind": "mean_curve", **_sugg(p.mean_suggestions[m])})
            a = p.aggregates[m]
            agg = {k: a[k] for k in ("min", "max", "sd_log10", "unstable", "n", "lower_bound_only")}
            agg.update(lr=a["median"], base_lr=a["base"]["median"] if m == "range" else None)
            agg.update(recommended=m == p.method, reason="; ".join(a["reasons"]))
            rows.append({**head, "kind": "median", **agg})
    return rows


def _sugg(s: sg.Suggestion) -> dict[str, Any]:
    keys = ("lr", "base_lr", "lower_bound_only", "capped", "reason")
    return {k: getattr(s, k) for k in keys} | {"step": s.index}


def summary(
    outcome: Outcome, out_dir: Path | None = None, command: str | None = None
) -> dict[str, Any]:
    """``summary.json``: the settings and, per task x optimizer, the suggestions (per seed, on the
    mean curve and aggregated), the recommendation, 2/L, the stability cap, the budget of
    ``knee``'s lower bound (``knee_budget_steps``: normalised-step optimizers), the trust report
    (:func:`lrbench.finder.trust.trust`) and where each seed stopped and why (which rule)."""
    st = outcome.settings
    settings = dataclasses.asdict(st) | {"seeds": st.seed_list(), "smooth_window": st.window()}
    settings["stop_div"] = st.div_factor is not None
    settings["points_per_decade"] = st.points_per_decade()
    data = {
        "name": outcome.config.name,
        "settings": settings,
        "results": [_pair_json(p, outcome) for p in outcome.pairs],
        "sweep_command": command,
        "warnings": list(outcome.warnings),
        "out": None if out_dir is None else str(out_dir),
    }
    return jsonable(data)


def summary_json(outcome: Outcome, out_dir: Path | None, command: str | None) -> str:
    """:func:`summary` as the text of ``summary.json`` (2-space indent, a final newline)."""
    return json.dumps(summary(outcome, out_dir, command), indent=2, allow_nan=False) + "\n"


def _pair_json(p: PairResult, outcome: Outcome) -> dict[str, Any]:
    methods = {}
    for m in sg.METHODS:
        per_seed = [_sugg(s.suggestions[m]) for s in p.seeds]
        methods[m] = {
            **p.aggregates[m],
            "mean_curve": _sugg(p.mean_suggestions[m]),
            "per_seed": per_seed,
        }
    stops = []
    for s in p.seeds:
        d = s.divergence
        lr = None if d.stop_step is None else float(outcome.lrs[d.stop_step])
        keys = ("seed", "stopped", "stop_step", "stop_lr", "reason")
        stops.append(dict(zip(keys, (s.seed, d.stopped, d.stop_step, lr, d.reason))))
    t, chosen = p.task, p.method
    recommended = {"method": chosen, "lr": p.recommended, "base_lr": p.recommended_base}
    recommended["lower_bound_only"] = p.aggregates[chosen]["lower_bound_only"]
    recommended["capped"] = p.aggregates[chosen]["n_capped"] > 0
    return {
        "task": t.label,
        "dataset": t.dataset,
        "dataset_params": dict(t.dataset_params),
        "model": t.model,
        "model_params": dict(t.model_params),
        "target": t.target,
        "optimizer": p.optimizer,
        "optimizer_params": p.optimizer_params,
        "optimizer_label": p.label,
        "batch_size": p.batch_size or "full",
        "dtype": outcome.config.train["dtype"],
        "n_train": p.n_train,
        "probe_size": p.probe_size,
        "stability_bound_2_over_L": p.bound,
        "stability_cap": None if p.cap is None else {"lr": p.cap, "rule": p.cap_rule},
        "knee_budget_steps": p.budget,
        "recommended": recommended,
        "trust": trust(p, outcome),
        "methods_disagree": p.methods_disagree,
        "n_seeds": len(p.seeds),
        "n_stopped": p.n_stopped,
        "stops": stops,
        "methods": methods,
    }


def lr_grid(recommended: Sequence[float]) -> list[float]:
    """A 3x grid around the recommendations: ``r_min * 3**k`` for ``k = -1 .. K`` with
    ``K = max(1, ceil(log3(r_max / r_min)))``; one recommendation r gives ``[r/3, r, 3r]``."""
    lo, hi = min(recommended), max(recommended)
    top = max(1, math.ceil(math.log(hi / lo) / math.log(3.0) - 1e-9))
    return [lo * 3.0**k for k in range(-1, top + 1)]


def yaml_number(v: float) -> str:
    """3 significant digits, written so that YAML 1.1 (PyYAML) reads a float: ``1.0e-05``."""
    s = f"{v:.3g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant if '.' in mant else mant + '.0'}e{exp}"
    return s


def sweep_command(
    outcome: Outcome, config_file: str | Path, overrides: Sequence[str] = ()
) -> str | None:
    """``lrbench sweep CONFIG [--set ...] --set 'lr=[a, b, c]'`` with :func:`lr_grid` around the
    recommended lrs; None when nothing was recommended."""
    rec = [p.recommended for p in outcome.pairs if p.recommended is not None]
    if not rec:
        return None
    grid = "lr=[" + ", ".join(yaml_number(v) for v in lr_grid(rec)) + "]"
    parts = ["lrbench", "sweep", str(config_file)]
    for item in [*overrides, grid]:
        parts += ["--set", item]
    return " ".join(shlex.quote(x) for x in parts)


def write(outcome: Outcome, out_dir: Path, command: str | None) -> list[Path]:
    """Write (atomically) ``config.yaml`` (the tasks, optimizers and training settings tested, as
    a sweep config), ``curve.csv``, ``suggestions.csv`` and ``summary.json``; return their paths."""
    out_dir = Path(out_dir)
    files = [out_dir / n for n in ("config.yaml", "curve.csv", "suggestions.csv", "summary.json")]
    atomic_write(files[0], yaml.safe_dump(outcome.config.raw, sort_keys=False))
    atomic_write(files[1], csv_text(curve_rows(outcome), CURVE_COLUMNS))
    atomic_write(files[2], csv_text(suggestion_rows(outcome), SUGGESTION_COLUMNS))
    atomic_write(files[3], summary_json(outcome, out_dir, command))
    return files
