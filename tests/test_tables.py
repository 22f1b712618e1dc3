"""The table model and its two renderers, and the sweep tables built from a hand-made sweep.

Expected texts are worked by hand in the comments: cell means and 95 % half-widths from the
t table (t_{0.975}(1) = 12.706, NIST/SEMATECH e-Handbook 1.3.6.7.2), Markdown by GitHub's table
syntax, terminal styles by their ANSI SGR codes (ECMA-48: 1 bold, 2 dim, 30 black foreground,
31 red, 32 green, 33 yellow, 42 green background).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from lrbench.report import tables as report
from lrbench.report.table_model import Column, Entry, TableModel, to_markdown, to_rich
from lrbench.spec import RunResult, RunSpec, TaskSpec, TrainSpec
from lrbench.sweep.analysis import analyze
from lrbench.sweep.run import SweepOutcome

NAN = math.nan


def render(table, width: int = 120) -> str:
    """What a colour terminal of ``width`` columns receives."""
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=True, color_system="standard").print(table)
    return buf.getvalue()


# ---------------------------------------------------------------- the model and its renderers
def small_model() -> TableModel:
    return TableModel(
        title="t: a title",
        columns=(Column("name", wrap=False), Column("1", "right"), Column("10", "right", mark="*")),
        rows=(
            (Entry("a|b"), Entry("0.5", "best"), Entry("✗", "bad")),
            (Entry("c"), Entry("0.7", "good"), Entry("", "")),
        ),
        notes=("* above the bound", "a legend"),
    )


def test_markdown_renders_the_grid_with_alignment_bold_best_and_escaped_pipes():
    assert to_markdown(small_model()) == [
        "| name | 1 | 10 |",
        "|---|---:|---:|",  # left, right, right
        "| a\\|b | **0.5** | ✗ |",  # a literal | would split the cell
        "| c | 0.7 |  |",
    ]


def test_rich_renders_title_marks_styles_and_notes():
    text = render(to_rich(small_model()))
    assert "t: a title" in text
    assert "10*" in text  # the column mark after its header
    assert "\x1b[1;30;42m0.5" in text  # best: bold black on green
    assert "\x1b[32m0.7" in text  # good: green
    assert "\x1b[31m  ✗" in text  # bad: red (right-aligned under "10*")
    lines = text.splitlines()
    assert "* above the bound" in lines[-2] and "a legend" in lines[-1]  # notes: the caption


def test_model_rejects_unknown_styles_and_ragged_rows():
    with pytest.raises(ValueError, match="unknown style"):
        Entry("x", "bold red")  # a renderer's style, not what the cell is
    with pytest.raises(ValueError, match="2 entries in 3 columns"):
        TableModel("t", small_model().columns, ((Entry("a"), Entry("b")),))


# ---------------------------------------------------------------- a hand-made sweep
TASK = TaskSpec("digits", "logreg")
TRAIN = TrainSpec(steps=20, batch_size=32, eval_every=10)


def result(lr: float, seed: int, final: float | None) -> RunResult:
    """Val (= train) loss 2.0 -> halfway -> final at steps 0, 10, 20 (falling: stable); None:
    diverged at step 10."""
    curve = [2.0, (2.0 + final) / 2, final] if final is not None else [2.0, NAN]
    steps = np.arange(len(curve)) * 10
    return RunResult(
        spec=RunSpec(TASK, TRAIN, "sgd", (), "constant", (), lr, seed),
        status="ok" if final is not None else "diverged",
        steps_done=int(steps[-1]),
        diverged_at=None if final is not None else 10,
        log_step=np.arange(0),
        log_lr=np.zeros(0),
        log_loss=np.zeros(0),
        eval_step=steps,
        eval_train_loss=np.array(curve),
        eval_val_loss=np.array(curve),
        eval_val_accuracy=np.full(len(curve), NAN),
        steps_per_epoch=10,
    )


def outcome(plots: bool = False) -> SweepOutcome:
    """lr 0.01: final 1.8 and 1.82 (slow: 1.81 - 0.51 > 0.25 * (2 - 0.51)); lr 0.1: 0.5 and 0.52
    (the best); lr 1: both seeds diverged. 2/L = 0.5, so only lr 1 exceeds it."""
    finals = {0.01: (1.8, 1.82), 0.1: (0.5, 0.52), 1.0: (None, None)}
    results = tuple(result(lr, s, f[s]) for lr, f in finals.items() for s in (0, 1))
    out = Path("results/tiny")
    files = (out / "runs.csv",) + ((out / "plots" / "curves-digits-logreg.svg",) if plots else ())
    return SweepOutcome(
        config=SimpleNamespace(name="tiny", seeds=(0, 1)),
        out_dir=out,
        results=results,
        analysis=analyze(results),
        bounds={"digits/logreg": 0.5},
        n_trained=6,
        files=files,
    )


def test_heatmap_model_cells_marks_and_styles():
    model = report.heatmap_model(outcome(), "digits/logreg")
    assert model.title == "digits/logreg: final_val_loss (mean ± 95% CI over 2 seeds)"
    assert [c.header + c.mark for c in model.columns] == [
        "optimizer / schedule", "0.01", "0.1", "1*", "best lr", "good band"]  # fmt: skip
    # means 1.81 and 0.51, std sqrt(2) * 0.01 each, half-width 12.706 * 0.01 = 0.127, written
    # at the mean's precision (3 significant figures: 2 decimals for 1.81, 3 for 0.510)
    (row,) = model.rows
    assert [(e.text, e.style) for e in row] == [
        ("sgd / constant", ""),
        ("1.81±0.13↓", "dim"),  # slow
        ("0.510±0.127", "best"),
        ("✗", "bad"),  # every seed diverged
        ("0.1", "strong"),
        ("only the best", ""),  # tolerance max(5 % of 0.51, 1e-3): 1.81 is far outside
    ]
    assert model.notes[0] == "gradient-descent stability bound 2/L = 0.5 (lrs marked * exceed it)"
    assert model.notes[-1] == report.LEGEND


def test_markdown_document_of_the_sweep():
    text = report.markdown(outcome())
    assert text == "\n".join([
        "# lrbench sweep: tiny", "",
        "6 runs (6 trained, 0 resumed): 2 ok, 2 slow, 2 diverged. Results in results/tiny/ "
        "(runs.csv, curves.csv, summary.csv)", "",
        "## digits/logreg: final_val_loss (mean ± 95% CI over 2 seeds)", "",
        "Gradient-descent stability bound 2/L = 0.5.", "",
        "| optimizer / schedule | 0.01 | 0.1 | 1 | best lr | good band |",
        "|---|---:|---:|---:|---:|---:|",
        "| sgd / constant | 1.81±0.13↓ | **0.510±0.127** | ✗ | 0.1 | only the best |", "",
        # the theory section (lrbench.report.theory): 2/L with what it assumes; every run here
        # trains on minibatches (10 steps an epoch), so the bound is listed, not judged
        "## stability bounds (full-batch gradient descent)", "",
        "| task | bound | assumes |",
        "|---|---|---|",
        "| digits/logreg | 2/L = 0.5 | full batch; convex logreg: sufficient "
        "(L bounds the curvature from above) |", "",
        "L: the largest eigenvalue of the training loss's Hessian (least squares), or an upper "
        "bound on it (logreg). This sweep trains on minibatches, so no run is compared with these "
        "full-batch bounds (batch_size: full runs are).", "",
        report.LEGEND, "",
    ])  # fmt: skip


def test_terminal_tables_and_status_line():
    shown = [render(t, width=200) for t in report.tables(outcome(plots=True))]
    heat, best, bounds, status = shown
    assert "\x1b[1;30;42m0.510±0.127" in heat and "\x1b[2m1.81±0.13↓" in heat
    assert "stability bounds (full-batch gradient descent)" in bounds and "2/L = 0.5" in bounds
    assert "1*" in heat and "2/L = 0.5" in heat
    assert "best configurations by final_val_loss" in best
    assert "0.5100±0.1271" in best  # the best table: 4 significant figures, ± at that precision
    assert status.strip().endswith("(runs.csv, curves.csv, summary.csv, plots/)")


def test_summary_json_is_valid_json_with_nulls_for_non_finite_values():
    data = report.summary_json(outcome())
    text = json.dumps(data, allow_nan=False)  # raises on NaN or inf
    assert json.loads(text) == data
    assert data["statuses"] == {"ok": 2, "slow": 2, "diverged": 2}  # best to worst, no zeros
    (row,) = data["tasks"][0]["rows"]
    assert (row["best_lr"], row["band"], row["edge"]) == (0.1, [0.1, 0.1], None)
    dead = row["cells"][2]
    assert (dead["lr"], dead["mean"], dead["std"], dead["ci95"]) == (1.0, None, None, None)
    assert dead["statuses"] == {"ok": 0, "slow": 0, "unstable": 0, "diverged": 2}
