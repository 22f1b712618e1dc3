"""Reading a dataset from a CSV file: a header row, a target column, numeric features.

Every problem is a :class:`lrbench.errors.ConfigError` naming the file, the column and the data
row (row 1 is the first line after the header) with its line number in the file; a file with
several bad columns reports each (one line a column: its first bad row and how many more).
"""

from __future__ import annotations

import csv
import math

import numpy as np

from lrbench.errors import ConfigError, ErrorList
from lrbench.params import did_you_mean

MISSING = ("nan", "na", "n/a", "null", "none", "?")


def read_csv(path: str, target: str, task: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Features (float64), target and feature names of a CSV file with a header row.

    Every column except ``target`` is a feature and must hold finite numbers; an empty cell, a
    non-number or ``nan``/``inf`` is a :class:`ConfigError` naming the column and the data row
    (row 1 is the first line after the header), one line a bad column (its first bad row and
    how many more). Blank lines are skipped. For regression the target must be numeric
    (float64); for classification it is returned as text and numbers, which ``load_data``
    encodes as ``0..C-1`` in sorted order (numeric order when every label is a number, else
    text order) and must hold at least two classes.

    A feature with one value in every row is refused (remove the column): it carries no
    information, and its standard deviation is zero. (A column that is constant only within
    the training split is scaled by 1, as ``StandardScaler`` does: see :func:`standardiser`.)
    The file must be UTF-8 text (a byte-order mark is allowed).
    """
    names, rows, lines = _csv_rows(path, target)
    j = names.index(target)
    feats = [i for i in range(len(names)) if i != j]
    if not feats:
        raise ConfigError(path, "only the target column", "at least one feature column")
    if len(rows) < 2:
        what = "only a header" if not rows else "1 data row"
        raise ConfigError(path, what, "at least 2 data rows")
    cells = np.array(rows, dtype=str)
    errors = ErrorList()
    X = errors.attempt(_numbers, cells[:, feats], [names[i] for i in feats], path, lines)
    if task == "regression":
        y = errors.attempt(_numbers, cells[:, [j]], [target], path, lines)
        errors.raise_if_any()
        _check_varies(X, [names[i] for i in feats], path)
        return X, y[:, 0], tuple(names[i] for i in feats)
    y = errors.attempt(_labels, cells[:, j], target, path, lines)
    errors.raise_if_any()
    _check_varies(X, [names[i] for i in feats], path)
    return X, y, tuple(names[i] for i in feats)


def _csv_rows(path: str, target: str) -> tuple[list[str], list[list[str]], list[int]]:
    """Header names, data rows and their line numbers; errors for a file that cannot be read
    as CSV text, a missing target column, repeated names and rows of the wrong length."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)  # a stray quote is an error, not a merged row
            header = next(reader, None)
            if header is None:
                raise ConfigError(path, "an empty file", "a CSV file with a header row")
            names = [h.strip() for h in header]
            if target not in names:
                raise ConfigError(
                    "target",
                    target,
                    f"a column of {path}: {', '.join(names)}",
                    did_you_mean(target, names),
                )
            if len(set(names)) != len(names):
                dupes = sorted({h for h in names if names.count(h) > 1})
                raise ConfigError(path, f"repeated column names {dupes}", "unique column names")
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(names):
                    where = f"{path}: row {len(rows) + 1} (line {reader.line_num})"
                    raise ConfigError(
                        where, f"{len(row)} fields", f"{len(names)} fields, like the header"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as err:
        byte = err.object[err.start]
        raise ConfigError(
            path, f"byte 0x{byte:02x} at offset {err.start}", "UTF-8 text (a CSV file)"
        ) from None
    except csv.Error as err:
        line = reader.line_num
        raise ConfigError(f"{path}: line {line}", str(err), "well-formed CSV") from None
    except OSError as err:
        raise ConfigError(path, err.strerror or str(err), "a readable CSV file") from None
    return names, rows, lines


def _labels(labels: np.ndarray, target: str, path: str, lines: list[int]) -> np.ndarray:
    """Class labels (numbers when every label is one, else text); at least two classes."""
    labels = np.char.strip(labels)
    empty = np.flatnonzero(labels == "")
    if empty.size:
        r = int(empty[0])
        raise ConfigError(
            _where(path, target, r, lines), "", "a class label (missing values are not supported)"
        )
    try:
        y = labels.astype(np.float64)
    except ValueError:
        y = labels
    classes = np.unique(y)
    if len(classes) < 2:
        only = classes[0].item() if classes.size else None
        raise ConfigError(
            f"{path}: column {target!r}",
            f"only the class {only} in all {len(y)} rows",
            "at least 2 classes",
        )
    return y


def _check_varies(X: np.ndarray, columns: list[str], path: str) -> None:
    """A :class:`ConfigError` for each feature column with one value in every row."""
    same = np.flatnonzero((X == X[0]).all(axis=0))
    errors = ErrorList()
    for c in same.tolist():
        errors.add(
            ConfigError(
                f"{path}: column {columns[c]!r}",
                f"{float(X[0, c])!r} in all {X.shape[0]} rows",
                "a feature that varies",
                "remove the column: a constant feature carries no information "
                "and its standard deviation is 0",
            )
        )
    errors.raise_if_any()


def _where(path: str, column: str, r: int, lines: list[int]) -> str:
    return f"{path}: column {column!r}, row {r + 1} (line {lines[r]})"


def _numbers(cells: np.ndarray, columns: list[str], path: str, lines: list[int]) -> np.ndarray:
    """``cells`` (strings) as finite float64, or a :class:`ConfigError` for each column with a
    bad cell: its first bad row (in row order) and how many more rows are bad."""
    try:
        out = np.char.strip(cells).astype(np.float64)
    except ValueError:
        out = None
    if out is not None and np.isfinite(out).all():
        return out
    out = np.empty(cells.shape, dtype=np.float64)
    errors = ErrorList()
    for c in range(cells.shape[1]):
        first: ConfigError | None = None
        bad = 0
        for r in range(cells.shape[0]):
            text = str(cells[r, c]).strip()
            try:
                value = float(text)
            except ValueError:
                value, allowed = math.nan, "a number"
            else:
                allowed = "a finite number"
            if text == "" or text.lower() in MISSING:
                allowed = "a number (missing values are not supported)"
            if not math.isfinite(value):
                bad += 1
                if first is None:
                    first = ConfigError(_where(path, columns[c], r, lines), text, allowed)
            out[r, c] = value
        if first is not None:
            more = f"; {bad - 1} more bad rows in this column" if bad > 1 else ""
            errors.add(ConfigError(first.path, first.value, first.allowed + more))
    errors.raise_if_any()
    return out
