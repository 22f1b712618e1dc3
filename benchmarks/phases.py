"""Run the lrbench command line and write when its phases ended (``make bench --against``).

    python benchmarks/phases.py MARKS.json sweep configs/w1.yaml --jobs 2 ...

runs ``lrbench sweep ...`` in this process, with whatever ``lrbench`` this Python imports (so
the reference tree of an A/B runs its own code), and writes to ``MARKS.json`` the seconds since
this script started at three points:

- ``workers``: the worker pool is created (the parent's work before training: imports, config,
  planning);
- ``trained``: the pool is shut down (every chunk trained and collected);
- ``end``: the command is done (``atexit``, or ``os._exit`` for a version that ends with it).

Training is the same code in the versions compared (BENCHMARKS.md, session 9), but on a shared
machine it is where most of the noise is; the parent's phases before and after it move less,
and show where a difference between two versions comes from.
"""

from __future__ import annotations

import atexit
import concurrent.futures.process as cfp
import json
import os
import sys
import time
from typing import Any

START = time.perf_counter()


def main() -> None:
    path, sys.argv = sys.argv[1], ["lrbench", *sys.argv[2:]]
    pid, marks = os.getpid(), {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter() - START)

    def write() -> None:
        if os.getpid() == pid:  # not in a forked worker, which inherits the hooks
            mark("end")
            with open(path, "w") as f:
                json.dump(marks, f)

    new, shutdown, exit_now = (
        cfp.ProcessPoolExecutor.__init__,
        cfp.ProcessPoolExecutor.shutdown,
        os._exit,
    )

    def new_pool(self: Any, *args: Any, **kwargs: Any) -> None:
        mark("workers")
        new(self, *args, **kwargs)

    def shut(self: Any, *args: Any, **kwargs: Any) -> None:
        mark("trained")
        shutdown(self, *args, **kwargs)

    def exit_at_once(code: int) -> None:
        write()
        exit_now(code)

    cfp.ProcessPoolExecutor.__init__ = new_pool  # type: ignore[method-assign]
    cfp.ProcessPoolExecutor.shutdown = shut  # type: ignore[method-assign]
    os._exit = exit_at_once
    atexit.register(write)  # registered first, so it runs after lrbench's own handlers
    from lrbench.__main__ import main as lrbench_main

    lrbench_main()


if __name__ == "__main__":
    main()
