"""The optional compiled kernels (``lrbench/_fused.c``) and the switch that turns them off.

The extension does some of the elementwise work of the models and optimizers in one pass
over memory, with exactly the operations of the numpy code, so every result keeps its bits
(``tests/test_fused.py``). It is built at install time when a C compiler is there; without it,
or with ``LRBENCH_FUSED=0`` in the environment, the numpy code runs.
"""

from __future__ import annotations

import os

try:
    from lrbench import _fused as compiled
except ImportError:  # pragma: no cover - built without a C compiler
    compiled = None
if os.environ.get("LRBENCH_FUSED") == "0":
    compiled = None


def available() -> bool:
    """Whether the compiled kernels are in use."""
    return compiled is not None
