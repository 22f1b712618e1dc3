"""Every table fits 60, 80, 120 and 200 columns: no line longer than the width, no number cut.

A sweep with long row labels (``momentum(momentum=0.5) / step(...)``), 7 learning rates, 3
seeds and diverging cells is rendered through a ``rich.console.Console`` of a fixed width; the
other commands are run end to end with ``COLUMNS`` set (stdout is not a terminal, so the width
comes from ``COLUMNS``). "Not cut" is checked against the analysis itself: every cell's number,
read back from the terminal text, is its mean to 3 significant figures.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import validate
from lrbench.report import tables
from lrbench.report.checks import batch_model, rich_table
from lrbench.report.table_model import Column, Entry, TableModel, fit, rules_width
from lrbench.sweep import run as sweep_run
from lrbench.sweep.checks import check_sweep

WIDTHS = (60, 80, 120, 200)
RAW = {
    "name": "wide",
    "seeds": 3,
    "tasks": [{"dataset": "iris", "model": "logreg"}, {"dataset": "moons", "model": "mlp",
              "hidden": [8], "n_samples": 200}],
    "train": {"epochs": 2, "batch_size": 16},
    "lr": [0.001, 0.003, 0.01, 0.03, 0.1, 1.0, 30.0],
    "optimizers": ["sgd", {"momentum": {"momentum": 0.5}}, "adam"],
    "schedules": ["constant", {"step": {"milestones": [0.5, 0.75], "gamma": 0.1}}],
}  # fmt: skip


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("wide") / "wide"
    return sweep_run.run(validate(RAW), out=out, jobs=1)


def render(renderable, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, highlight=False, soft_wrap=False).print(renderable)
    return buf.getvalue()


def assert_fits(text: str, width: int, what: str = "") -> None:
    """No line over ``width`` (but a command to copy, ``next: lrbench ...``, is one line)."""
    lines = [x for x in text.splitlines() if not x.startswith("next: lrbench ")]
    too_long = [line for line in lines if cell_len(line) > width]
    assert not too_long, f"{what}: lines over {width} columns: {too_long[:3]}"
    assert "…" not in text, what  # Rich's mark of a cut cell


# ---------------------------------------------------------------- the sweep's tables
NUMBER = re.compile(r"^\(?(-?\d+(?:\.\d+)?)(?:±(\d+(?:\.\d+)?))?\)?(e[+-]\d+)?")


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_tables_fit_and_every_number_is_whole(outcome, width):
    text = "".join(render(r, width) for r in tables.tables(outcome))
    assert_fits(text, width)
    a = outcome.analysis
    for task in a.tasks:
        model = tables.heatmap_model(outcome, task)
        shown = fit(model, width)
        lrs = [float(c.header) for c in model.columns[1:-2]]
        by_key = {(c.row_label, c.lr): c for c in a.cells if c.task == task}
        seen = 0
        for part in shown:
            for table_row in part.rows:
                label = table_row[0].text
                for col, entry in zip(part.columns[1:], table_row[1:]):
                    assert entry.text in text.replace("\n", " ") or " " in entry.text
                    if col.header not in {f"{lr:g}" for lr in lrs} or entry.text == "✗":
                        continue
                    cell = by_key[(label, float(col.header))]
                    m = NUMBER.match(entry.text)
                    assert m, entry.text
                    value = float(m.group(1) + (m.group(3) or ""))
                    # 3 significant figures of the mean: within half a unit of the last digit
                    ulp = 10.0 ** (math.floor(math.log10(abs(cell.mean))) - 2)
                    assert abs(value - cell.mean) <= 0.5 * ulp * 1.0001, (entry.text, cell.mean)
                    seen += 1
        n_finite = sum(1 for c in a.cells if c.task == task and c.n_used > 0)
        assert seen == n_finite  # every cell with a value is shown, in one part or another


def test_what_gives_way_at_each_width(outcome):
    """200: one boxed table with every column; 120: lighter rules, the side table; 80 and 60:
    the ± left out (with a note saying so); 60 may also split the lrs over parts."""
    task = outcome.analysis.tasks[1]
    model = tables.heatmap_model(outcome, task)
    wide = fit(model, 200)
    assert len(wide) == 1 and wide[0].rules == ("boxed",)
    assert any("±" in e.text for row in wide[0].rows for e in row)
    narrow = fit(model, 80)
    assert narrow[-1].title == f"{task}: best lr and good band of each row"
    assert not any("±" in e.text for t in narrow for row in t.rows for e in row)
    assert tables.SHORT_NOTE in narrow[0].notes
    sixty = fit(model, 60)
    shown = {c.header for t in sixty for c in t.columns}
    assert shown == {c.header for c in model.columns}  # every column is in some part


@pytest.mark.parametrize("width", WIDTHS)
def test_heatmap_keeps_one_notation(outcome, width):
    for task in outcome.analysis.tasks:
        texts = [e.text for row in tables.heatmap_model(outcome, task).rows for e in row[1:-2]]
        sci = [t for t in texts if "e+" in t or "e-" in t]
        assert not sci or len(sci) == len([t for t in texts if t not in ("", "✗")])


# ---------------------------------------------------------------- the model, by hand
def model_of(widths: list[int], keys: int = 1) -> TableModel:
    columns = tuple(Column(f"c{i}", "right", wrap=False, key=i < keys) for i in range(len(widths)))
    row = tuple(Entry("x" * w) for w in widths)
    return TableModel("t", columns, (row,))


def test_rules_widths_match_rich():
    # boxed "┃ a ┃ b ┃": 3 a column + 1; open: 2 spaces between columns; tight: 1
    for rules in ("boxed", "open", "tight"):
        model = TableModel(
            "", model_of([5, 7, 3]).columns, model_of([5, 7, 3]).rows, rules=(rules,)
        )
        (shown,) = fit(model, 200)
        lines = render(tables.to_rich(shown), 200).splitlines()[1:]
        assert max(cell_len(x.rstrip()) for x in lines) == 15 + rules_width(rules, 3)


def test_split_repeats_the_keys_and_packs_as_few_parts_as_fit():
    # keys 10 wide, 6 columns of 10: at 50 columns, tight rules (1 between columns) hold the key
    # and 3 columns (10 + 30 + 3 = 43; 4 would need 54): 2 parts of 3
    model = model_of([10] * 7)
    parts = fit(model, 50)
    assert [len(p.columns) for p in parts] == [4, 4]
    assert all(p.columns[0].header == "c0" for p in parts)
    assert parts[0].title == "t (columns c1 to c3)" and parts[1].title == "t (columns c4 to c6)"


def test_prose_wraps_at_words_never_inside_one():
    text = "a long description with words of different lengths"
    model = TableModel(
        "t", (Column("name", key=True, wrap=False), Column("about")), ((Entry("n"), Entry(text)),)
    )
    (shown,) = fit(model, 30)
    out = render(tables.to_rich(shown), 30)
    assert_fits(out, 30)
    words = " ".join(out.split()).split()
    for w in text.split():
        assert w in words  # no word cut over two lines


# ---------------------------------------------------------------- the other commands
runner = CliRunner()


def cli(width: int, *args: str):
    res = runner.invoke(app, list(args), env={"COLUMNS": str(width)}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_other_commands_fit(outcome, width, tmp_path: Path):
    folder = str(outcome.out_dir)
    config = str(Path(folder) / "config.yaml")
    outputs = {
        "validate": cli(width, "validate", config),
        "list": cli(width, "list"),
        "schedule": cli(width, "schedule", "onecycle", "--steps", "30", "--lr", "0.3"),
        "compare": cli(width, "compare", folder, folder),
        "report": cli(width, "report", folder, "--out", str(tmp_path / "r")),
    }
    checks = check_sweep(outcome, "wide.yaml", None, None)
    outputs["batch"] = render(rich_table(batch_model([checks])), width)
    for name, text in outputs.items():
        assert_fits(text, width, name)
    assert "momentum" in outputs["list"] and "lrbench batch: 1 config" in outputs["batch"]


@pytest.mark.parametrize("width", WIDTHS)
def test_find_lr_fits(width, tmp_path: Path):
    text = cli(width, "find-lr", "--dataset", "iris", "--num-iter", "40", "--seeds", "2",
               "--out", str(tmp_path), "--quiet")  # fmt: skip
    assert_fits(text, width)
    assert "knee *" in text  # the default find-lr task trains Adam: auto -> knee


# ---------------------------------------------------------------- numbers, by hand
@pytest.mark.parametrize(
    ("mean", "half", "style", "text"),
    [
        (0.0853, 0.00067, "fixed", "0.0853±0.0007"),  # 3 significant: 4 decimals for both
        (42.04, 78.1, "fixed", "42.0±78.1"),  # was "42±8e+01": one notation, same precision
        (478.2, 456.0, "fixed", "478±456"),
        (0.292, 0.0002, "fixed", "0.292±0.000"),  # a spread below the last digit shows as 0
        (1.234e-5, 4.5e-6, "sci", "(1.23±0.45)e-05"),  # both over the mean's power of ten
        (9.996e-5, None, "sci", "1.00e-04"),  # rounding up to the next power
        (2.5, None, "fixed", "2.50"),
        (0.0, 0.1, "fixed", "0.00±0.10"),
    ],
)
def test_plus_minus_by_hand(mean, half, style, text):
    assert tables.plus_minus(mean, half, 3, style) == text


def test_one_notation_per_table():
    assert tables.notation([0.5, 478.0, 0.0012]) == "fixed"
    assert tables.notation([0.5, 1e-5]) == "sci"  # one small mean turns the whole table
    assert tables.notation([2e6, 1.0]) == "sci"
    assert tables.notation([float("nan"), 0.0, 3.0]) == "fixed"  # missing and zero say nothing


def test_fitting_keeps_every_row_and_cell():
    # a grouped, split table still holds each row's every cell, once
    columns = (Column("g", group=True), Column("k", key=True, wrap=False),
               *(Column(f"c{i}", "right", wrap=False) for i in range(6)))  # fmt: skip
    rows = tuple(
        (Entry(g), Entry(f"r{g}{j}"), *(Entry(f"{g}{j}.{i}" * 3) for i in range(6)))
        for g in "ab"
        for j in range(3)
    )
    model = TableModel("t", columns, rows)
    for width in (200, 80, 40):
        shown = fit(model, width)
        cells = [e.text for t in shown for row in t.rows for c, e in zip(t.columns, row) if c.header.startswith("c")]  # fmt: skip
        assert sorted(cells) == sorted(e.text for row in rows for e in row[2:])
        assert all(t.width() <= width for t in shown)


def test_stdout_width_off_a_terminal(monkeypatch: pytest.MonkeyPatch):
    from lrbench.cli.common import PIPE_WIDTH, stdout

    monkeypatch.delenv("COLUMNS", raising=False)
    assert stdout().width == PIPE_WIDTH == 200  # a pipe or a CI log
    monkeypatch.setenv("COLUMNS", "77")
    assert stdout().width == 77
