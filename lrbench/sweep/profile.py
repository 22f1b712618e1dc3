"""AlgoPerf's performance profile across tasks: how each optimizer / schedule's time to target
compares with the fastest, per task, folded into one score (:func:`performance_profile`), from
the best rows of :func:`lrbench.sweep.analysis.best_per_row` (:func:`profile_times`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from lrbench.sweep.findings import BestRow, ProfileScore

R_MAX = 4.0  # ratios at or above 4 x the fastest earn nothing


def performance_profile(
    times: Mapping[str, Mapping[str, float | None]], r_max: float = R_MAX
) -> dict[str, ProfileScore]:
    """AlgoPerf's performance-profile score of each submission (e.g. an optimizer / schedule).

    ``times[s][w]`` is submission ``s``'s time (steps) to target on task ``w``; ``None``, inf or
    absent is a miss. Ratio ``r = t / min_s t`` per task (a miss is inf); ``rho(tau)`` is the
    fraction of tasks with ``r <= tau``; the score integrates it over ``[1, r_max]`` divided by
    ``r_max - 1``, in closed form ``sum_w max(0, r_max - r) / (n_tasks * (r_max - 1))``.
    """
    tasks = list(dict.fromkeys(w for per in times.values() for w in per))

    def t_of(s: str, w: str) -> float:
        t = times[s].get(w)
        return math.inf if t is None else float(t)

    out: dict[str, ProfileScore] = {}
    fastest = {w: min(t_of(s, w) for s in times) for w in tasks}
    for s in times:
        ratios = {w: _ratio(t_of(s, w), fastest[w]) for w in tasks}
        gain = sum(max(0.0, r_max - r) for r in ratios.values())
        score = gain / (len(tasks) * (r_max - 1)) if tasks else math.nan
        out[s] = ProfileScore(ratios, score)
    return dict(sorted(out.items(), key=lambda kv: -kv[1].score))  # best first (stable)


def _ratio(t: float, fastest: float) -> float:
    if math.isinf(t):
        return math.inf
    if t == fastest:
        return 1.0
    return t / fastest if fastest > 0 else math.inf


def profile_times(best: Iterable[BestRow]) -> dict[str, dict[str, float | None]]:
    """``{optimizer / schedule: {task: best steps_to_target}}`` from :func:`best_per_row` rows."""
    out: dict[str, dict[str, float | None]] = {}
    for b in best:
        if b.metric != "steps_to_target":
            raise ValueError("profile_times needs best_per_row(..., 'steps_to_target')")
        out.setdefault(b.row_label, {})[b.task] = b.best_score
    return out
