"""Every sweep figure. Importing this module registers each figure maker: those of
:mod:`lrbench.report.plots`, the generalization gap figures of
:mod:`lrbench.report.generalization` and the theory figures of
:mod:`lrbench.report.theory_plots`; :func:`sweep_plots` draws them all.

The room's other modules do not import it: a sweep with ``--no-plots`` loads no figure code
(about 10 ms), and ``lrbench find-lr`` none of the sweep's figure makers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrbench.report import generalization, theory_plots  # noqa: F401 - register their figures
from lrbench.report.plots import FIGURE_MAKERS, Figure

if TYPE_CHECKING:
    from lrbench.sweep.run import SweepOutcome


def sweep_plots(outcome: SweepOutcome) -> list[Figure]:
    """Every registered maker's figures, maker by maker (in the order they were registered:
    :mod:`lrbench.report.plots`, then the gap figures, then the theory figures)."""
    return [figure for maker in FIGURE_MAKERS for figure in maker(outcome)]
