"""Every figure of a sweep, parsed as XML, holds the series it promises (lrbench/report/plots.py).

A small real sweep (2 tasks x 2 optimizers x 2 schedules x lrs 0.1 and 10 x 2 seeds; lr 10
diverges) gives the figures; the expected series are counted from the sweep's own runs and from
the schedule formulas (``lrbench.core.schedules.lr_table``), and the helpers are checked against
hand-worked values.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import load_config
from lrbench.report import plots
from lrbench.report.figures import sweep_plots
from lrbench.sweep import run as sweep_run

NS = "{http://www.w3.org/2000/svg}"
CI = str(Path(__file__).parent.parent / "configs" / "ci.yaml")


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    config = load_config([CI], ["lr=[0.1, 10.0]", "train.epochs=2"])
    return sweep_run.run(config, out=tmp_path_factory.mktemp("fig") / "ci", jobs=1)


@pytest.fixture(scope="module")
def figures(outcome):
    return {f.name: f for f in sweep_plots(outcome)}


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def legend(root: ET.Element) -> list[str]:
    return [t.text or "" for g in by_class(root, "legend") for t in g.iter(f"{NS}text")]


def n_points(poly: ET.Element) -> int:
    return len(poly.get("points", "").split())


def test_every_figure_is_svg_with_a_caption_and_a_task(outcome, figures):
    tasks = outcome.analysis.tasks
    expected = {f"{kind}-{plots.slug(t)}.svg" for kind in ("sensitivity", "curves", "loss", "gap")
                for t in tasks} | {"schedules.svg"}  # fmt: skip
    assert set(figures) == expected
    for f in figures.values():
        assert ET.fromstring(f.svg).tag == f"{NS}svg"
        assert f.caption
        assert f.task in (*tasks, None)
    assert figures["schedules.svg"].task is None


def test_sensitivity_has_a_line_band_ring_and_divergence_marks_per_row(outcome, figures):
    a = outcome.analysis
    for task in a.tasks:
        root = ET.fromstring(figures[f"sensitivity-{plots.slug(task)}.svg"].svg)
        rows = list(dict.fromkeys(c.row_label for c in a.cells if c.task == task))
        assert legend(root)[: len(rows)] == rows
        # one polyline per row with two drawable means (a row whose lr 10 diverged has one point)
        lines = by_class(root, "line")
        drawable = [r for r in rows if sum(1 for c in a.cells if c.row_label == r and c.task == task and c.n_used) >= 2]  # fmt: skip
        assert len(lines) == len(drawable)
        marks = by_class(root, "marks")
        rings = [m for m in marks if m.tag == f"{NS}g"]  # "o" marks are circles in a group
        crosses = [m for m in marks if m.tag == f"{NS}path"]
        best = [b for b in a.best if b.task == task and b.best_lr is not None]
        assert len(rings) == len(best)
        dead_rows = {c.row_label for c in a.cells if c.task == task and c.status == "diverged"}
        assert len(crosses) == len(dead_rows)  # one group of x marks per row with such cells
        assert ("2/L" in " ".join(legend(root))) == (task in outcome.bounds)


def test_loss_panels_draw_every_lr_of_the_first_seed(outcome, figures):
    a = outcome.analysis
    for task in a.tasks:
        root = ET.fromstring(figures[f"loss-{plots.slug(task)}.svg"].svg)
        panels = [g for g in root if g.tag == f"{NS}g"]
        rows = list(dict.fromkeys(m.row_label for m in a.runs if m.task == task))
        assert len(panels) == len(rows)
        titles = [by_class(p, "title")[0].text for p in panels]
        assert titles == [f"{task}: {r} (seed 0)" for r in rows]
        columns = len({m.schedule for m in a.runs if m.task == task})  # 2: a row of panels
        for i, (panel, row) in enumerate(zip(panels, rows)):
            runs = {m.lr: (r, m) for r, m in zip(outcome.results, a.runs) if m.row_label == row and m.task == task and m.seed == 0}  # fmt: skip
            expected = [*(f"lr {lr:g}" for lr in sorted(runs)), "training (minibatch)", "validation"]  # fmt: skip
            assert legend(panel) == (expected if i % columns == columns - 1 else [])
            lines = by_class(panel, "line")
            dashed = [x for x in lines if x.get("stroke-dasharray")]
            solid = [x for x in lines if not x.get("stroke-dasharray")]
            # a finished run: a training line and a validation line; a run that diverged at
            # its first evaluation may have too few finite points for one of them
            finished = [lr for lr, (r, m) in runs.items() if m.status != "diverged"]
            assert len(solid) >= len(finished) and len(dashed) >= len(finished)
            assert all(n_points(x) <= plots.MAX_POINTS for x in solid)
            diverged = [lr for lr, (r, m) in runs.items() if m.status == "diverged"]
            assert len([m for m in by_class(panel, "marks")]) == len(diverged)


def test_schedules_figure_draws_each_schedule_from_its_formula(outcome, figures):
    from lrbench.core.schedules import lr_table

    root = ET.fromstring(figures["schedules.svg"].svg)
    assert legend(root) == ["constant", "step(milestones=[0.5])"]
    config = outcome.config
    steps = config.train_spec(config.tasks[0]).steps
    lines = by_class(root, "line")
    assert [n_points(x) for x in lines] == [steps, steps]
    # pixel y of the step schedule: 1 before the milestone, 0.1 after (lr_table), so two levels
    ys = [float(p.split(",")[1]) for p in lines[1].get("points").split()]
    table = lr_table("step", {"milestones": [0.5], "gamma": 0.1}, 1.0, steps)
    assert len(set(ys)) == len(set(table.tolist())) == 2


def test_binned_averages_consecutive_points_and_keeps_the_rest():
    # 10 points, at most 4: bins of ceil(10 / 4) = 3 -> [0,1,2] [3,4,5] [6,7,8] and [9]
    x, y = plots.binned(np.arange(10.0), np.arange(1.0, 11.0), most=4)
    assert x.tolist() == [1.0, 4.0, 7.0, 9.0]
    assert y.tolist() == [2.0, 5.0, 8.0, 10.0]
    # non-finite points are left out first; few points are returned as they are
    x, y = plots.binned(np.arange(3.0), np.array([1.0, np.nan, 3.0]), most=4)
    assert x.tolist() == [0.0, 2.0] and y.tolist() == [1.0, 3.0]


def test_sequential_colors_follow_viridis():
    assert plots.sequential_colors(9) == list(plots.VIRIDIS)
    two = plots.sequential_colors(2)
    assert two == [plots.VIRIDIS[0], plots.VIRIDIS[-1]]
    assert plots.sequential_colors(1) == [plots.VIRIDIS[0]]


def test_schedule_command_plots_the_schedule(tmp_path: Path):
    path = tmp_path / "s.svg"
    args = ["schedule", "cyclic", "--steps", "40", "--set", "cycle_momentum=true", "--plot", str(path)]  # fmt: skip
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    root = ET.fromstring(path.read_text(encoding="utf-8"))
    panels = [g for g in root if g.tag == f"{NS}g"]
    assert len(panels) == 2  # the lr, then the cycled momentum
    assert [n_points(x) for x in by_class(root, "line")] == [40, 40]
    assert by_class(panels[0], "title")[0].text == "cyclic with lr=0.1"
    assert re.match(r"cyclic\(cycle_momentum=true\)", legend(panels[0])[0])
