"""``lrbench report`` and the pages it writes (report.html, report.md), on a finished sweep, a
partly finished one, a find-lr folder and a folder that is neither; and the sweep, batch and
find-lr commands writing their own reports.

What the pages must hold comes from the issue and the README's "Reports" section: per task the
heatmap with the terminal's marks and colours, the best configurations, every figure, the status
definitions, the config and the manifest; a partial sweep says how many runs are missing.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app

ROOT = Path(__file__).parent.parent
CI = str(ROOT / "configs" / "ci.yaml")
runner = CliRunner()


def run(*args: str):
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small CI grid (2 tasks x 2 optimizers x 2 schedules x lrs 0.1, 10 x 2 seeds = 32
    runs), swept with its figures and reports."""
    out = tmp_path_factory.mktemp("rep") / "ci"
    res = run("sweep", CI, "--out", str(out), "--quiet", "--jobs", "1",
              "--set", "lr=[0.1, 10.0]", "--set", "train.epochs=2")  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


class Page(HTMLParser):
    """What a test needs from an HTML page: tags, ids, classes of cells, text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.cell_classes: list[str] = []
        self.attrs_seen: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        d = dict(attrs)
        if "id" in d:
            self.ids.append(d["id"])
        if tag == "td":
            self.cell_classes.append(d.get("class") or "")
        self.attrs_seen += [(k, v or "") for k, v in attrs]

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def assert_self_contained(page: Page) -> None:
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    for k, v in page.attrs_seen:
        assert k not in ("src", "href") or v.startswith("#"), (k, v)  # only links within it
        if v.startswith(("http:", "https:")):
            assert v == "http://www.w3.org/2000/svg", v  # the SVG namespace, not a fetch
    assert len(page.ids) == len(set(page.ids))  # inlined figures keep their ids apart


def test_sweep_writes_both_reports_and_report_rewrites_them(finished: Path, tmp_path: Path):
    for name in ("report.html", "report.md"):
        assert (finished / name).is_file(), name
    res = run("report", str(finished), "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "iris/logreg: final_val_loss" in out and "best configurations" in out
    assert f"32 of 32 runs in {finished}/" in out
    assert "missing" not in out
    # from the folder alone: the same page the sweep wrote (the figures are drawn again)
    assert (tmp_path / "report.html").read_text() == (finished / "report.html").read_text()
    assert (tmp_path / "report.md").read_text() == (finished / "report.md").read_text()
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        p.name for p in (finished / "plots").iterdir()
    )


def test_the_html_page_holds_every_part(finished: Path):
    text = (finished / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert_self_contained(page)
    words = page.all_text
    figures = sorted(p.name for p in (finished / "plots").iterdir())
    # sensitivity, curves, loss and gap figures of each of 2 tasks, and the schedules figure
    assert text.count("<svg") == len(figures) == 9
    for name in figures:
        assert f"(plots/{name})" in words  # every figure, captioned with its file
    for task in ("iris/logreg", "moons/mlp[16]"):
        assert f"{task}: final_val_loss (mean ± 95% CI over 2 seeds)" in words
    assert "num best" in page.cell_classes and any("bad" in c for c in page.cell_classes)
    assert "✗" in words and "best configurations by final_val_loss" in words
    for status in ("ok", "slow", "unstable", "diverged"):
        assert re.search(rf"\b{status}\b", words)
    assert "exceeded divergence_factor" in words  # the status definitions
    assert "name: ci" in text  # the config
    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["numpy"] in words and manifest["machine"]["platform"] in words
    assert "lrbench sweep" in words or manifest["command"][0] in words  # the command
    assert "gradient-descent stability bound 2/L = " in words  # the logreg task's bound


def test_the_markdown_page_links_every_figure_and_renders_tables(finished: Path):
    md = (finished / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\((plots/[^)]+)\)", md)
    assert sorted(links) == sorted(f"plots/{p.name}" for p in (finished / "plots").iterdir())
    assert all((finished / link).is_file() for link in links)
    assert "| optimizer / schedule | 0.1 | 10 | best lr | good band |" in md
    assert re.search(r"\| \*\*[0-9.]+±[0-9.]+\*\* \|", md)  # the best cell of a row, bold
    assert "## run statuses" in md and "```yaml\nname: ci" in md
    assert "| numpy |" in md


def test_report_of_a_partly_finished_sweep_says_what_is_missing(finished: Path, tmp_path: Path):
    part = tmp_path / "part"
    shutil.copytree(finished, part)
    (part / "manifest.json").unlink()  # a sweep stopped before its end writes none
    for name in ("report.html", "report.md"):
        (part / name).unlink()
    runs = sorted((part / "runs").glob("*.json"))
    for p in runs[:5]:
        p.unlink()
    res = run("report", str(part))
    assert res.exit_code == 0, res.output
    assert "27 of 32 runs" in res.stdout
    assert "5 of 32 runs are missing: the sweep is not finished" in " ".join(res.stdout.split())
    html = Page((part / "report.html").read_text(encoding="utf-8")).all_text
    assert "5 of 32 runs are missing" in html and "No manifest.json yet" in html
    assert "5 of 32 runs are missing" in (part / "report.md").read_text(encoding="utf-8")


def test_report_of_a_sweep_with_no_finished_run(finished: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(finished / "config.yaml", empty / "config.yaml")
    (empty / "runs").mkdir()
    res = run("report", str(empty))
    assert res.exit_code == 0, res.output
    assert "0 of 32 runs" in res.stdout and "nothing finished yet" in res.stdout
    assert "32 of 32 runs are missing" in (empty / "report.html").read_text(encoding="utf-8")


def test_report_of_a_find_lr_folder(tmp_path: Path):
    out = tmp_path / "fl"
    res = run("find-lr", "--dataset", "iris", "--num-iter", "40", "--seeds", "2",
              "--out", str(out), "--quiet")  # fmt: skip
    assert res.exit_code == 0, res.output
    written = (out / "report.html").read_text(encoding="utf-8")
    page = Page(written)
    assert_self_contained(page)
    words = page.all_text
    assert "iris/mlp[32] / adam: 2 seeds, probe curve" in words
    assert "knee *" in words and "recommended lr" in words and "lrbench sweep" in words
    assert written.count("<svg") == 1
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "![" in md and "(plot.svg)" in md and "| method | median |" in md
    again = tmp_path / "again"
    res = run("report", str(out), "--out", str(again))
    assert res.exit_code == 0, res.output
    assert "knee *" in res.stdout
    assert (again / "report.html").read_text(encoding="utf-8") == written
    (out / "plot.svg").unlink()  # --no-plot: the page says there is no figure
    run("report", str(out))
    assert "No plot.svg" in (out / "report.html").read_text(encoding="utf-8")


def test_report_of_something_else_is_one_line_exit_2(tmp_path: Path):
    res = run("report", str(tmp_path))
    assert res.exit_code == 2
    assert "not a results folder" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = run("report", str(tmp_path / "nowhere"))
    assert res.exit_code == 2 and "no such results folder" in res.stderr


def test_no_plots_writes_no_report(tmp_path: Path):
    out = tmp_path / "np"
    res = run("sweep", CI, "--out", str(out), "--quiet", "--jobs", "1", "--no-plots",
              "--set", "lr=[0.1]", "--set", "train.epochs=1", "--set", "seeds=1")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert not (out / "report.html").exists() and not (out / "report.md").exists()


def test_batch_writes_a_report_per_config(tmp_path: Path):
    configs = tmp_path / "configs"
    configs.mkdir()
    for name in ("a", "b"):
        (configs / f"{name}.yaml").write_text(
            f"name: {name}\ntasks: [{{dataset: iris, model: logreg}}]\nlr: [0.1]\n"
            "train: {epochs: 1}\n"
        )
    res = run("batch", str(configs), "--out-root", str(tmp_path / "res"), "--quiet", "-j", "1")
    assert res.exit_code == 0, res.output
    for name in ("a", "b"):
        assert (tmp_path / "res" / name / "report.html").is_file()
        assert (tmp_path / "res" / name / "report.md").is_file()


def test_a_sweep_with_a_target_and_two_tasks_shows_the_performance_profile(tmp_path: Path):
    cfg = tmp_path / "two.yaml"
    cfg.write_text(
        "name: two\nseeds: 1\n"
        "tasks: [{dataset: iris, model: logreg}, {dataset: wine, model: logreg}]\n"
        "train: {epochs: 6, batch_size: 32}\n"
        "lr: [0.01, 0.1, 1.0]\noptimizers: [sgd, adam]\nschedules: [constant]\n"
        "analysis: {target: 0.3}\n"
    )
    out = tmp_path / "out"
    res = run("sweep", str(cfg), "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    assert "performance profile across tasks: steps to val loss 0.3" in res.stdout
    res = run("sweep", str(cfg), "--out", str(out), "--quiet", "--format", "json")
    profile = json.loads(res.stdout)["profile"]
    assert [p["row"] for p in profile] in (
        ["sgd / constant", "adam / constant"], ["adam / constant", "sgd / constant"])  # fmt: skip
    # the definition, from runs.csv: per task the fastest row at its best lr has ratio 1
    with (out / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    for task in ("iris/logreg", "wine/logreg"):
        best = {}  # a diverged run counts as a miss
        reached = (r for r in runs if r["steps_to_target"] and r["status"] != "diverged")
        for r in (r for r in reached if r["task"] == task):
            row = f"{r['optimizer']} / {r['schedule']}"
            best[row] = min(best.get(row, math.inf), float(r["steps_to_target"]))
        for p in profile:
            expected = best[p["row"]] / min(best.values()) if p["row"] in best else None
            assert p["ratios"][task] == (pytest.approx(expected) if expected else None)
    assert any(r != 1.0 for p in profile for r in p["ratios"].values())  # not a tie everywhere
    for p in profile:  # score = mean over tasks of max(0, 4 - ratio) / 3
        gains = [max(0.0, 4 - r) if r is not None else 0.0 for r in p["ratios"].values()]
        assert p["score"] == pytest.approx(sum(gains) / (2 * 3))
    assert "## performance profile across tasks" in (out / "report.md").read_text()
    assert 'id="profile"' in (out / "report.html").read_text(encoding="utf-8")
    res = run("report", str(out), "--out", str(tmp_path / "again"))  # from the folder alone
    assert res.exit_code == 0, res.output
    assert "performance profile across tasks: steps to val loss 0.3" in res.stdout
