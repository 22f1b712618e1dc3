"""The range test's settings (the ``find-lr`` flags), declared once as :class:`Param` data.

:func:`resolve` checks the given values against :data:`PARAMS` the way the config checks its
sections (each error names the flag, the value and what is allowed), applies the two rules that
tie settings together, and returns a frozen :class:`Settings`. This is the one place they are
checked: the run and the suggestions (:mod:`lrbench.finder.suggest`) assume valid settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lrbench.errors import ConfigError
from lrbench.finder.suggest import METHODS, MIN_DIV, MODES, default_window
from lrbench.params import Param, flag
from lrbench.params import resolve as resolve_params

CURVES = ("probe", "batch")

#: Every setting with its default, meaning and allowed values; ``help`` is the flag's help.
# fmt: off
PARAMS = (
    Param("start_lr", 1e-6, "float", "First learning rate.", low=0, low_open=True),
    Param("end_lr", 10.0, "float", "Last learning rate (reached exactly).", low=0, low_open=True),
    Param("num_iter", 100, "int", "Steps of the ramp."),  # >= skip_start + skip_end + 10
    Param("mode", "exp", "choice", "exp (constant ratio) or linear (constant step).", choices=MODES),
    Param("curve", "probe", "choice", "probe: loss on fixed training rows after each step; batch: minibatch loss before it.", choices=CURVES),
    Param("seeds", 5, "int", "Repeats (seeds 0..N-1): init, batch order, probe rows.", low=1),
    Param("probe_size", 1024, "int", "Probe rows per seed (capped at the training set).", low=1),
    Param("smooth_beta", 0.95, "float", "EMA factor of the divergence rule, in [0, 1).", low=0, high=1, high_open=True),
    Param("smooth_window", None, "int", "Centred Hann window (odd) for the suggestions; default max(5, 5% of --num-iter).", low=1, odd=True),
    Param("div_factor", 4.0, "float", "Stop when (ema - floor) > factor x (best - floor) and ema > its first value, or when the raw loss is above factor x its running minimum for 2 steps (README).", low=1, low_open=True),
    Param("stop_div", True, "bool", "Stop on a rising loss (off, --no-stop-div: only on a non-finite loss)."),
    Param("loss_floor", 0.0, "float", "Known lower bound of the loss."),
    Param("skip_start", 10, "int", "Leading steps that suggestions and the rise rule ignore.", low=0),
    Param("skip_end", 3, "int", "Steps before the stop that suggestions ignore.", low=0),
    Param("suggest", "auto", "choice", "Recommended method: auto (knee for Adam, AdamW, AMSGrad, NAdam; minimum otherwise), minimum, knee, steepest, valley or range.", choices=("auto", *METHODS)),
    Param("min_div", MIN_DIV, "float", "knee, minimum = lr where the smoothed loss stops improving, at its minimum / this.", low=0, low_open=True),
)
# fmt: on
PARAM = {p.name: p for p in PARAMS}


@dataclass(frozen=True)
class Settings:
    """Checked range-test settings, made by :func:`resolve` (see :data:`PARAMS`).

    ``div_factor=None`` disables the rise rules (``--no-stop-div``); ``smooth_window=None`` means
    :func:`lrbench.finder.suggest.default_window`.
    """

    start_lr: float
    end_lr: float
    num_iter: int
    mode: str
    curve: str
    seeds: int
    probe_size: int
    smooth_beta: float
    smooth_window: int | None
    div_factor: float | None
    loss_floor: float
    skip_start: int
    skip_end: int
    suggest: str
    min_div: float

    def window(self) -> int:
        return self.smooth_window or default_window(self.num_iter)

    def seed_list(self) -> list[int]:
        return list(range(self.seeds))

    def points_per_decade(self) -> float:
        """``(num_iter - 1) / log10(end_lr / start_lr)``."""
        return (self.num_iter - 1) / math.log10(self.end_lr / self.start_lr)

    def warnings(self) -> list[str]:
        """Valid but doubtful settings: an exponential ramp with under 10 points per decade, or
        a linear ramp over more than one decade (Smith keeps it within one)."""
        decades = math.log10(self.end_lr / self.start_lr)
        per_decade = self.points_per_decade()
        if self.mode == "exp" and per_decade < 10:
            return [
                f"only {per_decade:.1f} points per decade ({self.num_iter} steps over {decades:.1f} "
                "decades): suggestions are coarse; raise --num-iter or narrow the range"
            ]
        if self.mode == "linear" and decades > 1:
            return [
                f"a linear ramp over {decades:.1f} decades spends almost every step near --end-lr; "
                "keep a linear range within one decade (Smith) or use --mode exp"
            ]
        return []


def resolve(**given: Any) -> Settings:
    """Check ``given`` (setting name -> value; None or absent: the default) and return the
    settings, or raise :class:`ConfigError` naming the flag, e.g.
    ``--mode: got 'log'; expected one of exp, linear``.

    Beyond each value's own range: ``end_lr > start_lr``, and
    ``num_iter >= skip_start + skip_end + 10`` (at least 10 points left for a suggestion).
    """
    values = resolve_params(PARAMS, {k: v for k, v in given.items() if v is not None}, flag)
    if not values.pop("stop_div"):
        values["div_factor"] = None
    start, end = values["start_lr"], values["end_lr"]
    if end <= start:
        raise ConfigError("--end-lr", end, f"a number > --start-lr {start:g}")
    need = values["skip_start"] + values["skip_end"] + 10
    if values["num_iter"] < need:
        raise ConfigError(
            "--num-iter", values["num_iter"], f"an integer >= skip_start + skip_end + 10 = {need}"
        )
    return Settings(**values)
