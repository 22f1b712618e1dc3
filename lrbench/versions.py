"""Installed package versions, read cheaply (for the data cache's key and ``manifest.json``)."""

from __future__ import annotations

import os
import sys


def installed_version(dist: str) -> str | None:
    """An installed distribution's version, from the name of its ``*.dist-info`` folder on
    ``sys.path``, which is where ``importlib.metadata`` finds it too (importing that costs
    about 15 ms, on every sweep: the data cache's key and the manifest both need the version);
    ``importlib.metadata`` itself when there is no such folder (other install layouts)."""
    prefix = dist.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and name.lower().startswith(prefix):
                return name[len(prefix) : -len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None
