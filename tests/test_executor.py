"""Grouping for lockstep training: every run exactly once, chunks bounded, workers balanced."""

from __future__ import annotations

from pathlib import Path

from lrbench.config import load_config
from lrbench.engine import group_key
from lrbench.executor import MAX_WIDTH, make_groups

ROOT = Path(__file__).parent.parent


def test_chunks_cover_every_run_once_and_share_a_group_key():
    specs = load_config([ROOT / "configs" / "mlp-study.yaml"]).specs()
    for jobs in (1, 2, 3):
        chunks = make_groups(specs, jobs)
        ids = [s.run_id for c in chunks for s in c]
        assert sorted(ids) == sorted(s.run_id for s in specs)
        assert all(len(c) <= MAX_WIDTH for c in chunks)
        assert all(len({group_key(s) for s in c}) == 1 for c in chunks)


def test_few_groups_are_cut_for_the_workers():
    specs = load_config([ROOT / "configs" / "w1.yaml"]).specs()  # 2 groups of 63
    assert [len(c) for c in make_groups(specs, 1)] == [63, 63]
    chunks = make_groups(specs, 2)
    assert sorted(len(c) for c in chunks) == [31, 31, 32, 32]
    # costliest first: the MLP chunks lead
    assert [c[0].task.model for c in chunks][:2] == ["mlp", "mlp"]
