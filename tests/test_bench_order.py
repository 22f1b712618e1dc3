"""The round order of ``make bench`` (benchmarks/bench.py): every variant once a round, and with
``--against`` the reference tree right next to this tree's float64 ``--jobs 2``, first every
other round."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"
_SPEC = importlib.util.spec_from_file_location("lrbench_bench", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def _names(order):
    return [v["name"] for v in order]


def test_without_a_reference_the_rounds_rotate():
    vs = [{"name": n} for n in "abcd"]
    assert [_names(bench.round_order(vs, r)) for r in range(5)] == [
        list("abcd"), list("bcda"), list("cdab"), list("dabc"), list("abcd")
    ]  # fmt: skip


def test_the_reference_runs_next_to_its_mate_in_alternating_order():
    others = [{"name": n} for n in ("float32", "numpy kernels", "dask")]
    mate = {"name": bench.MATE}
    ref = {"name": bench.AGAINST + " (base)", "against": True}
    vs = [mate, *others, ref]
    seen_first = set()
    for r in range(8):
        order = _names(bench.round_order(vs, r))
        assert sorted(order) == sorted(_names(vs))  # each variant once
        i, j = order.index(bench.MATE), order.index(ref["name"])
        assert abs(i - j) == 1  # neighbours
        seen_first.add(order[min(i, j)])
        assert (i < j) == (r % 2 == 0)  # this tree first in even rounds
    assert seen_first == {bench.MATE, ref["name"]}
    # the other variants still rotate: each opens a round
    assert {_names(bench.round_order(vs, r))[0] for r in range(4)} >= {"float32", "dask"}


def test_against_args_add_a_mate_of_their_own_and_reach_both_sides(tmp_path):
    extra = ["--no-plots"]
    mate = bench.mate_variant("configs/w1.yaml", extra)
    ref = bench.against_variant("configs/w1.yaml", tmp_path, extra)
    assert mate["argv"][-1] == "--no-plots" and ref["argv"][-1] == "--no-plots"
    assert mate["argv"][-3:-1] == ["--jobs", "2"] and ref["argv"][-3:-1] == ["--jobs", "2"]
    assert mate["name"] == bench.MATE + " --no-plots"
    plain = {"name": bench.MATE}
    vs = [plain, {"name": "float32"}, mate, ref]
    assert bench._is_mate(mate, vs) and not bench._is_mate(plain, vs)
    for r in range(4):  # the reference pairs with the marked mate, not with the plain row
        order = _names(bench.round_order(vs, r))
        assert abs(order.index(mate["name"]) - order.index(ref["name"])) == 1
    # without --against-args the plain row is the mate, as before
    assert bench._is_mate(plain, [plain, bench.against_variant("configs/w1.yaml", tmp_path)])


def test_the_against_note_names_both_sides_and_pairs_rounds():
    rows = [
        {"name": bench.MATE + " --no-plots", "mate": True, "wall": 2.2},
        {"name": bench.AGAINST + " --no-plots (base)", "against": True, "wall": 2.0},
    ]
    records = [
        {"variant": rows[0]["name"], "rep": 0, "wall_s": 2.2},
        {"variant": rows[1]["name"], "rep": 0, "wall_s": 2.0},
        {"variant": rows[0]["name"], "rep": 1, "wall_s": 3.0},
        {"variant": rows[1]["name"], "rep": 1, "wall_s": 2.0},
    ]
    (note,) = bench._against_notes({"records": records}, rows)
    # medians 2.2/2.0 = 1.100; per-round ratios 1.1 and 1.5, median 1.3 (hand computation)
    assert "1.100 (medians)" in note and "1.300 (median of 2 per-round ratios, 1.100–1.500)" in note
    assert rows[0]["name"] in note and rows[1]["name"] in note


def test_phase_times_split_a_run_and_the_note_compares_the_parents_work():
    def rec(variant, wall, workers, trained, end):
        marks = {"workers": workers, "trained": trained, "end": end}
        return {"variant": variant, "wall_s": wall, "phases": marks}

    ours, ref = bench.MATE, bench.AGAINST + " (base)"
    parts = bench.phase_times(rec(ours, 3.0, 0.4, 2.6, 2.9))
    assert [round(x, 9) for x in parts] == [0.4, 2.2, 0.3, 0.1]  # sums to the wall time
    assert bench.phase_times({"wall_s": 1.0, "phases": {"end": 0.9}}) is None  # no pool
    rows = [{"name": ours, "wall": 3.0}, {"name": ref, "against": True, "wall": 2.5}]
    records = [rec(ours, 3.0, 0.4, 2.6, 2.9), rec(ref, 2.5, 0.3, 2.2, 2.45)]
    (note,) = bench._phase_notes({"records": records}, rows)
    # hand computation: ours 400 / 2200 / 300 / 100 ms, the reference 300 / 1900 / 250 / 50;
    # all but training 800 against 600 ms: +200 ms, +8.0 % of 2.5 s
    assert (
        "before the workers 400 / 300, training 2200 / 1900, after 300 / 250, rest 100 / 50" in note
    )
    assert "+200 ms, +8.0% of" in note


def test_phases_script_marks_a_real_sweep_in_order(tmp_path):
    """benchmarks/phases.py around a two-worker sweep: the pool is created, shut down, then the
    command ends, each mark after the one before; the sweep's output is the command's own."""
    import json
    import subprocess
    import sys

    marks = tmp_path / "marks.json"
    argv = [sys.executable, str(bench.PHASES), str(marks), "sweep", "configs/quickstart.yaml"]
    argv += ["--jobs", "2", "--quiet", "--no-plots", "--out", str(tmp_path / "out")]
    subprocess.run(argv, cwd=bench.ROOT, check=True, capture_output=True, timeout=120)
    m = json.loads(marks.read_text())
    assert 0 < m["workers"] < m["trained"] < m["end"]
    assert (tmp_path / "out" / "runs.csv").is_file()
