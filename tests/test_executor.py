"""Grouping for lockstep training: every run exactly once, chunks bounded, workers balanced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from lrbench.config import load_config
from lrbench.core.sharing import group_key
from lrbench.sweep.executor import MAX_WIDTH, estimated_cost, make_groups

ROOT = Path(__file__).parent.parent


def test_chunks_cover_every_run_once_and_share_a_group_key():
    specs = load_config([ROOT / "configs" / "mlp-study.yaml"]).specs()
    for jobs in (1, 2, 3):
        chunks = make_groups(specs, jobs)
        ids = [s.run_id for c in chunks for s in c]
        assert sorted(ids) == sorted(s.run_id for s in specs)
        assert all(len(c) <= MAX_WIDTH for c in chunks)
        assert all(len({group_key(s) for s in c}) == 1 for c in chunks)


def _greedy_loads(chunks, jobs):
    """What the process pool does: each chunk, in the given order, to the first free worker."""
    loads = [0.0] * jobs
    for c in chunks:
        loads[loads.index(min(loads))] += estimated_cost(c)
    return loads


def test_few_groups_are_cut_for_the_workers():
    specs = load_config([ROOT / "configs" / "w1.yaml"]).specs()  # 2 groups of 63
    assert [len(c) for c in make_groups(specs, 1)] == [63, 63]
    for jobs in (2, 3):
        chunks = make_groups(specs, jobs)
        assert len(chunks) <= 2 + jobs - 1  # McNaughton: at most jobs - 1 extra cuts
        total = sum(estimated_cost(c) for c in chunks)
        assert max(_greedy_loads(chunks, jobs)) <= 1.25 * total / jobs
        # a cut piece is a stride of its group's families (an optimizer and lr under its three
        # schedules): the same mix of optimizers in each piece, to within one family
        mlp = [c for c in chunks if c[0].task.model == "mlp"]
        for c in mlp:
            counts = {o: sum(s.optimizer == o for s in c) for o in ("sgd", "momentum", "adam")}
            assert max(counts.values()) - min(counts.values()) <= 3
            families = {(s.optimizer, s.lr) for s in c}
            assert len(c) == 3 * len(families)  # families are never cut
    # more workers than a small group can use: cutting gives up instead of looping forever
    two = [s for s in specs if s.task.model == "mlp"][:2]
    for jobs in (2, 3, 4, 8):
        assert sorted(len(c) for c in make_groups(two, jobs)) in ([1, 1], [2])
    # W1 on 2 workers: the MLP group (about 3x the cost of logreg per run) is cut once, and the
    # two workers' estimated loads differ by less than one family (the unit of a cut)
    chunks = make_groups(specs, 2)
    assert sorted(len(c) for c in chunks if c[0].task.model == "mlp") == [18, 45]
    a, b = _greedy_loads(chunks, 2)
    adam_family = [
        s for s in specs if s.task.model == "mlp" and s.optimizer == "adam" and s.lr == 0.001
    ]
    assert len(adam_family) == 3  # constant, cosine, step
    assert abs(a - b) < estimated_cost(adam_family)


def _small_plan(tmp_path: Path, jobs: int):
    from lrbench.sweep.executor import plan
    from lrbench.sweep.store import ResultsDir

    cfg = load_config(
        [ROOT / "configs" / "ci.yaml"], ["train.epochs=1", "lr=[0.01, 0.1]", "seeds=1"]
    )
    store = ResultsDir(tmp_path / f"jobs{jobs}")
    specs = cfg.specs()
    return specs, store, plan(specs, store, jobs)


def test_workers_save_runs_and_format_the_same_curve_lines(tmp_path: Path):
    """The run files and curves.csv lines made by worker processes equal what the main
    process makes from the same results (reference: ``store.load`` and ``curve_lines``)."""
    from lrbench.sweep.executor import execute
    from lrbench.sweep.store import curve_lines

    texts = {}
    for jobs in (1, 2):
        specs, store, the_plan = _small_plan(tmp_path, jobs)
        done = execute(the_plan, store, jobs)
        assert sorted(done.results) == sorted(s.run_id for s in specs)
        assert sorted(done.curves) == sorted(done.results)
        for s in specs:
            r = done.results[s.run_id]
            assert done.curves[s.run_id] == "\n".join(curve_lines(r))
            loaded = store.load(s)
            assert loaded is not None and loaded.status == r.status
            assert "\n".join(curve_lines(loaded)) == done.curves[s.run_id]
        texts[jobs] = done.curves
    assert texts[1] == texts[2]


def test_partial_temporary_files_are_removed(tmp_path: Path):
    from lrbench.sweep.store import ResultsDir, atomic_write

    store = ResultsDir(tmp_path)
    atomic_write(store.run_path("abc"), "{}")
    stray = store.runs / ".abc.json.x1y2.tmp"  # what a killed writer leaves (atomic_write)
    stray.write_text("{")
    store.remove_partial()
    assert not stray.exists() and store.run_path("abc").exists()


def test_run_texts_equal_the_plain_serialisations(tmp_path: Path):
    """``run_texts`` formats each float once for both files; its output must be exactly
    ``json.dumps(result_to_json(r))`` and ``curve_lines(r)`` (the plain reference
    implementations), also with NaN, inf and a diverged run's short curves."""
    import json

    import numpy as np

    from lrbench.sweep.executor import execute
    from lrbench.sweep.store import curve_lines, result_to_json, run_texts

    specs, store, the_plan = _small_plan(tmp_path, 1)
    results = list(execute(the_plan, None, 1).results.values())
    r = results[0]
    r.log_loss[3] = np.nan
    r.log_loss[4] = np.inf
    r.log_lr[5] = -np.inf
    r.eval_val_accuracy[:] = np.nan
    assert r.eval_train_accuracy is not None
    results[1].eval_sharpness = np.linspace(-0.0, 3.0, r.eval_step.size)  # -0.0 kept
    for res in [r, *results[1:]]:
        text, curves = run_texts(res)
        assert text == json.dumps(result_to_json(res))
        assert curves == "\n".join(_reference_curve_lines(res))
        assert curve_lines(res) == _reference_curve_lines(res)
    # a diverged-looking run: log steps stop early, eval steps sparse
    r.log_step, r.log_lr, r.log_loss = r.log_step[:7], r.log_lr[:7], r.log_loss[:7]
    text, curves = run_texts(r)
    assert json.loads(text) == json.loads(json.dumps(result_to_json(r)))
    assert curves == "\n".join(_reference_curve_lines(r))
    lines = curves.split("\n")
    assert lines[3].split(",")[4] == "" and lines[4].split(",")[4] == "inf"


def _reference_curve_lines(r) -> list[str]:
    """curves.csv lines written the plain way, one row and one cell at a time (the README's
    column definitions: NaN as an empty cell, floats as repr)."""

    def cell(x: float) -> str:
        return "" if x != x else repr(float(x))

    log = {int(s): i for i, s in enumerate(r.log_step)}
    ev = {int(s): i for i, s in enumerate(r.eval_step)}
    lines = []
    for step in sorted(set(log) | set(ev)):
        i, j = log.get(step), ev.get(step)
        row = [r.spec.run_id, str(step), cell(step / r.steps_per_epoch)]
        row += [cell(r.log_lr[i]), cell(r.log_loss[i])] if i is not None else ["", ""]
        if j is not None:
            row += [cell(r.eval_val_loss[j]), cell(r.eval_val_accuracy[j])]
            row += [cell(r.eval_train_loss[j])]
        else:
            row += ["", "", ""]
        lines.append(",".join(row))
    return lines


def test_stride_takes_its_share_of_cost_spread_along_the_chunk():
    from lrbench.sweep.executor import _stride

    class U:
        def __init__(self, name, cost):
            self.name, self.cost = name, cost

    # The rule, worked by hand: unit i joins the piece when taken + cost_i / 2 <= frac * seen_i
    # (seen_i: the cost of units 0..i). Equal costs, half: 0.5 <= 0.5 takes unit 0, 1.5 <= 1.0
    # fails for unit 1, 1.5 <= 1.5 takes unit 2, ...: every other unit from the first.
    units = [U(i, 1.0) for i in range(6)]
    piece, rest = _stride(units, 0.5)
    assert [u.name for u in piece] == [0, 2, 4] and [u.name for u in rest] == [1, 3, 5]
    # a third of 9 equal units: 0.5 <= 1/3 fails, 0.5 <= 2/3 takes unit 1, then 4 and 7
    units = [U(i, 1.0) for i in range(9)]
    piece, _ = _stride(units, 1 / 3)
    assert [u.name for u in piece] == [1, 4, 7]
    # unequal costs 1, 4, 5 and half (target 5): the walk takes 0 (0.5 <= 0.5), not 1
    # (3 <= 2.5 fails), takes 2 (3.5 <= 5): 6, one over; moving unit 0 back lands on 5 exactly
    units = [U(0, 1.0), U(1, 4.0), U(2, 5.0)]
    piece, rest = _stride(units, 0.5)
    assert [u.name for u in piece] == [2] and sorted(u.name for u in rest) == [0, 1]


def test_repeated_values_are_formatted_exactly_as_repr():
    """``_repr_all`` formats each distinct value once; reference: ``repr`` of every item."""
    import numpy as np

    from lrbench.sweep.store import _repr_all

    rng = np.random.default_rng(0)
    cases = [
        np.full(900, 0.1),  # a constant lr
        np.repeat([0.1, 0.010000000000000002, 0.0010000000000000002], 300),  # a step schedule
        rng.standard_normal(900),  # all distinct: the plain path
        np.concatenate([np.full(100, 0.5), [np.nan, np.inf, -np.inf, np.nan, 0.0]]),
        np.concatenate([np.full(100, 0.0), [-0.0]]),  # signed zeros: the plain path
        np.full(10, 0.3),  # short
        np.array([]),
    ]
    for a in cases:
        assert _repr_all(a) == [repr(x) for x in a.tolist()]


def test_the_command_asks_for_one_blas_thread_before_numpy_loads():
    """``lrbench.__main__.main`` sets the thread variables before anything imports numpy (a
    meta-path hook records them at numpy's import), and OpenBLAS then runs one thread."""
    script = textwrap.dedent(
        """
        import json, os, sys

        seen = {}

        class Watch:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" and not seen:
                    seen.update({k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")})
                return None

        sys.meta_path.insert(0, Watch())
        sys.argv = ["lrbench", "list"]
        def report():  # at exit, after the command ran
            from threadpoolctl import threadpool_info
            blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            print(json.dumps({"seen": seen, "blas": blas}), file=sys.stderr, flush=True)

        import atexit
        atexit.register(report)
        from lrbench.__main__ import main
        main()
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"  # the user's setting is overridden
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["seen"] == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    assert report["blas"] and set(report["blas"]) == {1}


def test_groups_are_planned_once_and_trained_as_planned(monkeypatch):
    """Planning tabulates each lockstep group's learning rates once (one ``lr_tables`` call a
    group); the engine trains the plans without tabulating or planning again, and each plan
    equals a fresh plan of its specs (reference: ``plan_group`` on the chunk's specs)."""
    from lrbench.core import sharing
    from lrbench.core.engine import train_group
    from lrbench.core.sharing import plan_group
    from lrbench.sweep import executor

    cfg = load_config(
        [ROOT / "configs" / "w1.yaml"], ["train.epochs=1", "lr=[0.01, 0.1]", "seeds=[0, 1]"]
    )
    specs = cfg.specs()
    calls = []
    original = sharing.lr_tables

    def counting(group):
        calls.append(len(group))
        return original(group)

    monkeypatch.setattr(executor, "lr_tables", counting)
    monkeypatch.setattr(sharing, "lr_tables", counting)
    chunks = make_groups(specs, jobs=2)
    assert sorted(calls) == sorted(len(g) for g in _by_group_key(specs))  # once per group
    for c in chunks:
        fresh = plan_group(list(c))
        assert fresh.specs == c.specs and fresh.order == c.order
        assert np.array_equal(fresh.lrs, c.lrs) and fresh.lrs.dtype == c.lrs.dtype
        assert (fresh.rows, fresh.forks) == (c.rows, c.forks)
        assert np.array_equal(fresh.plateau, c.plateau)
    calls.clear()
    monkeypatch.setattr(sharing, "fork_plan", None)  # any planning would fail
    results = train_group(min(chunks, key=len))
    assert not calls and [r.spec for r in results] == list(min(chunks, key=len))


def _by_group_key(specs):
    groups = {}
    for s in specs:
        groups.setdefault(group_key(s), []).append(s)
    return list(groups.values())


def test_forked_workers_find_numpy_ma_loaded():
    """``np.union1d`` (every worker's curve lines) loads ``numpy.ma`` on first use; the local
    executor imports it before it forks, so no worker imports its own copy (a meta-path hook in
    a fresh interpreter records every process that imports it)."""
    script = textwrap.dedent(
        """
        import os, sys

        class Watch:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy.ma":
                    print(f"numpy.ma imported by {os.getpid()}", file=sys.stderr, flush=True)
                return None

        sys.meta_path.insert(0, Watch())
        from lrbench.config import load_config
        from lrbench.sweep.executor import LocalExecutor, make_groups

        cfg = load_config([sys.argv[1]], ["train.epochs=1", "lr=[0.01, 0.1]", "seeds=[0, 1]"])
        chunks = make_groups(cfg.specs(), jobs=2)
        assert "numpy.ma" not in sys.modules and len(chunks) >= 2
        done = []
        LocalExecutor(2).run(chunks, None, done.extend, lambda kind, payload: None)
        print(f"parent {os.getpid()} trained {len(done)}", file=sys.stderr)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "configs" / "w1.yaml")],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    parent = lines[-1].split()[1]
    # W1: 2 tasks x 3 optimizers x 3 schedules, here with 2 lrs and 2 seeds: 72 runs, all trained
    assert lines[-1] == f"parent {parent} trained 72"
    assert [ln for ln in lines if "numpy.ma" in ln] == [f"numpy.ma imported by {parent}"]
