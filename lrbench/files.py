"""Writing files that a reader can trust: atomic writes, one JSON cleaner, one CSV cell format.

Text is written as UTF-8 with bare newlines (no translation), whatever the platform's defaults.

Used by every room that writes results (sweep, finder, report); imports only numpy.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)  # read the process umask (there is no call that only reads it)


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` (UTF-8; bytes as they are) via a temporary file in the same
    folder and a rename, so a reader sees the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        if isinstance(text, bytes):
            with os.fdopen(fd, "wb") as f:
                f.write(text)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a full disk's error names no file: name the one written
        raise


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON data, the one JSON cleaner: mappings as dicts (keys as given),
    tuples and arrays as lists, numpy scalars as Python numbers, and a non-finite float (NaN,
    inf: not JSON) as ``None``. ``json.dumps(jsonable(v), allow_nan=False)`` then always works
    for numbers, strings, booleans and ``None`` inside."""
    if isinstance(v, Mapping):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def csv_cell(v: Any) -> str:
    """How one value is written to a CSV: empty for missing or NaN, repr for floats."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if math.isnan(v) else repr(float(v))
    if isinstance(v, (list, tuple)):
        return json.dumps(jsonable(v))
    return str(v)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header; every row is written with exactly ``columns``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([csv_cell(row.get(c)) for c in columns])
    return buf.getvalue()
