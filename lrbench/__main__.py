"""The ``lrbench`` command (``python -m lrbench`` and the installed script).

lrbench computes with one BLAS thread in every process (DESIGN.md: identical bits whatever
``--jobs`` is). :func:`lrbench.sweep.executor.limit_blas_threads` enforces that after numpy is
loaded, but by then OpenBLAS has already started its thread pool, whose threads spin for a
while after start-up and after every fork: about 0.25 s of CPU per W1 sweep, taken from the
workers on a two-core machine. Asking for one thread before numpy loads avoids the pool.
"""

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

    cli_main()


if __name__ == "__main__":
    main()
