"""The numpy baseline: W1's work trained one configuration at a time, one BLAS thread, with
lrbench's numpy code (its compiled kernels switched off: ``LRBENCH_FUSED=0``).

Every spec of a config is trained alone with ``lrbench.core.engine.train_group([spec])`` (K = 1),
so the arithmetic, the evaluation work (full training loss, validation loss and accuracy once
an epoch) and the divergence rule are lrbench's own; only the lockstep stacking is missing.
Data are loaded (and cached) before the clock starts, as lrbench's workers do.

    .venv/bin/python benchmarks/one_at_a_time.py configs/w1.yaml [--set train.dtype=float32]

The last line of stdout is JSON: ``{"train_s": total training seconds, "runs": n, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lrbench.__main__ import THREAD_VARIABLES  # noqa: E402 - imports no numpy

# One BLAS thread from the start, as the lrbench command does.
for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"
# The baseline is numpy one configuration at a time: lrbench's compiled kernels stay off.
os.environ["LRBENCH_FUSED"] = "0"

from threadpoolctl import threadpool_limits  # noqa: E402

from lrbench.config import load_config  # noqa: E402
from lrbench.core.engine import train_group  # noqa: E402
from lrbench.core.tasks import load_task_data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="lrbench config file, e.g. configs/w1.yaml")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    args = ap.parse_args(argv)

    specs = load_config(args.config, args.set).specs()
    threadpool_limits(1)
    data = {}
    for s in specs:
        key = (s.task, s.train.dtype)
        if key not in data:
            data[key] = load_task_data(s.task, s.train.dtype)

    total = 0.0
    steps = 0
    for s in specs:
        start = time.perf_counter()
        (result,) = train_group([s], data[(s.task, s.train.dtype)])
        total += time.perf_counter() - start
        steps += result.steps_done
    out = {"train_s": total, "runs": len(specs), "steps": steps, "dtype": specs[0].train.dtype}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
