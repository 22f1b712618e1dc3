"""``lrbench find-lr`` end to end through the Typer app (typer.testing.CliRunner, which keeps
stdout and stderr apart).

Expected columns and keys come from the command's documented output (reference/lr-finder.md
§8 and the README section); expected numbers from hand computation or from PyYAML's reading of
the printed command. No expected number comes from running lrbench itself.
"""

from __future__ import annotations

import csv
import json
import shlex
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from lrbench.cli.find_lr import TaskFlags, build_config
from lrbench.cli.main import app
from lrbench.config import load_config
from lrbench.errors import ConfigError
from lrbench.report.findlr import text_chart

CURVE_COLUMNS = [
    "task", "optimizer", "seed", "step", "lr", "loss_probe_post", "loss_batch_pre",
    "loss_ema", "loss_smooth", "diverged",
]  # fmt: skip
SUGGESTION_COLUMNS = [
    "task", "optimizer", "method", "kind", "seed", "lr", "base_lr", "step", "lower_bound_only",
    "recommended", "min", "max", "sd_log10", "unstable", "n", "reason",
]  # fmt: skip
FAST = ["--num-iter", "40", "--seeds", "2", "--skip-start", "5", "--no-plot", "-q"]

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["find-lr", *args])


def strict(name):
    raise AssertionError(f"{name} is not JSON")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_no_arguments_runs_the_default_task(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke()
    assert result.exit_code == 0, result.output
    out = tmp_path / "results" / "find-lr" / "digits-mlp-32-adam"
    for name in ("config.yaml", "curve.csv", "suggestions.csv", "summary.json", "plot.svg",
                 "report.html", "report.md"):  # fmt: skip
        assert (out / name).is_file(), name
    assert ET.parse(out / "plot.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert "digits/mlp[32] / adam" in result.stdout
    assert "knee *" in result.stdout  # --suggest auto with Adam: knee, marked as recommended
    assert "next: lrbench sweep" in result.stdout
    assert "summary.json, plot.svg, report.html, report.md)" in result.stdout  # the files line
    rows = read_csv(out / "curve.csv")
    assert list(rows[0]) == CURVE_COLUMNS
    assert len(rows) == 5 * 100  # 5 seeds x 100 steps (the engine stops only on NaN/inf)
    # lr column: the exponential ramp 1e-6 -> 10, both ends exact.
    assert float(rows[0]["lr"]) == 1e-6 and float(rows[99]["lr"]) == 10.0
    summary = json.loads((out / "summary.json").read_text())
    res = summary["results"][0]
    assert (res["model"], res["optimizer"], res["batch_size"]) == ("mlp", "adam", 32)
    assert res["stability_bound_2_over_L"] is None  # no global L for an MLP
    assert res["recommended"]["method"] == "knee"  # --suggest auto, Adam
    assert res["recommended"]["lr"] == res["methods"]["knee"]["median"]


def test_config_run_tests_tasks_times_optimizers(tmp_path):
    cfg = tmp_path / "study.yaml"
    cfg.write_text(
        "name: study\nseeds: 3\n"
        "tasks: [{dataset: iris, model: logreg}, {dataset: wine, model: logreg}]\n"
        "optimizers: [sgd, momentum]\nschedules: [cosine]\nlr: [0.1]\n"
        "train: {epochs: 3, batch_size: 16, dtype: float32}\n"
    )
    out = tmp_path / "o"
    result = invoke(str(cfg), "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    pairs = [(r["task"], r["optimizer"]) for r in summary["results"]]
    assert pairs == [
        ("iris/logreg", "sgd"),
        ("iris/logreg", "momentum"),
        ("wine/logreg", "sgd"),
        ("wine/logreg", "momentum"),
    ]
    for r in summary["results"]:
        assert (r["batch_size"], r["dtype"], r["n_seeds"]) == (16, "float32", 2)
        assert r["stability_bound_2_over_L"] > 0  # logreg: 2/L is shown
    rows = read_csv(out / "curve.csv")
    assert len(rows) == 4 * 2 * 40
    sugg = read_csv(out / "suggestions.csv")
    assert list(sugg[0]) == SUGGESTION_COLUMNS
    # per pair (4) and method (5): 2 seed rows, 1 mean-curve row, 1 aggregate row
    assert len(sugg) == 4 * 5 * (2 + 1 + 1)
    assert {r["kind"] for r in sugg} == {"seed", "mean_curve", "median"}
    # The suggested sweep reuses the config file as given (flags did not change it).
    assert summary["sweep_command"].startswith(f"lrbench sweep {cfg} --set 'lr=[")


def test_format_json_prints_only_the_summary(tmp_path):
    out = tmp_path / "o"
    result = invoke("--format", "json", "--out", str(out), *FAST[:-1])  # not quiet
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout, parse_constant=strict)  # nothing else on stdout
    assert data == json.loads((out / "summary.json").read_text())
    assert data["settings"]["num_iter"] == 40 and data["settings"]["seeds"] == [0, 1]
    assert "find-lr" in result.stderr  # the note went to stderr


def test_same_command_gives_identical_curve_bytes(tmp_path):
    args = ["--dataset", "iris", "--model", "mlp", "--hidden", "8", *FAST]
    a = invoke(*args, "--out", str(tmp_path / "a"))
    b = invoke(*args, "--out", str(tmp_path / "b"))
    assert a.exit_code == b.exit_code == 0
    assert (tmp_path / "a" / "curve.csv").read_bytes() == (
        tmp_path / "b" / "curve.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--start-lr", "0"], "--start-lr"),
        (["--num-iter", "5"], "--num-iter"),
        (["--optimizer", "adma"], "--optimizer"),
        (["--dataset", "digit"], "--dataset"),
        (["--mode", "log"], "--mode"),
        (["--suggest", "slide"], "--suggest"),
        (["--batch-size", "0"], "--batch-size"),
        (["--hidden", "32", "--model", "logreg"], "--hidden"),
        (["--format", "yaml"], "--format"),
        (["--smooth-beta", "1"], "--smooth-beta"),
        (["--smooth-window", "4"], "--smooth-window"),
        (["--loss-floor", "nan"], "--loss-floor"),
        (["--end-lr", "1e-7"], "--end-lr"),
        (["--skip-start", "50", "--num-iter", "60"], "--num-iter"),
        (["--set", "train.dtype=float16"], "train.dtype"),
    ],
)
def test_bad_values_exit_2_with_one_line(tmp_path, args, flag):
    result = invoke(*args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}"), result.stderr
    assert not (tmp_path / "o").exists()


def test_flags_override_the_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tasks: [{dataset: digits, model: mlp, hidden: [16]}]\noptimizers: [adam]\n")
    # --dataset replaces the tasks; a regression dataset gets the linear model
    c = build_config(cfg, (), TaskFlags(dataset="regression", batch_size="full"))
    assert [(t.dataset, t.model) for t in c.tasks] == [("regression", "linear")]
    assert c.train["batch_size"] is None
    # --hidden alone changes every task; --optimizer replaces the list
    c = build_config(cfg, (), TaskFlags(hidden="8,4", optimizers=("sgd", "adamw")))
    assert dict(c.tasks[0].model_params)["hidden"] == (8, 4)
    assert [o for o, _ in c.optimizers] == ["sgd", "adamw"]
    # --set acts on the file first (as in lrbench sweep)
    c = build_config(cfg, ["train.batch_size=8"], TaskFlags())
    assert c.train["batch_size"] == 8 and c.name == "c"
    with pytest.raises(ConfigError):
        build_config(cfg, (), TaskFlags(batch_size="-3"))


def test_printed_sweep_command_runs_as_a_config(tmp_path):
    out = tmp_path / "o"
    result = invoke("--dataset", "iris", "--model", "logreg", "--out", str(out), *FAST)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("next: "))
    argv = shlex.split(line[len("next: ") :])
    assert argv[:3] == ["lrbench", "sweep", str(out / "config.yaml")]  # flags: a written config
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    cfg = load_config(argv[2], sets)
    rec = json.loads((out / "summary.json").read_text())["results"][0]["recommended"]["lr"]
    expected = [float(f"{v:.3g}") for v in (rec / 3, rec, 3 * rec)]
    assert list(cfg.lrs) == pytest.approx(expected, rel=1e-12)
    assert [(t.dataset, t.model) for t in cfg.tasks] == [("iris", "logreg")]


def test_text_chart_places_points_and_marks():
    # x: log10 lr over 1e-3..1e1 on 41 columns (10 per decade); y from 0 (bottom) to 1.
    lrs = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    y = [1.0, 0.75, 0.5, 0.25, 0.0]
    lines = text_chart(lrs, y, marks=[(1e-1, "|", "rec")], width=41, height=5, ascii_only=True)
    assert len(lines) == 5 + 3
    body = [line[11:] for line in lines[:5]]
    # view_limits: bottom 0 - 0.05, top 1 + 0.1 -> rows of the five points: 0, 1, 2, 3, 4
    for i, col in enumerate((0, 10, 20, 30, 40)):
        assert body[i][col] == "*", (i, body[i])
    assert all(row[20] in "|*" for row in body)
    assert "| rec" in lines[-1]
    assert lines[-2].split() == ["1e-3", "1e-2", "1e-1", "1e0", "1e1"]
    assert text_chart(lrs, [float("nan")] * 5) == []
