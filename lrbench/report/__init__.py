"""Tables, figures and pages built from results (never prints, never trains). Imports sweep and
finder results.

Importing the room registers every sweep figure maker (:func:`lrbench.report.plots.sweep_figure`):
those of ``plots``, the generalization gap figures of ``generalization`` and the theory figures
of ``theory_plots`` (batch size, conditioning, sharpness)."""

from lrbench.report import (
    generalization,  # noqa: F401 - registers the gap figures
    theory_plots,  # noqa: F401 - registers the theory figures
)
