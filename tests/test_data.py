"""Datasets, split and standardisation (lrbench.core.data).

Expected values come from scikit-learn called directly in the tests (loaders, generators,
train_test_split, StandardScaler), from the dataset sizes in scikit-learn's documentation, and
from hand-written CSV files.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets as skd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from lrbench.core.data import DATASETS, Data, dataset_kind, load_data, resolve_dataset
from lrbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

# (samples, features, classes): scikit-learn's documented sizes and our registry defaults.
SIZES = {
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
    "digits": (1797, 64, 10),
    "classification": (500, 20, 2),
    "moons": (500, 2, 2),
    "circles": (500, 2, 2),
    "blobs": (500, 2, 3),
    "regression": (500, 10, 0),
}


def _load(name: str, **kw) -> Data:
    task = "regression" if name == "regression" else "classification"
    return load_data(name, kw.pop("params", {}), task=task, target=kw.pop("target", None), **kw)


def test_registry_is_covered() -> None:
    assert set(SIZES) == set(DATASETS)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_dataset_shapes_and_types(name: str) -> None:
    n, d, c = SIZES[name]
    data = _load(name)
    n_val = math.ceil(0.2 * n)  # train_test_split rounds the test part up
    assert data.X_train.shape == (n - n_val, d)
    assert data.X_val.shape == (n_val, d)
    assert data.y_train.shape == (n - n_val,)
    assert data.n_features == d == len(data.feature_names)
    assert data.n_classes == c
    assert dataset_kind(name) == ("regression" if c == 0 else "classification")
    for a in (data.X_train, data.X_val):
        assert a.dtype == np.float64 and a.flags.c_contiguous
    if c:
        assert data.y_train.dtype == np.int64
        assert set(np.unique(data.y_train)) == set(range(c))
        assert set(np.unique(data.y_val)) == set(range(c))  # stratified: every class in both
    else:
        assert data.y_train.dtype == np.float64


def _expected(X, y, stratify: bool, test_size: float, seed: int):
    X_tr, X_va, y_tr, y_va = train_test_split(
        X, y, test_size=test_size, stratify=y if stratify else None, random_state=seed
    )
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_va), y_tr, y_va


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("digits", lambda: skd.load_digits(return_X_y=True)),
        ("iris", lambda: skd.load_iris(return_X_y=True)),
        ("blobs", lambda: skd.make_blobs(n_samples=500, n_features=2, centers=3, random_state=0)),
        (
            "regression",
            lambda: skd.make_regression(n_samples=500, n_features=10, noise=1.0, random_state=0),
        ),
    ],
)
def test_split_and_standardisation_match_sklearn(name: str, raw) -> None:
    X, y = raw()
    classification = name != "regression"
    X_tr, X_va, y_tr, y_va = _expected(X, y, classification, 0.25, 3)
    data = _load(name, test_size=0.25, data_seed=3)
    np.testing.assert_allclose(data.X_train, X_tr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.X_val, X_va, rtol=0, atol=1e-12)
    if classification:
        np.testing.assert_array_equal(data.y_train, y_tr)
        np.testing.assert_array_equal(data.y_val, y_va)
    else:
        np.testing.assert_allclose(data.y_train, y_tr, rtol=1e-15)


def test_standardised_train_split_has_mean_0_and_std_1() -> None:
    data = _load("digits")
    X = data.X_train
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    std = X.std(axis=0)
    # digits has pixels that are constant on the training split: like StandardScaler they keep
    # scale 1, so they become 0 after centring.
    constant = np.ptp(X, axis=0) == 0
    assert 1 <= constant.sum() < 64
    np.testing.assert_allclose(std[~constant], 1.0, rtol=1e-12)
    assert np.all(X[:, constant] == 0)


def test_float32_is_the_float64_data_rounded() -> None:
    d64 = _load("wine")
    d32 = _load("wine", dtype="float32")
    assert d32.X_train.dtype == np.float32 and d32.y_train.dtype == np.int64
    np.testing.assert_array_equal(d32.X_train, d64.X_train.astype(np.float32))


def test_cache_returns_the_same_read_only_arrays() -> None:
    a = _load("iris", data_seed=7)
    b = _load("iris", data_seed=7)
    assert a is b
    for arr in (a.X_train, a.y_train, a.X_val, a.y_val):
        assert not arr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        a.X_train[0, 0] = 1.0


def test_synthetic_parameters_reach_the_generator() -> None:
    data = _load(
        "classification",
        params={"n_samples": 100, "n_features": 6, "n_informative": 3, "n_classes": 3},
    )
    assert data.X_train.shape == (80, 6) and data.n_classes == 3


def test_importing_lrbench_data_and_models_does_not_import_sklearn() -> None:
    code = (
        "import sys, lrbench.core.data, lrbench.core.models\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "[]"


# --- registry and validation ---------------------------------------------------------------


def test_resolve_fills_defaults_and_rejects_bad_values() -> None:
    assert resolve_dataset("moons", None, "tasks[0]") == {"n_samples": 500, "noise": 0.2, "seed": 0}
    assert resolve_dataset("iris", {}, "tasks[0]") == {}
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.dataset: got 'irs'.*did you mean 'iris'"):
        resolve_dataset("irs", None, "tasks[0]")
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.nois.*did you mean 'noise'"):
        resolve_dataset("moons", {"nois": 0.3}, "tasks[0]")
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.factor: got 1\.0"):
        resolve_dataset("circles", {"factor": 1.0}, "tasks[0]")
    # make_classification needs n_informative + 2 redundant <= n_features (sklearn raises otherwise);
    # an unset n_informative is capped there, a given one is checked
    assert resolve_dataset("classification", {"n_features": 6}, "t")["n_informative"] == 4
    assert resolve_dataset("regression", {"n_features": 6}, "t")["n_informative"] == 6
    with pytest.raises(
        ConfigError, match=r"tasks\[0\]\.n_informative: got 5; expected at most n_features - 2 = 4"
    ):
        resolve_dataset("classification", {"n_features": 6, "n_informative": 5}, "tasks[0]")
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.n_classes"):
        resolve_dataset("classification", {"n_informative": 2, "n_classes": 3}, "tasks[0]")


def test_csv_path_must_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(ConfigError, match="nope.csv"):
        resolve_dataset(missing, None, "tasks[0]")
    assert dataset_kind(missing) == "csv"


def test_wrong_task_kind_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"dataset: got 'regression'; expected a classification dataset"
    ):
        load_data("regression", {}, task="classification", target=None)
    with pytest.raises(ConfigError, match=r"dataset: got 'iris'; expected a regression dataset"):
        load_data("iris", {}, task="regression", target=None)


# --- CSV files -----------------------------------------------------------------------------


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _animals(tmp_path: Path) -> tuple[str, np.ndarray, np.ndarray]:
    """20 rows: features (i, i**2 mod 7), label cycling dog, cat, bird."""
    names = ["dog", "cat", "bird"]
    rows = [(i, (i * i) % 7, names[i % 3]) for i in range(20)]
    text = "size, weight ,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows) + "\n"
    X = np.array([[a, b] for a, b, _ in rows], dtype=float)
    y = np.array([sorted(names).index(c) for _, _, c in rows])  # bird 0, cat 1, dog 2
    return _write(tmp_path / "animals.csv", text), X, y


def test_csv_classification_loads_like_sklearn(tmp_path: Path) -> None:
    path, X, y = _animals(tmp_path)
    data = load_data(path, {}, task="classification", target="label", test_size=0.3, data_seed=1)
    X_tr, X_va, y_tr, y_va = _expected(X, y, True, 0.3, 1)
    assert data.feature_names == ("size", "weight") and data.n_classes == 3
    np.testing.assert_allclose(data.X_train, X_tr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.X_val, X_va, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data.y_train, y_tr)
    np.testing.assert_array_equal(data.y_val, y_va)


def test_csv_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    labels = ["10", "2", "1"] * 4
    text = "x,y\n" + "".join(f"{i},{c}\n" for i, c in enumerate(labels))
    path = _write(tmp_path / "num.csv", text)
    data = load_data(path, {}, task="classification", target="y", test_size=0.25)
    X_all = np.concatenate([data.X_train[:, 0], data.X_val[:, 0]])
    y_all = np.concatenate([data.y_train, data.y_val])
    order = np.argsort(X_all)  # x is the row number, standardised (increasing)
    codes = {"1": 0, "2": 1, "10": 2}  # numeric order, not text order ("1" < "10" < "2")
    np.testing.assert_array_equal(y_all[order], [codes[c] for c in labels])


def test_csv_regression_target(tmp_path: Path) -> None:
    text = "a,b,t\n" + "".join(f"{i},{i % 3},{0.5 * i}\n" for i in range(10))
    path = _write(tmp_path / "reg.csv", text)
    data = load_data(path, {}, task="regression", target="t", test_size=0.2)
    assert data.n_classes == 0 and data.y_train.dtype == np.float64
    assert sorted(np.concatenate([data.y_train, data.y_val])) == [0.5 * i for i in range(10)]


def test_csv_non_numeric_cell_names_column_and_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", "a,b,y\n1,2,x\n3,4,y\n5,oops,x\n7,8,y\n")
    with pytest.raises(
        ConfigError, match=r"bad\.csv: column 'b', row 3 \(line 4\): got 'oops'; expected a number$"
    ):
        load_data(path, {}, task="classification", target="y")


def test_csv_missing_value_names_column_and_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "gap.csv", "a,b,y\n1,2,x\n3,4,y\n5,6,x\n,8,y\n")
    with pytest.raises(ConfigError, match=r"column 'a', row 4 .*missing values are not supported"):
        load_data(path, {}, task="classification", target="y")
    path = _write(tmp_path / "nan.csv", "a,b,y\n1,NaN,x\n3,4,y\n")
    with pytest.raises(ConfigError, match=r"column 'b', row 1 .*got 'NaN'.*missing"):
        load_data(path, {}, task="classification", target="y")
    path = _write(tmp_path / "nolabel.csv", "a,y\n1,x\n3,\n5,y\n")
    with pytest.raises(ConfigError, match=r"column 'y', row 2 .*a class label"):
        load_data(path, {}, task="classification", target="y")


def test_csv_target_errors(tmp_path: Path) -> None:
    path, _, _ = _animals(tmp_path)
    with pytest.raises(ConfigError, match="target: got null; expected the name of the CSV column"):
        load_data(path, {}, task="classification", target=None)
    with pytest.raises(
        ConfigError,
        match=r"target: got 'lable'; expected a column of .*size, weight, label.*did you mean 'label'",
    ):
        load_data(path, {}, task="classification", target="lable")
    # regression needs a numeric target; the error names the target column and row 1
    with pytest.raises(
        ConfigError, match=r"column 'label', row 1 \(line 2\): got 'dog'; expected a number"
    ):
        load_data(path, {}, task="regression", target="label")


def test_csv_ragged_row_and_reload_after_edit(tmp_path: Path) -> None:
    path = _write(tmp_path / "ragged.csv", "a,y\n1,x\n2\n")
    with pytest.raises(ConfigError, match=r"row 2 \(line 3\): got '1 fields'"):
        load_data(path, {}, task="classification", target="y")
    path = _write(tmp_path / "edit.csv", "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    first = load_data(path, {}, task="classification", target="y")
    _write(tmp_path / "edit.csv", "a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    second = load_data(path, {}, task="classification", target="y")
    assert len(first.y_train) == 8 and len(second.y_train) == 16


def test_disk_cache_gives_the_same_bits_and_is_used(tmp_path, monkeypatch) -> None:
    # Reference: the split prepared without the cache (scikit-learn called directly).
    import lrbench.core.data as data_mod

    monkeypatch.setenv("LRBENCH_CACHE_DIR", "off")
    data_mod._load.cache_clear()
    fresh = _load("digits")
    monkeypatch.setenv("LRBENCH_CACHE_DIR", str(tmp_path))
    data_mod._load.cache_clear()
    first = _load("digits")  # prepares and stores
    assert len(list(tmp_path.glob("split-*.npz"))) == 1
    data_mod._load.cache_clear()
    calls = []
    monkeypatch.setattr(data_mod, "_split_standardised", lambda *a: calls.append(a))
    second = _load("digits")  # from the file: the preparation is not called
    assert calls == []
    for a in (first, second):
        for name in ("X_train", "y_train", "X_val", "y_val"):
            assert np.array_equal(getattr(a, name), getattr(fresh, name))
            assert getattr(a, name).dtype == getattr(fresh, name).dtype
        assert a.feature_names == fresh.feature_names
    data_mod._load.cache_clear()
