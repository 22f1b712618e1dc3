"""The SVG chart writer (lrbench/report/svgchart.py, svgaxes.py, svglayers.py) and the figures
built on it: the sweep's (lrbench/report/plots.py) and find-lr's (lrbench/report/findlr.py)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import validate
from lrbench.finder.run import run as run_finder
from lrbench.finder.settings import resolve
from lrbench.report.figures import sweep_plots
from lrbench.report.findlr import figure as findlr_figure
from lrbench.report.svgaxes import Axis, padded_limits, tick_label, ticks
from lrbench.report.svgchart import PALETTE, Chart, panels

NS = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).parent.parent
CI = str(ROOT / "configs" / "ci.yaml")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def points(poly: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in poly.get("points", "").split()]


def frame(root: ET.Element) -> tuple[float, float, float, float]:
    """The plot area as (left, top, right, bottom) pixels."""
    (f,) = by_class(root, "frame")
    x, y, w, h = (float(f.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def legend_labels(root: ET.Element) -> list[str]:
    return [t.text for g in by_class(root, "legend") for t in g.iter(f"{NS}text")]


# -- pixel mapping: Axis.to_px ---------------------------------------------------------------


def test_log_axis_maps_decades_evenly():
    # log10 spans -3..0 over 0..300 px: each decade is 100 px, so 1e-2 lands at 100 px
    px = Axis(1e-3, 1.0, log=True).to_px([1e-3, 1e-2, 1e-1, 1.0], 0, 300)
    np.testing.assert_allclose(px, [0, 100, 200, 300])


def test_linear_axis_maps_ends_to_pixel_ends_and_may_run_backwards():
    np.testing.assert_allclose(Axis(2, 4).to_px([2, 3, 4], 10, 110), [10, 60, 110])
    # a y axis: data lo at the bottom pixel (400), hi at the top (0)
    np.testing.assert_allclose(Axis(0, 1).to_px([0, 0.25, 1], 400, 0), [400, 300, 0])


def test_undrawable_values_map_to_nan_and_degenerate_axis_to_the_middle():
    px = Axis(1e-3, 1.0, log=True).to_px([np.nan, np.inf, -np.inf, 0.0, -1.0, 0.1], 0, 300)
    assert np.isnan(px[:5]).all()
    assert px[5] == pytest.approx(200)
    np.testing.assert_allclose(Axis(5, 5).to_px([5, 7], 0, 100), [50, 50])


# -- ticks and limits -----------------------------------------------------------------------


def test_log_ticks_are_decades_with_short_labels():
    assert ticks(1e-3, 1.0, log=True) == [(0.001, "0.001"), (0.01, "0.01"), (0.1, "0.1"), (1.0, "1")]  # fmt: skip
    labels = [s for _, s in ticks(1.0, 1e6, log=True)]
    assert labels == ["1", "10", "100", "1000", "10000", "1e+05", "1e+06"]
    assert [tick_label(v) for v in (1e-5, 0.25, 120000.0, 1000.15, -0.5, 0.0)] == [
        "1e-05", "0.25", "1.2e+05", "1000.15", "-0.5", "0"]  # fmt: skip


def test_log_ticks_add_2_and_5_under_two_decades_and_thin_wide_ranges():
    assert [v for v, _ in ticks(0.04, 1.1, log=True)] == [0.05, 0.1, 0.2, 0.5, 1.0]
    wide = [v for v, _ in ticks(1e-10, 1e10, log=True)]
    assert 2 <= len(wide) <= 8
    assert all(math.log10(v) == round(math.log10(v)) for v in wide)  # powers of ten only
    narrow = ticks(0.11, 0.14, log=True)  # no 1-2-5 decade value inside: linear steps
    assert len(narrow) >= 2 and all(0.11 <= v <= 0.14 for v, _ in narrow)


def test_linear_ticks_use_1_2_5_steps():
    assert ticks(0, 0.93) == [(0.0, "0"), (0.2, "0.2"), (0.4, "0.4"), (0.6, "0.6"), (0.8, "0.8")]
    assert [v for v, _ in ticks(-1, 1)] == [-1, -0.5, 0, 0.5, 1]
    for lo, hi in [(0, 1), (0, 7), (3.2, 17.9), (-250, 1e4), (0.0012, 0.0019), (1e3, 1e3 + 0.4)]:
        values = [v for v, _ in ticks(lo, hi)]
        assert 4 <= len(values) <= 8, (lo, hi, values)
        step = values[1] - values[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6, (lo, hi, step)
        assert np.allclose(np.diff(values), step)
        assert lo - 1e-9 <= values[0] and values[-1] <= hi + 1e-9


def test_degenerate_and_bad_tick_ranges():
    assert ticks(3, 3) == [(3, "3")]
    assert ticks(5, 1) == ticks(1, 5)  # ends swapped
    assert ticks(math.nan, 1) == []
    with pytest.raises(ValueError, match="positive"):
        ticks(0, 1, log=True)


def test_padded_limits():
    assert padded_limits([0, 10]) == pytest.approx((-0.5, 10.5))  # 5 % of the range each side
    lo, hi = padded_limits([1e-3, 1.0], log=True)  # 5 % of 3 decades: 0.15 decade each side
    assert (math.log10(lo), math.log10(hi)) == pytest.approx((-3.15, 0.15))
    assert padded_limits([2, 2, np.nan]) == pytest.approx((1.8, 2.2))
    assert padded_limits([0.0]) == (-1.0, 1.0)
    assert padded_limits([0.1], log=True) == pytest.approx((0.1 / 10**0.5, 0.1 * 10**0.5))
    assert padded_limits([-1, 0, np.inf], log=True) == (1.0, 10.0)  # nothing drawable
    assert padded_limits([]) == (0.0, 1.0)


# -- the SVG document ---------------------------------------------------------------------------


def full_chart() -> Chart:
    c = Chart(title="t", xlabel="learning rate", ylabel="loss", xlog=True, ylog=True)
    color = c.line([1e-3, 1e-2, 1e-1, 1], [1.0, 0.5, 0.3, 2.0], label="sgd / constant")
    c.band([1e-3, 1e-2, 1e-1, 1], [0.8, 0.4, 0.2, 1.5], [1.2, 0.6, 0.4, 2.5], color)
    c.marks([3.0], [4.0], color, symbol="x")
    c.vline(0.5, label="2/L = 0.5")
    c.line([1e-3, 1], [0.2, 0.2], label="adam", dash=True, marker=False)
    return c


def test_svg_parses_with_size_viewbox_background_and_font():
    svg = full_chart().to_svg()
    root = parse(svg)
    w, h = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert w >= 720 and h == 460  # the legend adds width on the right
    assert root.get("font-family") == "sans-serif"
    bg = root.find(f"{NS}rect")
    assert bg.get("fill") == "white" and float(bg.get("width")) == w
    assert [t.text for t in by_class(root, "title")] == ["t"]
    assert by_class(root, "xlabel")[0].text == "learning rate"
    assert "rotate(-90)" in by_class(root, "ylabel")[0].get("transform")
    assert legend_labels(root) == ["sgd / constant", "2/L = 0.5", "adam"]
    assert len(by_class(root, "band")) == 1 and len(by_class(root, "vline")) == 1
    assert len(by_class(root, "marks")) == 1
    xt = [t.text for g in by_class(root, "xticklabels") for t in g]
    assert xt == ["0.001", "0.01", "0.1", "1"]
    # the grid has one line per major tick on each axis
    yt = [t.text for g in by_class(root, "yticklabels") for t in g]
    assert len(list(by_class(root, "grid")[0])) == len(xt) + len(yt)


def test_output_is_deterministic_and_compact():
    a, b = full_chart().to_svg(), full_chart().to_svg()
    assert a == b
    numbers = re.findall(r"-?\d+\.\d+", re.sub(r">[^<]*<", "><", a))  # attribute values only
    assert numbers and all(len(n.split(".")[1]) <= 2 for n in numbers)


def test_line_points_land_on_the_mapped_pixels():
    c = Chart()
    c.line([0, 5, 10], [0, 10, 5], label="a")
    root = parse(c.to_svg())
    left, top, right, bottom = frame(root)
    (poly,) = by_class(root, "line")
    # both axes are -0.5..10.5 (5 % padding); x grows rightwards, y upwards
    fx = lambda v: left + (v + 0.5) / 11 * (right - left)  # noqa: E731
    fy = lambda v: bottom - (v + 0.5) / 11 * (bottom - top)  # noqa: E731
    expected = [(fx(0), fy(0)), (fx(5), fy(10)), (fx(10), fy(5))]
    np.testing.assert_allclose(points(poly), expected, atol=0.006)  # 2-decimal rounding
    circles = [(float(e.get("cx")), float(e.get("cy"))) for e in by_class(root, "markers")[0]]
    np.testing.assert_allclose(circles, expected, atol=0.006)


@pytest.mark.parametrize(
    ("y", "ylog", "segments"),
    [
        ([1, 2, np.nan, 3, 4], False, [2, 2]),
        ([1, 2, np.inf, 3, 4, -np.inf, 5, 6], False, [2, 2, 2]),
        ([1, 2, 0.0, 3, 4, -1.0, 5], True, [2, 2]),  # the lone 5 draws no line, only its dot
        ([-1, -2, -3], True, []),
        ([np.nan] * 3, False, []),
    ],
)
def test_undrawable_points_break_lines_into_segments(y, ylog, segments):
    c = Chart(ylog=ylog)
    c.line(np.arange(1, len(y) + 1), y, label="s")
    root = parse(c.to_svg())
    assert [len(points(p)) for p in by_class(root, "line")] == segments
    dots = [e for g in by_class(root, "markers") for e in g]
    good = np.isfinite(y) & (np.array(y) > 0 if ylog else True)
    assert len(dots) == int(good.sum())
    assert legend_labels(root) == ["s"]  # a series with nothing to draw keeps its entry


def test_band_breaks_at_gaps_and_clips_non_positive_lower_edge_on_log_axis():
    c = Chart(ylog=True)
    c.band([1, 2, 3, 4, 5], [0.5, -1.0, 1, np.nan, 1], [2, 3, 4, 4, 3], "#123456")
    root = parse(c.to_svg())
    _, _, _, bottom = frame(root)
    polys = by_class(root, "band")
    assert [len(points(p)) for p in polys] == [6]  # x=1..3 (and back); x=5 alone draws nothing
    assert max(y for _, y in points(polys[0])) == pytest.approx(bottom, abs=0.006)


def test_degenerate_data_still_gives_a_valid_chart():
    for c in (Chart(), Chart(xlog=True, ylog=True)):  # no data at all
        root = parse(c.to_svg())
        assert by_class(root, "xticklabels")[0] and by_class(root, "yticklabels")[0]
    c = Chart(ylog=True)
    c.line([1.0], [0.125], label="one point")
    c.line([2.0, 3.0], [0.125, 0.125], label="flat")
    root = parse(c.to_svg())
    assert len(by_class(root, "line")) == 1
    assert [t.text for t in by_class(root, "yticklabels")[0]] == ["0.05", "0.1", "0.2"]


def test_text_is_escaped():
    text = 'a<b & "c"'
    c = Chart(title=text, xlabel=text, ylabel=text)
    c.line([1, 2], [1, 2], label=text)
    c.vline(1.5, label=text)
    svg = c.to_svg()
    assert 'a<b & "c"' not in svg
    assert "a&lt;b &amp; &quot;c&quot;" in svg
    root = parse(svg)
    assert by_class(root, "title")[0].text == text
    assert root.find(f"{NS}title").text == text
    assert legend_labels(root) == [text, text]


def test_line_colours_cycle_through_the_palette():
    c = Chart()
    colors = [c.line([0, 1], [0, 1]) for _ in range(11)]
    assert colors[:10] == list(PALETTE) and colors[10] == PALETTE[0]
    assert c.line([0, 1], [0, 1], color="#000000") == "#000000"
    assert c.line([0, 1], [0, 1]) == PALETTE[1]  # an explicit colour does not use one up


def test_save_writes_utf8(tmp_path: Path):
    c = Chart(title="µ ≤ 2/L")
    path = c.save(tmp_path / "c.svg")
    assert path.read_text(encoding="utf-8") == c.to_svg()


# -- the sweep figures -------------------------------------------------------------------------


def fake_outcome(metric: str, means: dict[float, float]) -> SimpleNamespace:
    """One task, one row of two seeds; a NaN mean is a cell whose seeds all diverged."""
    from lrbench.sweep.findings import Analysis, Cell, StatusCounts

    def cell(lr: float, m: float) -> Cell:
        dead = math.isnan(m)
        return Cell(
            row=("t",), task="t", optimizer="sgd", schedule="constant", row_label="sgd / constant",
            lr=lr, metric=metric, n_seeds=2, n_used=0 if dead else 2, n_finite=0 if dead else 2,
            n_diverged=2 if dead else 0, statuses=StatusCounts(diverged=2) if dead else StatusCounts(ok=2),
            status="diverged" if dead else "ok", partial_diverged=False, mean=m, std=m,
            ci95=math.nan if dead else 0.01, median=m, min=m, max=m, score=m,
        )  # fmt: skip

    cells = tuple(cell(lr, m) for lr, m in means.items())
    return SimpleNamespace(analysis=Analysis(metric, (), cells, ()), results=(), bounds={})


@pytest.mark.parametrize(
    ("metric", "means", "below"),
    [
        ("final_val_loss", {0.1: 0.5, 1.0: 0.2, 10.0: math.nan}, False),  # worst is highest
        ("final_val_accuracy", {0.1: 0.7, 1.0: 0.9, 10.0: math.nan}, True),  # worst is lowest
    ],
)
def test_diverged_cells_are_marked_past_the_worst_value(metric, means, below):
    figures = sweep_plots(fake_outcome(metric, means))
    assert [f.name for f in figures] == ["sensitivity-t.svg", "curves-t.svg"]
    root = parse(figures[0].svg)
    cys = [float(e.get("cy")) for e in by_class(root, "markers")[0]]
    (mark,) = by_class(root, "marks")
    y_mark = float(re.findall(r"[-\d.]+", mark.get("d"))[1]) + 4.5  # centre of the x
    assert (y_mark > max(cys)) if below else (y_mark < min(cys))  # pixel y grows downwards
    ylabel = by_class(root, "ylabel")[0].text
    assert ("higher is better" in ylabel) == below


@pytest.mark.parametrize("module", ["lrbench.report.plots", "lrbench.report.findlr"])
def test_figure_modules_do_not_import_matplotlib(module):
    code = f"import sys, {module}; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sweep_writes_every_svg_figure(tmp_path: Path):
    # the small CI grid of tests/test_cli.py::small, with plots
    out = tmp_path / "p"
    args = ["sweep", CI, "--out", str(out), "--quiet", "--jobs", "1",
            "--set", "lr=[0.1, 10.0]", "--set", "train.epochs=2"]  # fmt: skip
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (out / "plots").iterdir())
    assert names == ["curves-iris-logreg.svg", "curves-moons-mlp-16.svg",
                     "gap-iris-logreg.svg", "gap-moons-mlp-16.svg",
                     "loss-iris-logreg.svg", "loss-moons-mlp-16.svg", "schedules.svg",
                     "sensitivity-iris-logreg.svg", "sensitivity-moons-mlp-16.svg"]  # fmt: skip
    rows = ["sgd / constant", "sgd / step(milestones=[0.5])", "adam / constant",
            "adam / step(milestones=[0.5])"]  # fmt: skip
    for task, stem in (("iris/logreg", "iris-logreg"), ("moons/mlp[16]", "moons-mlp-16")):
        sens = parse((out / "plots" / f"sensitivity-{stem}.svg").read_text(encoding="utf-8"))
        assert by_class(sens, "title")[0].text == f"{task}: final_val_loss (x: all seeds diverged)"
        labels = legend_labels(sens)
        assert labels[:4] == rows
        assert any(s.startswith("2/L = ") for s in labels) == (task == "iris/logreg")
        curves = parse((out / "plots" / f"curves-{stem}.svg").read_text(encoding="utf-8"))
        assert by_class(curves, "title")[0].text == f"{task}: best learning rate of each row"
        for label in legend_labels(curves):
            assert label.split(" @ lr=")[0] in rows and label.split(" @ lr=")[1] in ("0.1", "10")
        assert by_class(curves, "line")


# -- fixed y limits and several panels ---------------------------------------------------------


def test_ylim_fixes_the_y_axis_and_clips_the_data_to_the_plot_area():
    c = Chart(ylim=(0.0, 1.0))
    c.line([0, 1, 2], [0.5, 0.8, 50.0], label="blows up")
    root = parse(c.to_svg())
    assert [t.text for t in by_class(root, "yticklabels")[0]] == [
        "0",
        "0.2",
        "0.4",
        "0.6",
        "0.8",
        "1",
    ]
    left, top, right, bottom = frame(root)
    (clip,) = root.iter(f"{NS}clipPath")
    rect = clip.find(f"{NS}rect")
    box = [float(rect.get(k)) for k in ("x", "y", "width", "height")]
    assert box == pytest.approx([left, top, right - left, bottom - top])
    (group,) = [g for g in root.iter(f"{NS}g") if g.get("clip-path")]
    assert group.get("clip-path") == f"url(#{clip.get('id')})"
    (poly,) = [e for e in group if e.get("class") == "line"]
    assert points(poly)[2][1] < top  # 50 is far above the top: drawn there, clipped by the viewer


def test_panels_place_each_chart_in_its_own_group_with_its_own_clip():
    charts = [Chart(title=f"p{i}", ylim=(0, 1)) for i in range(3)]
    for c in charts:
        c.line([0, 1], [0, 1])
    root = parse(panels(charts, columns=2))
    groups = [g for g in root if g.tag == f"{NS}g"]
    assert [g.get("transform") for g in groups] == [
        "translate(0,0)", "translate(720,0)", "translate(0,460)"]  # fmt: skip
    assert (root.get("width"), root.get("height")) == ("1440", "920")
    ids = [c.get("id") for c in root.iter(f"{NS}clipPath")]
    assert len(set(ids)) == 3
    assert [t.text for t in by_class(root, "title")] == ["p0", "p1", "p2"]


# -- the find-lr figure ------------------------------------------------------------------------


def iris_outcome(optimizers=("sgd",), seeds=3):
    config = validate(
        {"name": "f", "tasks": [{"dataset": "iris", "model": "logreg"}],
         "optimizers": list(optimizers), "train": {"batch_size": 16}}
    )  # fmt: skip
    return run_finder(config, resolve(num_iter=60, seeds=seeds, skip_start=5, end_lr=100.0))


def test_findlr_figure_draws_each_seed_the_mean_and_every_suggestion():
    outcome = iris_outcome()
    (pair,) = outcome.pairs
    root = parse(findlr_figure(outcome))
    lines = by_class(root, "line")
    seeds = [e for e in lines if e.get("stroke-opacity")]  # the faint ones
    assert len(seeds) == 3 and len(lines) == 3 + 1  # one polyline per seed, and the mean
    (mean,) = [e for e in lines if not e.get("stroke-opacity")]
    assert float(mean.get("stroke-width")) > float(seeds[0].get("stroke-width"))
    # a vertical line at every method's cross-seed median (range also at its base_lr), and 2/L
    medians = {m: a["median"] for m, a in pair.aggregates.items() if a["median"] is not None}
    assert medians  # this run suggests something
    expected = len(medians) + ("range" in medians) + (pair.bound is not None)
    assert pair.bound is not None  # logistic regression has one
    vlines = by_class(root, "vline")
    assert len(vlines) == expected
    solid = [v for v in vlines if not v.get("stroke-dasharray")]
    assert len(solid) == 1 + ("range" in medians and pair.method == "range")
    labels = legend_labels(root)
    assert labels[:2] == ["each of 3 seeds", "mean of 3 seeds, smoothed"]
    assert f"minimum (recommended) {medians['minimum']:.3g}" in labels
    assert labels[-1] == f"2/L = {pair.bound:.3g}"
    # the x axis is logarithmic: ticks at powers of ten across the ramp 1e-6 .. 100
    xt = [float(t.text) for g in by_class(root, "xticklabels") for t in g]
    assert all(math.log10(v) == round(math.log10(v)) for v in xt) and len(xt) >= 2
    assert by_class(root, "title")[0].text == "iris/logreg / sgd"


def test_findlr_figure_keeps_coordinates_short_when_the_loss_explodes():
    outcome = iris_outcome(optimizers=("adam", "sgd"), seeds=2)
    pair = outcome.pairs[0]
    pair.seeds[0].probe_post[30] = 1e111  # a blow-up before the stop: far above the view
    svg = findlr_figure(outcome)
    root = parse(svg)
    assert len([g for g in root if g.tag == f"{NS}g"]) == 2  # one panel per task x optimizer
    coords = re.findall(
        r"-?\d+(?:\.\d+)?", " ".join(p.get("points") for p in by_class(root, "line"))
    )
    assert max(len(c) for c in coords) < 12
