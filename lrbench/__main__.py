"""The ``lrbench`` command (``python -m lrbench`` and the installed script).

lrbench computes with one BLAS thread in every process (DESIGN.md: identical bits whatever
``--jobs`` is). :func:`lrbench.sweep.executor.limit_blas_threads` enforces that after numpy is
loaded, but by then OpenBLAS has already started its thread pool, whose threads spin for a
while after start-up and after every fork: about 0.25 s of CPU per W1 sweep, taken from the
workers on a two-core machine. Asking for one thread before numpy loads avoids the pool.

When the command is done (every file it writes is closed by then), the process flushes its
output and ends with ``os._exit``: the interpreter's teardown (freeing every object of a sweep
one by one) took about 0.07 s after a W1 sweep, for nothing.
"""

import os
import sys

# Read when the BLAS or OpenMP library loads: OpenBLAS (numpy's wheels), MKL, BLIS, OpenMP.
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "OMP_NUM_THREADS",
)


def main() -> None:
    """Run the command line with one BLAS thread per process, then exit at once."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    from lrbench.cli.main import main as cli_main

    try:
        cli_main()
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """The status ``sys.exit(code)`` gives: None 0, an int itself, anything else printed to
    stderr and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


if __name__ == "__main__":
    main()
