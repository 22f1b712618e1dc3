"""The 0.975 quantile of Student's t, for the 95 % intervals of cells, comparisons and slopes
(:mod:`lrbench.sweep.cells`, :mod:`lrbench.sweep.theory`): a standard table, then an expansion.
"""

from __future__ import annotations

# Two-sided 95 % Student t quantiles t_{0.975}(df), df = 1..30, from a standard t table (e.g. the
# NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2), four decimals.
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)  # fmt: skip
_Z975 = 1.959963984540054  # standard normal 0.975 quantile


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (scipy: ``t.ppf(.975, df)``).

    A table for df <= 30; beyond, the Cornish-Fisher expansion in 1/df around the normal quantile
    z (Abramowitz & Stegun 26.7.5, three terms), accurate to better than 1e-5 there.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z, n = _Z975, float(df)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / n + g2 / n**2 + g3 / n**3
