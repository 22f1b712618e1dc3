"""The dataset builders of benchmarks/findlr_bench.py's held-out part D, against the closed
forms of scikit-learn's generators (``sklearn/datasets/_samples_generator.py``: the formula each
docstring states), and read back by lrbench's own CSV loader (shapes of the 80/20 split).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(_DIR))  # the bench imports its sibling findlr_peers
_SPEC = importlib.util.spec_from_file_location("findlr_bench", _DIR / "findlr_bench.py")
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["findlr_bench"] = bench  # its dataclasses look their module up by name
_SPEC.loader.exec_module(bench)


def _read(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    header = path.read_text().splitlines()[0].split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return header, data[:, :-1], data[:, -1]


def test_hastie_csv_is_the_chi_square_median_rule_written_zero_one(tmp_path):
    path = bench.sklearn_csv(tmp_path / "h.csv", "make_hastie_10_2", n_samples=300, random_state=8)
    header, X, y = _read(path)
    assert header == [*(f"x{i}" for i in range(10)), "target"]
    assert X.shape == (300, 10)
    # Hastie et al. (2009, example 10.2): y = 1 iff sum_j x_j^2 > 9.34 (the chi2_10 median).
    np.testing.assert_array_equal(y, (np.sum(X**2, axis=1) > 9.34).astype(float))


def test_gaussian_quantiles_csv_labels_equal_count_shells_of_the_radius(tmp_path):
    path = bench.sklearn_csv(
        tmp_path / "q.csv", "make_gaussian_quantiles", n_samples=90, n_features=4, n_classes=3,
        random_state=9,
    )  # fmt: skip
    _, X, y = _read(path)
    assert X.shape == (90, 4)
    assert np.bincount(y.astype(int)).tolist() == [30, 30, 30]  # 90 // 3 a class
    r2 = np.sum(X**2, axis=1)  # mean 0: class k is the k-th shell of |x|^2
    for k in (0, 1):
        assert r2[y == k].max() <= r2[y == k + 1].min()


def test_friedman1_csv_target_is_its_formula(tmp_path):
    path = bench.sklearn_csv(
        tmp_path / "f.csv", "make_friedman1", n_samples=200, n_features=10, noise=0.0,
        random_state=12,
    )  # fmt: skip
    _, X, y = _read(path)
    assert X.shape == (200, 10) and X.min() >= 0 and X.max() <= 1  # uniform on [0, 1]
    formula = (
        10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
        + 5 * X[:, 4]
    )  # fmt: skip
    np.testing.assert_allclose(y, formula, rtol=1e-8, atol=1e-8)  # 10 significant digits


def test_sparse_uncorrelated_csv_least_squares_recovers_its_weights(tmp_path):
    path = bench.sklearn_csv(
        tmp_path / "s.csv", "make_sparse_uncorrelated", n_samples=4000, n_features=8,
        random_state=13,
    )  # fmt: skip
    _, X, y = _read(path)
    assert X.shape == (4000, 8)
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    # y = x0 + 2 x1 - 2 x2 - 1.5 x3 + N(0, 1): each weight's standard error ~ 1/sqrt(4000)
    np.testing.assert_allclose(w, [1, 2, -2, -1.5, 0, 0, 0, 0], atol=0.07)
    assert np.std(y - X @ w) == pytest.approx(1.0, rel=0.05)


def test_part_d_is_eighteen_tasks_lrbench_can_load(tmp_path):
    from lrbench.core.data import load_data

    tasks = bench.suite(tmp_path, "held-out D")
    assert len(tasks) == 18 and {t.part for t in tasks} == {"held-out D"}
    assert bench.SEEN == ("design", "held-out A", "held-out B")  # D never counts as seen
    hastie = next(t for t in tasks if t.name == "hastie/mlp128/sgd").task
    data = load_data(hastie["dataset"], None, task="classification", target="target")
    # 1000 rows, stratified 80/20 split; 2 classes
    assert data.X_train.shape == (800, 10) and data.X_val.shape == (200, 10)
    assert data.n_classes == 2
    sparse = next(t for t in tasks if t.name == "sparse/linear/sgd").task
    data = load_data(sparse["dataset"], None, task="regression", target="target")
    assert data.X_train.shape == (480, 12) and data.X_val.shape == (120, 12)


def test_part_e_is_eighteen_tasks_half_of_them_the_adam_family(tmp_path):
    from sklearn.datasets import load_diabetes

    from lrbench.core.data import load_data
    from lrbench.finder.run import BIAS_CORRECTED

    tasks = bench.suite(tmp_path, "held-out E")
    assert len(tasks) == 18 and {t.part for t in tasks} == {"held-out E"}
    assert sum(t.optimizer in BIAS_CORRECTED for t in tasks) == 9
    # the diabetes CSV is scikit-learn's data as bundled (442 rows, 10 features), to 10 digits
    header, X, y = _read(tmp_path / "diabetes.csv")
    X0, y0 = load_diabetes(return_X_y=True)
    assert header[-1] == "target" and X.shape == (442, 10)
    np.testing.assert_allclose(X, X0, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(y, y0)
    quantiles = next(t for t in tasks if t.name == "quantiles6/mlp64/adam").task
    data = load_data(quantiles["dataset"], None, task="classification", target="target")
    assert data.X_train.shape == (1200, 6) and data.n_classes == 4
