"""Tables, figures and pages built from results (never prints, never trains). Imports sweep and
finder results.

Importing the room registers every sweep figure maker (:func:`lrbench.report.plots.sweep_figure`):
those of ``plots`` and the generalization gap figures of ``generalization``."""

from lrbench.report import generalization  # noqa: F401 - registers the gap figures
