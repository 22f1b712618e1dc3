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
