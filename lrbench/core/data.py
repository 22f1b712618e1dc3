"""Datasets: scikit-learn's bundled sets, synthetic generators and CSV files; split; standardise.

Every dataset is split with scikit-learn's
``train_test_split(X, y, test_size=test_size, stratify=y, random_state=data_seed)``
(``stratify=None`` for regression) and its features are standardised with the training split's
mean and population standard deviation, as ``StandardScaler`` does (a constant column is scaled
by 1). ``regression`` and ``classification`` take a ``condition_number``: the standardised
training design then has exactly that condition number (:mod:`lrbench.core.conditioning`).
The data seed is shared by every training seed, so training seeds vary only the
initialisation and the batch order. Regression targets are left as they are. A bundled
dataset's ``train_size`` keeps that many rows of the training split, a stratified subsample
drawn with the data seed (:func:`subsample_train`), before standardising; the validation
split keeps every row.

scikit-learn is imported inside the functions that need it: importing this module stays cheap, so
``lrbench --help`` and resumed sweeps never pay its ~1 s import. Loaded data is cached per process
and its arrays are read-only, so a sweep that trains one task many times loads it once.

Prepared splits are also kept on disk between processes (:mod:`lrbench.core.datacache`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrbench.core import datacache
from lrbench.core.conditioning import condition_design
from lrbench.core.csvfile import read_csv
from lrbench.errors import ConfigError
from lrbench.params import Entry, Param, lookup, resolve

TASKS = ("classification", "regression")
DTYPES = ("float64", "float32")


@dataclass(frozen=True, eq=False)
class Data:
    """A standardised train/validation split. ``n_classes`` is 0 for regression.

    Arrays are read-only (they are shared through the cache). ``X_*`` are C-contiguous in the
    requested dtype; ``y_*`` are int64 labels ``0..n_classes-1`` or regression targets in the dtype.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    n_classes: int
    feature_names: tuple[str, ...]

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


# Bounds on generated datasets: what a learning-rate study can use, far below what would
# exhaust memory (a float64 dataset of MAX_VALUES values is 1 GiB).
MAX_SAMPLES = 10**7
MAX_FEATURES = 10**5
MAX_CLASSES = 1000
MAX_VALUES = 2**27


def _n_samples() -> Param:
    return Param(
        "n_samples", 500, "int", "number of samples before the split", low=10, high=MAX_SAMPLES
    )


_SEED = Param("seed", 0, "int", "random_state of the generator", low=0, high=2**32 - 1)
# Unset (null) it is left out of the resolved parameters, so specs without it keep their run ids.
_CONDITION = Param(
    "condition_number",
    None,
    "float",
    "largest / smallest singular value of the standardised training design (exact; "
    "lrbench.core.conditioning)",
    low=1.0,
    high=1e8,
    nullable=True,
)

#: A bundled dataset's training rows: a stratified subsample of the training split drawn with
#: the data seed (:func:`subsample_train`); the validation split keeps every row it had.
_TRAIN_SIZE = Param(
    "train_size",
    None,
    "int",
    "keep this many training rows (a subsample drawn with data_seed); null: all",
    low=2,
    nullable=True,
)
BUNDLED = ("iris", "wine", "breast_cancer", "digits")

DATASETS: dict[str, Entry] = {
    "iris": Entry("iris", "scikit-learn load_iris: 150 x 4, 3 classes", (_TRAIN_SIZE,)),
    "wine": Entry("wine", "scikit-learn load_wine: 178 x 13, 3 classes", (_TRAIN_SIZE,)),
    "breast_cancer": Entry(
        "breast_cancer", "scikit-learn load_breast_cancer: 569 x 30, 2 classes", (_TRAIN_SIZE,)
    ),
    "digits": Entry(
        "digits", "scikit-learn load_digits: 1797 x 64 (8x8 images), 10 classes", (_TRAIN_SIZE,)
    ),
    "classification": Entry(
        "classification",
        "make_classification (2 redundant features, none with condition_number; 2 clusters "
        "a class, sklearn's defaults)",
        (
            _n_samples(),
            Param("n_features", 20, "int", "number of features", low=4, high=MAX_FEATURES),
            Param("n_informative", 5, "int", "informative features, <= n_features - 2", low=1),
            Param(
                "n_classes",
                2,
                "int",
                "number of classes (<= 2**n_informative / 2)",
                low=2,
                high=MAX_CLASSES,
            ),
            Param("class_sep", 1.0, "float", "class cluster spacing", low=0, low_open=True),
            Param("flip_y", 0.01, "float", "fraction of labels assigned at random", low=0, high=1),
            _SEED,
            _CONDITION,
        ),
    ),
    "moons": Entry(
        "moons",
        "make_moons: two interleaving half circles, 2 features, 2 classes",
        (_n_samples(), Param("noise", 0.2, "float", "std of Gaussian noise", low=0), _SEED),
    ),
    "circles": Entry(
        "circles",
        "make_circles: a circle inside a circle, 2 features, 2 classes",
        (
            _n_samples(),
            Param("noise", 0.1, "float", "std of Gaussian noise", low=0),
            Param("factor", 0.5, "float", "inner / outer radius", low=0, high=1, high_open=True),
            _SEED,
        ),
    ),
    "blobs": Entry(
        "blobs",
        "make_blobs: isotropic Gaussian clusters, one class each",
        (
            _n_samples(),
            Param("n_features", 2, "int", "number of features", low=1, high=MAX_FEATURES),
            Param("centers", 3, "int", "number of clusters (= classes)", low=2, high=MAX_CLASSES),
            Param("cluster_std", 1.0, "float", "std of each cluster", low=0, low_open=True),
            _SEED,
        ),
    ),
    "regression": Entry(
        "regression",
        "make_regression: a random linear model plus Gaussian noise (for the linear model)",
        (
            _n_samples(),
            Param("n_features", 10, "int", "number of features", low=1, high=MAX_FEATURES),
            Param("n_informative", 10, "int", "features with a weight, <= n_features", low=1),
            Param("noise", 1.0, "float", "std of the Gaussian noise on y", low=0),
            _SEED,
            _CONDITION,
        ),
    ),
}

_KIND = {name: ("regression" if name == "regression" else "classification") for name in DATASETS}


def _is_csv(name: object) -> bool:
    return isinstance(name, str) and name.endswith(".csv")


def dataset_kind(name: str) -> str:
    """``"classification"``, ``"regression"`` or ``"csv"`` (either; the model decides)."""
    if _is_csv(name):
        return "csv"
    lookup(DATASETS, name, "dataset", "dataset (or a path ending in .csv)")
    return _KIND[name]


def resolve_dataset(name: str, given: Mapping[str, Any] | None, path: str) -> dict[str, Any]:
    """Validated dataset parameters with defaults filled in (a CSV file takes none).

    ``path`` is the config path of the task (``tasks[0]``); messages name ``{path}.{key}``.
    """
    if _is_csv(name):
        if not os.path.isfile(name):
            raise ConfigError(f"{path}.dataset", name, "an existing CSV file")
        return resolve((), given, path)
    entry = lookup(DATASETS, name, f"{path}.dataset", "dataset (or a path ending in .csv)")
    p = resolve(entry.params, given, path)
    if name in BUNDLED and p["train_size"] is None:
        del p["train_size"]  # unset: the task (and its run ids) as before the parameter existed
    if "condition_number" in p and p["condition_number"] is None:
        del p["condition_number"]  # unset: not part of the spec (run ids stay as they were)
    if "n_informative" in p and "n_informative" not in (given or {}):
        # an unset n_informative follows a smaller n_features (the resolved value is recorded)
        room = p["n_features"] - (2 if name == "classification" else 0)
        p["n_informative"] = min(p["n_informative"], room)
    if name == "classification":
        if p["n_informative"] + 2 > p["n_features"]:
            raise ConfigError(
                f"{path}.n_informative",
                p["n_informative"],
                f"at most n_features - 2 = {p['n_features'] - 2} (2 features are redundant)",
            )
        if 2 * p["n_classes"] > 2 ** p["n_informative"]:
            raise ConfigError(
                f"{path}.n_classes",
                p["n_classes"],
                f"at most 2**n_informative / 2 = {2 ** p['n_informative'] // 2} (2 clusters a class)",
            )
    if "n_features" in p and p["n_samples"] * p["n_features"] > MAX_VALUES:
        raise ConfigError(
            f"{path}.n_samples",
            p["n_samples"],
            f"at most {MAX_VALUES // p['n_features']} with n_features = {p['n_features']} "
            f"(a dataset of at most {MAX_VALUES} values)",
        )
    if name == "regression" and p["n_informative"] > p["n_features"]:
        raise ConfigError(
            f"{path}.n_informative", p["n_informative"], f"at most n_features = {p['n_features']}"
        )
    return p


def load_data(
    name: str,
    params: Mapping[str, Any] | None,
    *,
    task: str,
    target: str | None,
    test_size: float = 0.2,
    data_seed: int = 0,
    dtype: str = "float64",
) -> Data:
    """Load, split and standardise a dataset for a ``"classification"`` or ``"regression"`` model.

    Cached per process on the resolved arguments (and a CSV file's size and modification time);
    the returned arrays are read-only.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if dtype not in DTYPES:
        raise ConfigError("dtype", dtype, "float64 or float32")
    kind = dataset_kind(name)
    if kind == "csv":
        if not isinstance(target, str):
            raise ConfigError("target", target, "the name of the CSV column to predict")
    else:
        if kind != task:
            others = ", ".join(n for n in DATASETS if _KIND[n] == task)
            raise ConfigError(
                "dataset", name, f"a {task} dataset for this model: {others} or a CSV file"
            )
        if target is not None:
            raise ConfigError("target", target, "no target (only CSV datasets take one)")
    resolved = resolve_dataset(name, params, "dataset")
    stamp = None
    if kind == "csv":
        st = os.stat(name)
        stamp = (os.path.abspath(name), st.st_size, st.st_mtime_ns)
    return _load(
        name, tuple(resolved.items()), task, target, float(test_size), int(data_seed), dtype, stamp
    )


@functools.lru_cache(maxsize=16)
def _load(
    name: str,
    items: tuple[tuple[str, Any], ...],
    task: str,
    target: str | None,
    test_size: float,
    data_seed: int,
    dtype: str,
    stamp: object,
) -> Data:
    key = (name, items, task, target, test_size, data_seed, stamp)
    arrays = datacache.get(key)
    if arrays is None:
        arrays = _split_standardised(name, dict(items), task, target, test_size, data_seed)
        datacache.put(key, arrays)
    X_tr, X_va, y_tr, y_va, n_classes, names = arrays
    y_type = np.int64 if task == "classification" else dtype

    def frozen(a: np.ndarray, t: Any) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype=t)
        a.flags.writeable = False
        return a

    return Data(
        name=name,
        X_train=frozen(X_tr, dtype),
        y_train=frozen(y_tr, y_type),
        X_val=frozen(X_va, dtype),
        y_val=frozen(y_va, y_type),
        n_classes=n_classes,
        feature_names=names,
    )


def _split_standardised(
    name: str,
    params: dict[str, Any],
    task: str,
    target: str | None,
    test_size: float,
    data_seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, tuple[str, ...]]:
    """Generate or read, split and standardise (float64): what the disk cache stores."""
    from sklearn.model_selection import train_test_split  # scikit-learn (~1 s): only for a split

    if _is_csv(name):
        X, y, names = read_csv(name, target or "", task)
    else:
        X, y, names = _generate(name, params)
    n_classes = 0
    if task == "classification":
        classes, y = np.unique(y, return_inverse=True)
        n_classes = len(classes)
    try:
        X_tr, X_va, y_tr, y_va = train_test_split(
            X,
            y,
            test_size=test_size,
            stratify=y if task == "classification" else None,
            random_state=data_seed,
        )
    except ValueError as err:
        raise ConfigError(
            "test_size", test_size, "a split that leaves data in both parts", str(err)
        ) from None
    if params.get("train_size") is not None:
        X_tr, y_tr = subsample_train(X_tr, y_tr, params["train_size"], task, data_seed)
    mean, scale = standardiser(X_tr)
    X_tr = (np.asarray(X_tr, dtype=np.float64) - mean) / scale
    X_va = (np.asarray(X_va, dtype=np.float64) - mean) / scale
    if params.get("condition_number") is not None:
        X_tr, X_va = condition_design(X_tr, X_va, params["condition_number"], params["seed"])
    return X_tr, X_va, np.asarray(y_tr), np.asarray(y_va), n_classes, tuple(names)


def subsample_train(
    X_tr: np.ndarray, y_tr: np.ndarray, n_keep: int, task: str, data_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n_keep`` rows of a training split, drawn as scikit-learn's
    ``train_test_split(X_tr, y_tr, train_size=n_keep, stratify=y_tr, random_state=data_seed)``
    keeps its first part (``stratify=None`` for regression): deterministic in the data seed, and
    stratified, so every class keeps its share. ``n_keep`` equal to the split's size keeps it
    whole; a larger one is a :class:`ConfigError`. Features are standardised afterwards with
    the kept rows' mean and deviation (the training split is then these rows)."""
    from sklearn.model_selection import train_test_split  # scikit-learn (~1 s): only for a split

    n = len(y_tr)
    if n_keep > n:
        raise ConfigError("train_size", n_keep, f"at most {n}, the rows of the training split")
    if n_keep == n:
        return X_tr, y_tr
    try:
        X_keep, _, y_keep, _ = train_test_split(
            X_tr,
            y_tr,
            train_size=n_keep,
            stratify=y_tr if task == "classification" else None,
            random_state=data_seed,
        )
    except ValueError as err:
        raise ConfigError("train_size", n_keep, "a subsample with every class", str(err)) from None
    return X_keep, y_keep


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` of the columns of ``X``, as ``StandardScaler`` computes them.

    ``scale`` is the population standard deviation, except 1 for a column whose variance is
    within the round-off bound of a constant column, ``var <= n*eps*var + (n*mean*eps)**2``
    (Chan, Golub and LeVeque's error bound for the two-pass variance; scikit-learn's test).
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    mean = X.mean(axis=0)
    var = X.var(axis=0)
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.sqrt(var)
    scale[constant] = 1.0
    return mean, scale


def _generate(name: str, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    import sklearn.datasets as skd  # scikit-learn (~1 s): only to make a dataset

    bundled = {
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
        "digits": skd.load_digits,
    }
    if name in bundled:
        bunch = bundled[name]()
        return bunch.data, bunch.target, tuple(str(f) for f in bunch.feature_names)
    n, seed = p["n_samples"], p["seed"]
    if name == "classification":
        X, y = skd.make_classification(
            n_samples=n,
            n_features=p["n_features"],
            n_informative=p["n_informative"],
            # exact copies make the design singular: with a condition number, noise features
            n_redundant=0 if p.get("condition_number") is not None else 2,
            n_classes=p["n_classes"],
            class_sep=p["class_sep"],
            flip_y=p["flip_y"],
            random_state=seed,
        )
    elif name == "moons":
        X, y = skd.make_moons(n_samples=n, noise=p["noise"], random_state=seed)
    elif name == "circles":
        X, y = skd.make_circles(
            n_samples=n, noise=p["noise"], factor=p["factor"], random_state=seed
        )
    elif name == "blobs":
        X, y = skd.make_blobs(
            n_samples=n,
            n_features=p["n_features"],
            centers=p["centers"],
            cluster_std=p["cluster_std"],
            random_state=seed,
        )
    elif name == "regression":
        X, y = skd.make_regression(
            n_samples=n,
            n_features=p["n_features"],
            n_informative=p["n_informative"],
            noise=p["noise"],
            random_state=seed,
        )
    else:  # pragma: no cover - the registry and this function must list the same names
        raise AssertionError(f"no generator for dataset {name!r}")
    return X, y, tuple(f"x{i}" for i in range(X.shape[1]))
