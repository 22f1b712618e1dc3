"""Test-suite settings: a private dataset cache, so tests neither read nor write ~/.cache."""

from __future__ import annotations

import os
import tempfile

os.environ["LRBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="lrbench-test-cache-")
