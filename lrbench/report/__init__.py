"""Tables, figures and pages built from results (never prints, never trains). Imports sweep and
finder results.

The sweep figures are drawn by :func:`lrbench.report.figures.sweep_plots`; importing
:mod:`lrbench.report.figures` registers every figure maker (see there); the tables alone
load no figure code."""
