"""The suggestions of a range test as a table model, built from ``summary.json``'s data
(:func:`lrbench.finder.output.summary`), so that the terminal, ``report.html`` and
``report.md`` show the same table, whether the test just ran or its folder is read back.

Per task x optimizer: every method's cross-seed median and spread, its value on the mean curve
and a short note; ``*`` marks the recommended method; the notes say why, how far to trust it,
and where the seeds stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrbench.finder.suggest import METHODS
from lrbench.report.table_model import Column, Entry, TableModel

COLUMNS = ("method", "median", "min-max", "sd log10", "unstable", "on mean", "note")
_RIGHT = ("median", "min-max", "sd log10", "on mean")


def _lr(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def title(pair: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """``digits/mlp[32] / adam: 3 seeds, probe curve, exp ramp 1e-06 -> 10 in 100 steps``."""
    n = pair["n_seeds"]
    st = settings
    return (
        f"{pair['task']} / {pair['optimizer_label']}: {n} seed{'s' if n > 1 else ''}, "
        f"{st['curve']} curve, {st['mode']} ramp {st['start_lr']:g} -> {st['end_lr']:g} in "
        f"{st['num_iter']} steps"
    )


def suggestion_model(pair: Mapping[str, Any], settings: Mapping[str, Any]) -> TableModel:
    """One task x optimizer (an item of ``summary["results"]``) and the test's settings
    (``summary["settings"]``) as a table: a row per method, the recommended one bold."""
    n = pair["n_seeds"]
    columns = tuple(
        Column(h, "right" if h in _RIGHT else "left", wrap=h == "note", key=h == "method")
        for h in COLUMNS
    )
    rows = []
    for m in METHODS:
        a = pair["methods"][m]
        chosen = m == pair["recommended"]["method"]
        spread = f"{a['min']:.3g}-{a['max']:.3g}" if a["n"] else "-"
        sd = "-" if a["sd_log10"] is None else f"{a['sd_log10']:.2f}"
        unstable = {None: "-", True: "yes", False: "no"}[a["unstable"]]
        note = "none" if not a["n"] else (f"{a['n_missing']}/{n} none" if a["n_missing"] else "")
        if a["lower_bound_only"]:
            note = (note + ", " if note else "") + "lower bound"
        cells = [m + (" *" if chosen else ""), _lr(a["median"]), spread, sd, unstable]
        cells += [_lr(a["mean_curve"]["lr"]), note]
        style = "strong" if chosen else ("warn" if a["unstable"] else "")
        rows.append(tuple(Entry(c, style) for c in cells))
    return TableModel(
        title(pair, settings),
        columns,
        tuple(rows),
        notes=tuple(caption(pair, settings)),
        rules=("open", "tight"),
    )


def caption(pair: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """The lines under the table: the recommendation, the trust report, 2/L, where the seeds
    stopped, and what each method's missing values and caveats mean."""
    st, n, methods = settings, pair["n_seeds"], pair["methods"]
    rec = pair["recommended"]
    chosen = rec["method"]
    lines = []
    if rec["lr"] is None:
        lines.append(f"no recommendation: {chosen} gave no value for any seed")
    else:
        bound = " (a lower bound)" if methods[chosen]["lower_bound_only"] else ""
        what = f"lr {rec['lr']:.3g}"
        if rec["base_lr"] is not None:
            what = f"base_lr {rec['base_lr']:.3g}, max_lr {rec['lr']:.3g}"
        auto = {"knee": "knee for the Adam family", "minimum": "minimum outside the Adam family"}
        why = f" (--suggest auto: {auto[chosen]})" if st["suggest"] == "auto" else ""
        lines.append(f"* recommended {what}{bound}: median over seeds of {chosen}{why}")
    lines += trust_lines(pair)
    if pair["stability_bound_2_over_L"] is not None:
        holds = "exact for least squares" if pair["model"] == "linear" else (
            "sufficient for logreg: L bounds its curvature")  # fmt: skip
        lines.append(
            f"stability bound 2/L = {pair['stability_bound_2_over_L']:.3g} "
            f"(full-batch gradient descent, no momentum; {holds})"
        )
    stops = sorted(
        (s["stop_step"], s["stop_lr"]) for s in pair["stops"] if s["stop_step"] is not None
    )
    if stops:
        (lo, lo_lr), (hi, hi_lr) = stops[0], stops[-1]
        where = f"lr {lo_lr:.3g} (step {lo})"
        if hi > lo:
            where = f"lr {lo_lr:.3g}-{hi_lr:.3g} (steps {lo}-{hi})"
        lines.append(f"stopped: {len(stops)}/{n} seeds, at {where}")
    if len(stops) < n:
        what = "no divergence in range" if st["stop_div"] else "--no-stop-div: no non-finite loss"
        lines.append(
            f"{what} for {n - len(stops)}/{n} seeds: knee, minimum and range are lower bounds"
        )
    if pair["methods_disagree"]:
        lines.append(
            "steepest and minimum differ by more than 10x: read the chart before trusting either"
        )
    steps = pair.get("knee_budget_steps")
    if steps is not None:
        lines.append(
            f"knee ({pair['optimizer']}: a step of about lr per weight): geometric mean of the "
            f"knee's lr / {st['min_div']:g} and the {steps}-step run's lower bound, sum(ramp lrs up "
            f"to the knee) / {steps}, when below it"
        )
    base = methods["range"].get("base", {}).get("median")
    if base is not None:
        lines.append(f"range: base_lr {base:.3g} = max_lr/4, for cyclic or one-cycle schedules")
    lines.append("valley: fastai parity; on a convex curve it tracks --start-lr, not the problem")
    for m in METHODS:
        if methods[m]["n_missing"]:
            lines.append(
                f"{m}: none for {methods[m]['n_missing']}/{n} seeds: "
                + "; ".join(methods[m]["reasons"])
            )
    return lines


def trust_lines(pair: Mapping[str, Any]) -> list[str]:
    """How far to trust the answer (``pair["trust"]``, :func:`lrbench.finder.trust.trust`):
    spread, clear minimum, divergence, capping, and a range test run on another budget than
    the proposed sweep."""
    t, n = pair["trust"], pair["n_seeds"]
    sp = t["seed_spread"]
    spread = "no value" if sp["max_over_min"] is None else f"x{sp['max_over_min']:.2f}"
    if sp["sd_log10"] is not None:
        spread += f" (sd log10 {sp['sd_log10']:.2f}{', unstable' if sp['unstable'] else ''})"
    lines = [
        f"trust: seed spread {spread}; clear minimum {t['clear_minimum']}/{n} seeds; "
        f"divergence detected {t['diverged']}/{n} seeds"
    ]
    cap = pair["stability_cap"]
    for m, agg in pair["methods"].items():
        if agg["n_capped"] and cap is not None:
            lines.append(
                f"capped: {m} at {cap['rule']} = {cap['lr']:.3g} for {agg['n_capped']}/{n} seeds"
                " (no suggestion exceeds it)"
            )
    if not t["same_setup"]:
        a, b = t["range_test"], t["sweep"]
        epochs = f" ({b['epochs']} epochs)" if b["epochs"] else ""
        longer = " (a longer run's best lr is often smaller)" if b["steps"] > a["steps"] else ""
        lines.append(
            f"the range test ran {a['steps']} steps at batch {a['batch_size']}; the proposed sweep"
            f" trains {b['steps']} steps{epochs} at batch {b['batch_size']}{longer}"
        )
    return lines
