"""Progress output: plain lines for logs, a bar on terminals, never stdout."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

import lrbench.cli.progress as progress_mod
from lrbench.cli.progress import SweepProgress
from lrbench.sweep.run import SweepStart

START = SweepStart(name="x", runs=4, resumed=2, steps=100, groups=2, jobs=2)


def test_plain_lines_when_not_a_terminal(monkeypatch):
    buf = io.StringIO()
    p = SweepProgress(Console(file=buf, force_terminal=False, width=200))
    monkeypatch.setattr(progress_mod, "PLAIN_EVERY_S", 0.0)  # a line at every event
    p.event("start", START)
    p.event("steps", 50)
    p.event("group", [object(), object()])
    p.event("steps", 50)
    p.close()
    text = buf.getvalue()
    assert "x: 4 runs in 2 lockstep groups on 2 process(es); 2 finished runs resumed" in text
    assert "progress:  50.0% of steps, 0/4 runs" in text
    assert "progress: 100.0% of steps, 2/4 runs" in text
    assert "trained 2 runs in" in text
    assert "\x1b[" not in text  # no terminal control codes in logs


def test_nothing_to_train_prints_only_the_summary_line():
    buf = io.StringIO()
    p = SweepProgress(Console(file=buf, force_terminal=False))
    p.event("start", replace(START, runs=0, steps=0))
    p.close()
    assert buf.getvalue().strip().splitlines() == [
        "x: 0 runs in 2 lockstep groups on 2 process(es); 2 finished runs resumed"
    ]
