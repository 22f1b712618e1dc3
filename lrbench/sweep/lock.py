"""One sweep at a time in a results folder, and never two experiments mixed in one.

A sweep holds an operating-system lock on ``<folder>/.lrbench.lock`` (the ``filelock``
package: ``flock`` on Unix, released by the kernel when the process ends, even by SIGKILL, so
a crashed sweep never leaves the folder locked). A second sweep on the same folder stops at
once with a clear message instead of writing the same files.

With the lock held, two more checks run before anything is written:

- the folder's ``config.yaml``, when there is one, must name the same config (``name:``):
  results of another experiment are never mixed in. Within one experiment a changed grid is
  the resume case: run files are keyed by a hash of their full spec and compared spec for spec
  when loaded, so only runs whose spec is unchanged are reused, and the tables list exactly the
  current grid;
- temporary files left by a writer that was killed (``.<name>.<random>.tmp``, see
  :func:`lrbench.files.atomic_write`) are deleted: no other process can be writing them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from filelock import FileLock, Timeout

from lrbench import safeyaml
from lrbench.errors import LrbenchError

LOCK_NAME = ".lrbench.lock"

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def results_folder(folder: Path, name: str) -> Iterator[Path]:
    """Hold ``folder`` for the sweep of config ``name`` (see the module docstring)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / LOCK_NAME), timeout=0)
        lock.acquire()
    except Timeout:
        raise LrbenchError(
            f"{folder} is in use by another lrbench sweep (it holds {folder / LOCK_NAME}); "
            "wait for it to finish, or give this sweep another --out"
        ) from None
    except OSError as exc:
        raise LrbenchError(
            f"cannot write to the results folder {folder}: {exc.strerror or exc}"
        ) from None
    try:
        _check_owner(folder, name)
        _remove_temporaries(folder)
        yield folder
    finally:
        lock.release()


def holding_results_lock(default_out: Callable[[Any], Path]) -> Callable[[F], F]:
    """Decorate :func:`lrbench.sweep.run.run` so that it runs inside :func:`results_folder`;
    the folder is its ``out`` argument, or ``default_out(config)``."""

    def decorate(run: F) -> F:
        @functools.wraps(run)
        def locked(config: Any, *args: Any, out: Path | None = None, **kwargs: Any) -> Any:
            folder = Path(out) if out is not None else default_out(config)
            with results_folder(folder, config.name):
                return run(config, *args, out=out, **kwargs)

        return cast(F, locked)  # run's own signature: locked passes every argument on

    return decorate


def _check_owner(folder: Path, name: str) -> None:
    """Refuse a folder whose ``config.yaml`` names another config."""
    path = folder / "config.yaml"
    if not path.is_file():
        return
    try:
        saved = safeyaml.load_file(path)
    except LrbenchError:
        saved = None
    owner = saved.get("name") if isinstance(saved, dict) else None
    if owner == name:
        return
    who = f"config {owner!r}" if isinstance(owner, str) else "a config.yaml lrbench cannot read"
    raise LrbenchError(
        f"{folder} holds the results of {who}, not of {name!r}; "
        "give this sweep another --out (or remove that folder)"
    )


def _remove_temporaries(folder: Path) -> None:
    for sub in (folder, folder / "runs", folder / "plots"):
        if sub.is_dir():
            for p in sub.glob(".*.tmp"):
                p.unlink(missing_ok=True)
