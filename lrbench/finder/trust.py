"""How far to trust a range test's answer (issue 21): the facts that lower the trust, counted.

:func:`clear_minimum` says whether one curve has a bottom inside its usable range followed by a
detected divergence; :func:`trust` gathers, for one task x optimizer, the seed spread, the clear
minima, the divergences, the capping at a stability bound
(:func:`lrbench.finder.run.stability_cap`) and whether the range test ran the batch size and
length of the sweep it proposes. Data out: ``summary.json`` holds it
(:mod:`lrbench.finder.output`) and the table's caption words it (:mod:`lrbench.report.findlr`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lrbench.finder import suggest as sg
from lrbench.finder.run import Outcome, PairResult


def clear_minimum(
    losses: np.ndarray,
    *,
    stop_step: int | None,
    window: int,
    skip_start: int = 10,
    skip_end: int = 3,
) -> bool:
    """Whether one curve has a clear minimum: it diverged (``stop_step`` set or a non-finite
    loss) and its smoothed loss (:func:`lrbench.finder.suggest.smooth_usable`), over the points
    :func:`lrbench.finder.suggest.suggest` reads, is lowest strictly inside them: below the
    first one and not at the last one (a minimum at the last usable point may be the edge of
    the usable range, not a bottom)."""
    x = np.asarray(losses, dtype=np.float64)
    end = sg.usable_length(x, stop_step)
    if stop_step is None and end == x.size:
        return False
    smooth = sg.smooth_centered(x[:end], window)
    bad = np.flatnonzero(~np.isfinite(smooth))
    end = int(bad[0]) if bad.size else end
    y = smooth[skip_start : end - skip_end]
    if y.size < 3:
        return False
    m = int(np.argmin(y))
    return 0 < m < y.size - 1


def trust(pair: PairResult, outcome: Outcome) -> dict[str, Any]:
    """How far to trust one pair's recommendation: the facts, each with its count.

    - ``seed_spread``: the recommended method's ``max/min`` and ``sd_log10`` over seeds, and
      ``unstable`` (:func:`lrbench.finder.suggest.aggregate`);
    - ``clear_minimum``: seeds whose smoothed curve has a clear minimum
      (:func:`clear_minimum`: a bottom inside the usable range, then a
      detected divergence); ``diverged``: seeds where the divergence rule fired;
    - ``capped``: seeds whose recommended value was capped at the stability bound;
    - ``range_test`` and ``sweep``: batch size and steps of the range test and of the sweep it
      proposes (``config.train``: ``steps``, or ``epochs`` x steps per epoch), and
      ``same_setup``. A range test always runs ``num_iter`` steps, so a sweep of another length
      is the usual case: the best lr of a longer run is often smaller;
    - ``notes``: one sentence per fact that lowers the trust.
    """
    st, n = outcome.settings, len(pair.seeds)
    chosen = pair.aggregates[pair.method]
    ratio = None if not chosen["n"] else chosen["max"] / chosen["min"]
    clear = sum(
        clear_minimum(
            s.curve(st.curve), stop_step=s.divergence.stop_step, window=st.window(),
            skip_start=st.skip_start, skip_end=st.skip_end,
        )
        for s in pair.seeds
    )  # fmt: skip
    train = outcome.config.train
    batch = train["batch_size"]
    steps = outcome.config.train_spec(pair.task).steps  # the proposed sweep's steps
    test = {"batch_size": pair.batch_size or "full", "steps": st.num_iter}
    sweep = {"batch_size": batch or "full", "steps": steps, "epochs": train["epochs"]}
    if train["steps"]:
        sweep["epochs"] = None
    same = test["batch_size"] == sweep["batch_size"] and test["steps"] == steps
    notes = []
    if chosen["unstable"]:
        notes.append(
            f"seeds disagree: {pair.method} spans x{ratio:.3g} (sd log10 {chosen['sd_log10']:.2f})"
        )
    if clear < n:
        notes.append(f"no clear minimum for {n - clear}/{n} seeds")
    if pair.n_stopped < n:
        notes.append(f"no divergence detected for {n - pair.n_stopped}/{n} seeds: a lower bound")
    if chosen["n_capped"]:
        notes.append(
            f"capped at {pair.cap_rule} = {pair.cap:.3g} for {chosen['n_capped']}/{n} seeds"
        )
    if not same:
        what = f"{steps} steps" + (f" ({sweep['epochs']} epochs)" if sweep["epochs"] else "")
        notes.append(
            f"the range test ran {st.num_iter} steps at batch {test['batch_size']}; the sweep it "
            f"proposes trains {what} at batch {sweep['batch_size']}"
        )
    return {
        "method": pair.method,
        "seed_spread": {"max_over_min": ratio, "sd_log10": chosen["sd_log10"],
                        "unstable": chosen["unstable"], "n": chosen["n"]},
        "clear_minimum": clear,
        "diverged": pair.n_stopped,
        "capped": chosen["n_capped"],
        "n_seeds": n,
        "range_test": test,
        "sweep": sweep,
        "same_setup": same,
        "notes": notes,
    }  # fmt: skip
