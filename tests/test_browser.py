"""``report.html`` opened from disk in a real browser (headless Chromium, driven through the
DevTools protocol: ``tests/headless_chromium.py``).

The page must load without an exception, a console error or an error log entry; request nothing
but itself (self-contained); show every figure with a non-zero rendered size; colour the best
cell of each heatmap row as the terminal does (black on green); and paint pixels that are not
blank. Skipped, with the reason, only where Chromium is not installed (``.ci/run`` installs the
Debian package ``chromium`` when it is missing). Set ``LRBENCH_SCREENSHOTS=DIR`` to keep the
screenshots for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from headless_chromium import Chromium, find_chromium, read_png
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.report.html import CELL_CSS

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
)
pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives Chromium")

CI = str(Path(__file__).parent.parent / "configs" / "ci.yaml")
SIZES = (
    "JSON.stringify([...document.querySelectorAll('figure svg')].map(s => {"
    "const r = s.getBoundingClientRect(); return [r.width, r.height]; }))"
)
BEST_BG = "getComputedStyle(document.querySelector('td.best')).backgroundColor"


def keep(data: bytes, name: str, tmp_path: Path) -> Path:
    """Write a screenshot next to the test (and to $LRBENCH_SCREENSHOTS when set)."""
    path = tmp_path / name
    path.write_bytes(data)
    where = os.environ.get("LRBENCH_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(where) / name)
    return path


def not_blank(png: bytes) -> np.ndarray:
    """The decoded screenshot, after checking that it is not one flat colour: more than 2 % of
    its pixels differ from white, with at least 8 distinct colours."""
    img = read_png(png)[..., :3]
    assert img.shape[0] > 10 and img.shape[1] > 10
    inked = np.any(img < 245, axis=2).mean()
    assert inked > 0.02, f"only {inked:.1%} of the pixels are not white"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 8
    return img


def rgb(css: str) -> tuple[int, int, int]:
    hex_ = css.split("background:#")[1][:6]
    return tuple(int(hex_[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def open_report(path: Path) -> Chromium:
    browser = Chromium(CHROMIUM)  # type: ignore[arg-type]
    browser.open(path.resolve().as_uri())
    return browser


def test_sweep_report_loads_cleanly_with_every_figure_drawn(tmp_path: Path):
    out = tmp_path / "ci"
    res = CliRunner().invoke(app, ["sweep", CI, "--out", str(out), "--quiet", "--jobs", "1",
                                   "--set", "lr=[0.1, 10.0]", "--set", "train.epochs=2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    page = out / "report.html"
    with open_report(page) as browser:
        sizes = json.loads(browser.evaluate(SIZES))
        n_figures = len(list((out / "plots").iterdir()))
        # sensitivity, curves, loss and gap figures of each of 2 tasks, and the schedules figure
        assert len(sizes) == n_figures == 9
        assert all(w > 100 and h > 100 for w, h in sizes), sizes
        assert browser.evaluate("document.querySelectorAll('table').length") >= 4
        best = browser.evaluate(BEST_BG)
        assert best == "rgb({}, {}, {})".format(*rgb(CELL_CSS["best"]))
        top = keep(browser.screenshot(0, 900, scale=0.5), "sweep-top.png", tmp_path)
        img = not_blank(top.read_bytes())
        green = np.array(rgb(CELL_CSS["best"]))
        assert (np.abs(img.astype(int) - green).sum(axis=2) < 30).any()  # a best cell shows
        fig_top = browser.evaluate(
            "document.querySelector('figure').getBoundingClientRect().top + window.scrollY"
        )
        shot = browser.screenshot(fig_top, 450, scale=0.5)
        not_blank(keep(shot, "sweep-figure.png", tmp_path).read_bytes())
        if os.environ.get("LRBENCH_SCREENSHOTS"):
            keep(browser.screenshot(), "sweep-full.png", tmp_path)
        assert browser.errors() == []
        assert browser.requests() == [page.resolve().as_uri()]  # nothing fetched


def test_find_lr_report_loads_cleanly(tmp_path: Path):
    out = tmp_path / "fl"
    res = CliRunner().invoke(app, ["find-lr", "--dataset", "iris", "--num-iter", "40",
                                   "--seeds", "2", "--out", str(out), "--quiet"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with open_report(out / "report.html") as browser:
        sizes = json.loads(browser.evaluate(SIZES))
        assert len(sizes) == 1 and all(w > 100 and h > 100 for w, h in sizes)
        not_blank(
            keep(browser.screenshot(0, 900, scale=0.5), "findlr-top.png", tmp_path).read_bytes()
        )
        assert browser.errors() == []
        assert browser.requests() == [(out / "report.html").resolve().as_uri()]
