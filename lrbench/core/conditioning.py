"""A design with a chosen condition number: the ``condition_number`` of the generated datasets.

``condition_number: k`` makes the standardised training design ``X`` (``n`` rows, ``d``
features, as the model sees it) have singular values whose largest-to-smallest ratio is exactly
``k`` (up to round-off), while staying standardised: every column keeps mean 0 and variance 1.

How. After the split and the standardisation, ``R = X.T @ X / n`` is the training split's
correlation matrix. A correlation matrix ``C`` with eigenvalues ``lam`` (geometric from
``lam_max`` down to ``lam_max / k**2``, scaled so they sum to ``d``, as a correlation matrix's
must) is built by the Bendel-Mickey algorithm (Davies and Higham 2000, "Numerically stable
generation of correlation matrices and their factors", BIT 40: plane rotations of ``Q diag(lam)
Q.T``, each setting one diagonal entry to 1, keep the eigenvalues). Both splits are multiplied by
``M = R**-1/2 @ C**1/2``, so the new training design has ``X'.T @ X' / n = C``: unit variances,
means still 0, singular values ``sqrt(n * lam)``, whose ratio is ``sqrt(lam_max / lam_min) = k``.
The validation rows get the same map (the same linear model of the features), as the training
split's scaler is applied to them.

For least squares the Hessian of the loss in ``(w, b)`` is ``[[C, 0], [0, 1]]`` (the columns have
mean 0), whose eigenvalues are ``lam`` and 1 (1 lies between them: their mean is 1), so its
condition number is ``k**2``. For logistic regression the Hessian is ``X.T D X / n`` with ``D``
the softmax weights, so ``k`` sets the design's conditioning and the loss's only roughly.
"""

from __future__ import annotations

import math

import numpy as np

from lrbench.errors import ConfigError

ROTATION_TOL = 1e-13  # a diagonal entry within this of 1 is taken as 1 (no rotation)


def spectrum(d: int, condition_number: float) -> np.ndarray:
    """The eigenvalues of the target correlation matrix, largest first: ``k**(-2i/(d-1))``,
    ``i = 0..d-1``, scaled to sum to ``d``. Their largest-to-smallest ratio is ``k**2``."""
    if d == 1:
        return np.ones(1)
    lam = float(condition_number) ** (-2.0 * np.arange(d) / (d - 1))
    return lam * (d / lam.sum())


def correlation_factor(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``V`` (orthogonal) with ``V @ diag(lam) @ V.T`` a correlation matrix (unit diagonal);
    ``lam`` must sum to ``len(lam)``. Bendel-Mickey: start from a random orthogonal ``V``
    (QR of a Gaussian matrix, signs fixed); while some diagonal entry ``a_ii < 1`` and another
    ``a_jj > 1``, rotate the plane ``(i, j)`` by ``t = tan(theta)``, the root of
    ``(a_jj - 1) t**2 - 2 a_ij t + (a_ii - 1) = 0`` computed without cancellation, which makes
    ``a_ii = 1``. At most ``d - 1`` rotations; each keeps the eigenvalues."""
    d = lam.size
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    V = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    C = (V * lam) @ V.T
    for _ in range(d - 1):
        diag = np.diag(C) - 1.0
        low, high = np.flatnonzero(diag < -ROTATION_TOL), np.flatnonzero(diag > ROTATION_TOL)
        if low.size == 0 or high.size == 0:
            break
        i, j = int(low[0]), int(high[0])
        a_ij = C[i, j]
        root = math.sqrt(a_ij * a_ij - diag[i] * diag[j])
        t = diag[i] / (a_ij + math.copysign(root, a_ij))
        c = 1.0 / math.sqrt(1.0 + t * t)
        s = c * t
        G = np.eye(d)
        G[i, i] = G[j, j] = c
        G[i, j], G[j, i] = s, -s
        C = G.T @ C @ G
        V = G.T @ V
    return V


def condition_design(
    X_train: np.ndarray, X_val: np.ndarray, condition_number: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both splits mapped by ``M = R**-1/2 C**1/2`` (module docstring): the standardised
    training design gets the condition number ``condition_number`` exactly and stays
    standardised. ``seed`` draws the orientation of ``C``'s eigenvectors. A design that is
    singular (fewer training rows than features, or a feature that copies others) has no such
    map: a :class:`ConfigError`."""
    n, d = X_train.shape
    if d == 1 and condition_number != 1:
        raise ConfigError("condition_number", condition_number, "1 for a single feature")
    w, Q = np.linalg.eigh(X_train.T @ X_train / n)
    if w[0] <= 1e-10 * w[-1]:
        raise ConfigError(
            "condition_number",
            condition_number,
            "a dataset whose standardised training design has full column rank",
            f"{n} training rows, {d} features, smallest/largest eigenvalue {w[0] / w[-1]:.2g}",
        )
    lam = spectrum(d, condition_number)
    V = correlation_factor(lam, np.random.default_rng([seed, 0xC0D]))
    M = ((Q / np.sqrt(w)) @ Q.T) @ ((V * np.sqrt(lam)) @ V.T)
    return X_train @ M, X_val @ M
