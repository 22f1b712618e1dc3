"""Progress display for a sweep: a Rich bar with ETA on a terminal, plain lines otherwise.

Fed by the sweep's events: ``("start", SweepStart)``, ``("steps", n)``, ``("group", results)``.
Everything goes to the console it is given (stderr in the CLI), never to stdout.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lrbench.sweep.run import SweepStart

PLAIN_EVERY_S = 5.0


class SweepProgress:
    """Turns sweep events into a progress bar (terminal) or periodic lines (CI logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.total = 0
        self.done = 0
        self.runs_done = 0
        self.runs = 0
        self.start = time.monotonic()
        self.last_line = 0.0
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def event(self, kind: str, payload: Any) -> None:
        if kind == "start":
            self._start(payload)
        elif kind == "steps":
            self.done += int(payload)
            self._update()
        elif kind == "group":
            self.runs_done += len(payload)
            self._update(force_line=False)

    def _start(self, info: SweepStart) -> None:
        self.total = max(info.steps, 1)
        self.runs = info.runs
        msg = f"{info.name}: {self.runs} runs in {info.groups} lockstep groups on {info.jobs} process(es)"
        if info.resumed:
            msg += f"; {info.resumed} finished runs resumed"
        self.console.print(msg)
        if self.runs == 0:
            return
        if self.live:
            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=self.total)

    def _update(self, force_line: bool = False) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=min(self.done, self.total))
            return
        if self.runs == 0:
            return
        now = time.monotonic()
        if force_line or now - self.last_line >= PLAIN_EVERY_S:
            self.last_line = now
            self._line(now)

    def _line(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0) if self.total else 1.0
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        self.console.print(
            f"progress: {100 * frac:5.1f}% of steps, {self.runs_done}/{self.runs} runs, "
            f"{elapsed:.1f}s elapsed, eta {eta:.1f}s"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        elapsed = time.monotonic() - self.start
        if self.runs:
            self.console.print(f"trained {self.runs_done} runs in {elapsed:.1f}s")
