"""The disk cache of prepared dataset splits (``LRBENCH_CACHE_DIR``; see :func:`cache_dir`).

A split is keyed by everything it depends on and stored as an ``.npz`` of the same bits that
:func:`lrbench.core.data.load_data` would prepare again; scikit-learn's version is read from its
metadata, so a cache hit never imports scikit-learn.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
from pathlib import Path

import numpy as np

from lrbench.files import atomic_write

CACHE_FORMAT = 1


def cache_dir() -> Path | None:
    """Where prepared splits are kept between runs: ``$LRBENCH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lrbench`` or ``~/.cache/lrbench``; ``LRBENCH_CACHE_DIR=off`` disables it.

    Preparing a bundled dataset imports scikit-learn (about a second); a cached split is a
    small ``.npz`` read in milliseconds. The key covers everything the split depends on (the
    dataset and its parameters, the CSV file's path, size and modification time, test size,
    data seed, the scikit-learn version), and the arrays are the same bits either way.
    """
    env = os.environ.get("LRBENCH_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lrbench"


def sklearn_version() -> str | None:
    """The installed scikit-learn's version, read from its metadata without importing it
    (importing scikit-learn takes about a second); None when it has no metadata."""
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:
        return None


def _cache_path(key: tuple) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    skl = sklearn_version()
    if skl is None:  # no metadata: do not cache
        return None
    text = repr((CACHE_FORMAT, skl, np.__version__.split(".")[0], key))
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    return folder / f"split-{digest}.npz"


def get(key: tuple):
    """The cached split of ``key`` (the arrays :func:`lrbench.core.data.load_data` prepares),
    or None: not cached, unreadable, or the cache is off."""
    path = _cache_path(key)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return (
                z["X_tr"],
                z["X_va"],
                z["y_tr"],
                z["y_va"],
                int(z["n_classes"]),
                tuple(str(x) for x in z["names"]),
            )
    except (OSError, ValueError, KeyError):
        return None


def put(key: tuple, arrays) -> None:
    """Keep the split of ``key``, written whole or not at all (a temporary file and a rename);
    a folder that cannot be written is skipped."""
    path = _cache_path(key)
    if path is None:
        return
    X_tr, X_va, y_tr, y_va, n_classes, names = arrays
    buf = io.BytesIO()
    np.savez(buf, X_tr=X_tr, X_va=X_va, y_tr=y_tr, y_va=y_va, n_classes=n_classes,
             names=np.array(names, dtype=str))  # fmt: skip
    try:
        atomic_write(path, buf.getvalue())
    except OSError:  # a read-only home or a full disk: work without the cache
        return
