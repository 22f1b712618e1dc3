"""The optional compiled kernels (``lrbench/core/_fused.c``) and the switch that turns them off.

The extension does some of the elementwise work of the models and optimizers in one pass
over memory, with exactly the operations of the numpy code, so every result keeps its bits
(``tests/test_fused.py``). It is built at install time when a C compiler is there; without it,
or with ``LRBENCH_FUSED=0`` in the environment, the numpy code runs.

``compiled`` is the module in use, or None. The optimizers read it when they step (so one
assignment, e.g. a test's monkeypatch, switches every rule); the models bind it at import.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

# What lrbench calls; a module built from an older lrbench/core/_fused.c lacks some, and is not used.
FUNCTIONS = ("sgd", "adam", "bias_relu", "relu_grad", "class_shift", "softmax_grad")


def usable(module: ModuleType | None) -> ModuleType | None:
    """``module`` if it has every function lrbench calls, else None."""
    if module is None or not all(callable(getattr(module, f, None)) for f in FUNCTIONS):
        return None
    return module


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("lrbench.core._fused")
    except ImportError:  # pragma: no cover - built without a C compiler
        return None


# Any: a C extension has no type stubs, and its callers test fits() or their own flag (made
# once per call, not per use) rather than the module; tests also put a spy here.
compiled: Any = usable(_load())
if os.environ.get("LRBENCH_FUSED") == "0":
    compiled = None


def available() -> bool:
    """Whether the compiled kernels are in use."""
    return compiled is not None


def fits(dtype: np.dtype, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> bool:
    """Whether the compiled optimizer updates can take these arrays: the module is in use, the
    optimizer's dtype is float64 or float32, and every parameter and its gradient are
    C-contiguous arrays of that dtype and of one shape. The optimizer's own state and operands
    always are. Otherwise the numpy code runs (and reports any mismatch)."""
    return (
        compiled is not None
        and dtype.char in "df"
        and len(params) == len(grads)
        and all(
            p.flags.c_contiguous
            and g.flags.c_contiguous
            and p.dtype == g.dtype == dtype
            and p.shape == g.shape
            for p, g in zip(params, grads)
        )
    )
