"""The typed results and the small shared helpers: status counts, CSV columns, the JSON cleaner,
the value display. References: the documented column lists (README, "Results folder"), the
JSON standard (RFC 8259: no NaN or Infinity) and values worked by hand."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from lrbench.files import csv_cell, jsonable
from lrbench.spec import show
from lrbench.sweep import analysis as an
from lrbench.sweep.findings import RUN_COLUMNS, STATUSES, StatusCounts, summary_rows


def test_status_counts():
    counts = StatusCounts.of(["diverged", "ok", "ok", "unstable"])
    assert counts == StatusCounts(ok=2, unstable=1, diverged=1)
    assert counts.as_dict() == {"ok": 2, "slow": 0, "unstable": 1, "diverged": 1}
    assert counts.as_dict(nonzero=True) == {"ok": 2, "unstable": 1, "diverged": 1}
    assert list(counts.as_dict()) == list(STATUSES)  # best to worst
    assert StatusCounts.of([]) == StatusCounts()
    with pytest.raises(TypeError):
        StatusCounts.of(["fine"])  # not a status


def test_run_columns_are_the_documented_ones_in_order():
    # runs.csv after the spec's columns: the metrics, as documented since the first release
    assert RUN_COLUMNS == (
        "run_id", "task", "optimizer", "schedule", "lr", "seed", "status", "steps_done",
        "diverged_at", "initial_train_loss", "initial_val_loss", "initial_val_accuracy",
        "final_train_loss", "final_val_loss", "final_val_accuracy", "best_val_loss", "best_step",
        "best_val_accuracy", "steps_to_target", "wall_s",
        # added by the generalization work, at the end so the columns above keep their places
        "final_train_accuracy", "final_gap_loss", "final_gap_accuracy", "best_gap_loss",
        "best_gap_accuracy", "stopped_early", "restored_step",
    )  # fmt: skip


def test_results_are_frozen():
    cell = an.Cell(
        row=("r",), task="t", optimizer="sgd", schedule="constant", row_label="r", lr=0.1,
        metric="final_val_loss", n_seeds=1, n_used=1, n_finite=1, n_diverged=0,
        statuses=StatusCounts(ok=1), status="ok", partial_diverged=False, mean=0.5, std=0.0,
        ci95=math.nan, median=0.5, min=0.5, max=0.5, score=0.5,
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.mean = 0.4  # type: ignore[misc]
    (best,) = an.best_per_row([cell], "final_val_loss")
    (row,) = summary_rows([cell], [best])
    assert (row["n_ok"], row["n_slow"], row["is_best"], row["within_tolerance"]) == (
        1,
        0,
        True,
        True,
    )


def test_cell_median_of_an_even_number_of_seeds():
    """np.median of four finite values: the mean of the two middle ones, (0.3 + 0.4) / 2."""
    spec = [an.RunMetrics(
        run_id=str(i), row=("r",), task="t", optimizer="sgd", schedule="constant", row_label="r",
        lr=0.1, seed=i, status="ok", steps_done=1, diverged_at=None, initial_train_loss=1.0,
        initial_val_loss=1.0, initial_val_accuracy=math.nan, final_train_loss=v,
        final_val_loss=v, final_val_accuracy=math.nan, best_val_loss=v, best_step=1,
        best_val_accuracy=math.nan, steps_to_target=None, wall_s=0.0,
    ) for i, v in enumerate([0.4, 0.1, 0.9, 0.3])]  # fmt: skip
    (cell,) = an.aggregate_cells(spec)
    assert cell.median == (0.3 + 0.4) / 2
    assert (cell.min, cell.max) == (0.1, 0.9)


def test_jsonable_makes_plain_json():
    data = {
        "a": (1, np.float64(0.25), np.int64(3)),
        "b": {"nan": math.nan, "inf": -math.inf, "ok": 1e-300},
        "c": np.array([1.5, np.nan]),
        "d": [True, None, "x"],
    }
    assert jsonable(data) == {
        "a": [1, 0.25, 3],
        "b": {"nan": None, "inf": None, "ok": 1e-300},
        "c": [1.5, None],
        "d": [True, None, "x"],
    }
    assert type(jsonable(np.int64(3))) is int and type(jsonable(np.float32(0.5))) is float
    json.dumps(jsonable(data), allow_nan=False)  # RFC 8259 JSON: no NaN, no Infinity


def test_csv_cells_of_lists_are_json():
    assert csv_cell([0.5, np.float64(0.75)]) == "[0.5, 0.75]"
    assert csv_cell((1, 2)) == "[1, 2]"


def test_show_writes_values_as_yaml_does():
    assert show(None) == "null"
    assert (show(True), show(False)) == ("true", "false")
    assert show((0.9, [0.999, None], "x")) == "[0.9, [0.999, null], x]"
    assert show(1e-08) == "1e-08"
