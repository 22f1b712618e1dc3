"""The ``lrbench`` command (``python -m lrbench`` and the installed script).

lrbench computes with one BLAS thread in every process (DESIGN.md: identical bits whatever
``--jobs`` is). :func:`lrbench.sweep.executor.limit_blas_threads` enforces that after numpy is
loaded, but by then OpenBLAS has already started its thread pool, whose threads spin for a
while after start-up and after every fork: about 0.25 s of CPU per W1 sweep, taken from the
workers on a two-core machine. Asking for one thread before numpy loads avoids the pool.

When the command is done, the objects it made are frozen (``gc.freeze``) before the normal
exit: the interpreter's teardown then skips the collector's passes over them. Measured
(BENCHMARKS.md, session 7): the teardown after ``lrbench validate`` or ``list`` took about
50 ms, 20 with the freeze (``validate`` 0.482 -> 0.452 s, 30 pairs); exit handlers still run.
"""

import gc
import os

# Read when the BLAS or OpenMP library loads: OpenBLAS (numpy's wheels), MKL, BLIS, OpenMP.
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "OMP_NUM_THREADS",
)


def main() -> None:
    """Run the command line with one BLAS thread per process."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    from lrbench.cli.main import main as cli_main  # after the variables: it loads numpy

    try:
        cli_main()
    finally:
        gc.freeze()  # the teardown's collections skip what the command made (see above)


if __name__ == "__main__":
    main()
