"""`make bench`: lrbench on W1 end to end against its baselines, whole processes, in one run.

Measured as processes (python start to exit, ``time.perf_counter`` around the child; peak RSS
from ``os.wait4``, the largest process of the child's tree), several repetitions interleaved
round-robin (each round starts one variant later) so drift hits every variant alike:

- lrbench: ``python -m lrbench sweep configs/w1.yaml --out TMP --no-resume --quiet``, the
  default command (tables on stdout, every results file and figure written) with ``--jobs 1``
  and ``--jobs 2``, float64 and float32;
- numpy one configuration at a time (``benchmarks/one_at_a_time.py``), each dtype;
- the plain PyTorch loop (``benchmarks/torch_loop.py``), each dtype, when ``import torch``
  works (``pip install torch==2.13.0``); skipped with a note otherwise;
- the Dask executor, when ``distributed`` is installed (``lrbench[dask]``): the same command
  with ``--executor dask --jobs 2`` (lrbench starts a two-worker ``LocalCluster`` on
  127.0.0.1 and stops it), float64, against ``--jobs 2`` with local processes; with
  ``--scaling`` also on the 10x grid. Its overhead is reported as a note.

Before timing, lrbench's bytecode is compiled (``compileall``), as any install or a first run
does, in this tree and in ``--against``'s; this matters only where ``PYTHONDONTWRITEBYTECODE``
is set (it is on the development machine: a reference tree without bytecode compiled its
sources at every start, about 0.05-0.1 s, which flattered this tree in sessions 5 and 6).

Ratios are baseline median / variant median, against the baseline of the same dtype. Also: the
machine's one-thread matmul peak (numpy, 1024^3) and the GFLOP/s lrbench achieves on W1's
matrix products with ``--jobs 1``.

With ``--against DIR``, W1 (float64, ``--jobs 2``) is also run by another checkout with its own
``.venv``, right next to this tree's run in every round; both sides run through
``benchmarks/phases.py``, and a note gives the median of each phase (before the workers,
training, after, the rest) on both sides. ``--against-args ARGS`` gives both sides the same
extra sweep arguments (``--against-args=--no-plots``: the same work).

    .venv/bin/python benchmarks/bench.py [--repeat 3] [--quick] [--scaling] [--markdown]
                                         [--json PATH] [--load PATH] [--only TEXT[,TEXT]]
                                         [--against DIR [--against-args ARGS]]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DTYPES = ("float64", "float32")


# ---------------------------------------------------------------- variants and measurement


def against_variant(config: str, tree: Path, extra: list[str] | None = None) -> dict[str, Any]:
    """W1's default command (float64, --jobs 2) run by another checkout of lrbench (``tree``,
    with its own ``.venv``), from that checkout's folder, on this tree's config: an A/B of two
    versions in the same rounds (``--against``); ``extra``: sweep arguments added on both sides
    (``--against-args``). Run through :func:`with_phases`."""
    extra = extra or []
    argv = _w1_jobs2(str(tree / ".venv" / "bin" / "python"), str((ROOT / config).resolve()))
    return with_phases(dict(name=f"{AGAINST}{_suffix(extra)} ({tree.name})", kind="lrbench",
                            dtype="float64", jobs=2, argv=[*argv, *extra], cwd=str(tree),
                            against=True))  # fmt: skip


def mate_variant(config: str, extra: list[str]) -> dict[str, Any]:
    """This tree's side of an ``--against`` A/B run with ``extra`` sweep arguments (W1 float64
    ``--jobs 2``; without ``extra`` the table's own :data:`MATE` row is that side), run through
    :func:`with_phases`."""
    return with_phases(dict(name=f"{MATE}{_suffix(extra)}", kind="lrbench", dtype="float64",
                            jobs=2, argv=[*_w1_jobs2(PY, config), *extra], mate=True))  # fmt: skip


def _w1_jobs2(python: str, config: str) -> list[str]:
    return [python, "-m", "lrbench", "sweep", config, "--out", "{out}", "--no-resume", "--quiet",
            "--jobs", "2"]  # fmt: skip


def with_phases(v: dict[str, Any]) -> dict[str, Any]:
    """``v`` run through ``benchmarks/phases.py`` (``python -m lrbench`` replaced), so that each
    run also records when its phases ended (:func:`_phase_notes`)."""
    argv = list(v["argv"])
    i = argv.index("-m")
    return {**v, "argv": [*argv[:i], str(PHASES), "{marks}", *argv[i + 2 :]]}


PHASES = ROOT / "benchmarks" / "phases.py"


def _suffix(extra: list[str]) -> str:
    return f" {shlex.join(extra)}" if extra else ""


AGAINST = "lrbench float64 jobs 2, reference tree"
MATE = "lrbench float64 jobs 2"  # this tree's variant that --against's reference is timed with


def _is_mate(v: dict[str, Any], vs: list[dict[str, Any]]) -> bool:
    """Whether ``v`` is this tree's side of the ``--against`` A/B: the variant marked ``mate``
    (``--against-args``), else :data:`MATE`."""
    return bool(v.get("mate")) or (v["name"] == MATE and not any(w.get("mate") for w in vs))


def _against_notes(dump: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """This tree against the reference tree (``--against``): ratio of the medians and the median
    of the per-round ratios (each round runs the two back to back, :func:`round_order`, so
    drift hits both alike)."""
    ref = next((r for r in rows if r.get("against")), None)
    ours = next((r for r in rows if _is_mate(r, rows)), None)
    if ref is None or ours is None:
        return []
    walls: dict[str, dict[int, float]] = {ref["name"]: {}, ours["name"]: {}}
    for rec in dump["records"]:
        if rec["variant"] in walls:
            walls[rec["variant"]][rec["rep"]] = rec["wall_s"]
    pairs = [walls[ours["name"]][k] / walls[ref["name"]][k] for k in walls[ref["name"]]]
    return [
        f"this tree / reference tree ({ours['name']} / {ref['name']}), process to process: "
        f"{ours['wall'] / ref['wall']:.3f} (medians), {statistics.median(pairs):.3f} (median of "
        f"{len(pairs)} per-round ratios, {min(pairs):.3f}–{max(pairs):.3f})"
    ]


PHASE_NAMES = ("before the workers", "training", "after", "rest")


def phase_times(rec: dict[str, Any]) -> list[float] | None:
    """One run's wall time in :data:`PHASE_NAMES`' parts, in seconds: until the worker pool is
    created, until it is shut down, until the command is done, and the rest of the process
    (interpreter start and teardown); None without marks (or without a worker pool)."""
    p = rec.get("phases") or {}
    if not {"workers", "trained", "end"} <= p.keys():
        return None
    return [p["workers"], p["trained"] - p["workers"], p["end"] - p["trained"],
            rec["wall_s"] - p["end"]]  # fmt: skip


def _phase_notes(dump: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Where the ``--against`` A/B's difference is: the median of each phase
    (:func:`phase_times`) on both sides, and the difference of the parent's own work (every
    phase but training) as a share of the reference's median process time."""
    ref = next((r for r in rows if r.get("against")), None)
    ours = next((r for r in rows if _is_mate(r, rows)), None)
    if ref is None or ours is None:
        return []
    med = {}
    for r in (ours, ref):
        parts = [t for rec in dump["records"] if rec["variant"] == r["name"]
                 if (t := phase_times(rec)) is not None]  # fmt: skip
        if not parts:
            return []
        med[r["name"]] = [statistics.median(col) for col in zip(*parts)]
    a, b = med[ours["name"]], med[ref["name"]]
    cells = ", ".join(f"{n} {x * 1e3:.0f} / {y * 1e3:.0f}" for n, x, y in zip(PHASE_NAMES, a, b))
    fixed = (sum(a) - a[1]) - (sum(b) - b[1])
    return [
        f"phases of that A/B, this tree / reference tree, medians in ms: {cells}; the parent's "
        f"own work (all but training) {fixed * 1e3:+.0f} ms, {fixed / ref['wall']:+.1%} of the "
        "reference's process time"
    ]


def variants(
    config: str, with_torch: bool, scaling: bool, with_dask: bool = False
) -> list[dict[str, Any]]:
    """Every process to time: name, kind, dtype, jobs and argv (``{out}`` filled per run)."""
    out = []
    for dtype in DTYPES:
        dset = [] if dtype == "float64" else ["--set", f"train.dtype={dtype}"]
        for jobs in (1, 2):
            argv = [PY, "-m", "lrbench", "sweep", config, "--out", "{out}", "--no-resume"]
            argv += ["--quiet", "--jobs", str(jobs), *dset]
            out.append(
                dict(
                    name=f"lrbench {dtype} jobs {jobs}",
                    kind="lrbench",
                    dtype=dtype,
                    jobs=jobs,
                    argv=argv,
                )
            )
        baselines = [("numpy", "numpy one at a time", "one_at_a_time.py")]
        if with_torch:
            baselines.append(("torch", "PyTorch loop", "torch_loop.py"))
        for kind, label, script in baselines:
            argv = [PY, f"benchmarks/{script}", config, *dset]
            out.append(dict(name=f"{label} {dtype}", kind=kind, dtype=dtype, jobs=1, argv=argv))
    # What the compiled kernels buy: the default command with lrbench's numpy code only (what
    # an install without a C compiler runs; the same results).
    argv = [PY, "-m", "lrbench", "sweep", config, "--out", "{out}", "--no-resume", "--quiet"]
    out.append(
        dict(
            name="lrbench float64 jobs 2, numpy kernels",
            kind="lrbench",
            dtype="float64",
            jobs=2,
            argv=[*argv, "--jobs", "2"],
            env={"LRBENCH_FUSED": "0"},
        )
    )
    if with_dask:  # the Dask executor on a 2-worker LocalCluster, against --jobs 2 above
        out.append(
            dict(
                name=DASK_W1,
                kind="lrbench",
                dtype="float64",
                jobs=2,
                argv=[*argv, "--jobs", "2", "--executor", "dask"],
            )
        )
    if scaling:  # the 10x grid with 2 and with 1 process (and on Dask's 2 workers)
        ten_x = []
        for jobs in (2, 1):
            argv = [PY, "-m", "lrbench", "sweep", config, "--out", "{out}", "--no-resume"]
            argv += ["--quiet", "--jobs", str(jobs), "--set", "seeds=10"]
            ten_x.append(argv)
            out.append(
                dict(
                    name=f"lrbench float64 jobs {jobs}, seeds=10 (10x)",
                    kind="lrbench",
                    dtype="float64",
                    jobs=jobs,
                    argv=argv,
                    scaling=True,  # not compared with W1's baselines
                )
            )
        if with_dask:
            out.append(
                dict(
                    name=DASK_10X,
                    kind="lrbench",
                    dtype="float64",
                    jobs=2,
                    argv=[*ten_x[0], "--executor", "dask"],
                    scaling=True,
                )
            )
    return out


DASK_W1 = "lrbench float64 dask 2 workers"
DASK_10X = "lrbench float64 dask 2 workers, seeds=10 (10x)"


def dask_available() -> bool:
    """Whether ``distributed`` (the ``lrbench[dask]`` extra) is installed."""
    return importlib.util.find_spec("distributed") is not None


def run_process(
    argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB (largest process of the tree) and exit code of one child
    (``env``: variables added to this process's environment)."""
    full_env = {**os.environ, **(env or {})}
    with open(log, "w") as f:
        start = time.perf_counter()
        p = subprocess.Popen(
            argv, stdout=f, stderr=subprocess.STDOUT, cwd=cwd or ROOT, env=full_env
        )
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, p.returncode


def lrbench_times(out: Path) -> dict[str, float]:
    """``train_s``: the sum of the runs' ``wall_s`` (group time / group size), i.e. the total
    training time (wall time with --jobs 1); ``sweep_s``: the in-process sweep time."""
    with open(out / "runs.csv", newline="") as f:
        train = sum(float(r["wall_s"]) for r in csv.DictReader(f))
    manifest = json.loads((out / "manifest.json").read_text())
    return {"train_s": train, "sweep_s": float(manifest["wall_s"])}


def round_order(vs: list[dict[str, Any]], rep: int) -> list[dict[str, Any]]:
    """The variants of round ``rep``: the list rotated by ``rep``. With ``--against``, the
    reference tree runs right next to this tree's float64 ``--jobs 2`` (:data:`MATE`), after it
    in even rounds and before it in odd ones, so that each per-round ratio compares two
    neighbouring runs, as alternating pairs do. (Rotating the reference with the other variants
    put other runs between the two, and the order moved this tree's time by up to 0.6 s:
    BENCHMARKS.md, session 8.)"""
    ref = next((v for v in vs if v.get("against")), None)
    mate = next((v for v in vs if _is_mate(v, vs)), None)
    if ref is None or mate is None:
        return vs[rep % len(vs) :] + vs[: rep % len(vs)]
    rest = [v for v in vs if v is not ref]
    order = rest[rep % len(rest) :] + rest[: rep % len(rest)]
    i = order.index(mate)
    return [*order[:i], *([mate, ref] if rep % 2 == 0 else [ref, mate]), *order[i + 1 :]]


def measure(
    vs: list[dict[str, Any]], repeat: int, tmp: Path, peaks: list[dict[str, float]]
) -> list[dict[str, Any]]:
    """Run every variant ``repeat`` times, round-robin, in :func:`round_order`; the matmul peak
    is measured at the start of every round (appended to ``peaks``)."""
    records = []
    for rep in range(repeat):
        peaks.append(matmul_peak())
        order = round_order(vs, rep)
        for i, v in enumerate(order):
            slot = tmp / f"v{vs.index(v)}"
            slot.mkdir(exist_ok=True)
            marks = slot / "marks.json"
            marks.unlink(missing_ok=True)
            argv = [a.replace("{out}", str(slot / "out")) for a in v["argv"]]
            argv = [a.replace("{marks}", str(marks)) for a in argv]
            wall, rss, rc = run_process(argv, slot / "log.txt", v.get("env"), v.get("cwd"))
            rec = {"variant": v["name"], "rep": rep, "wall_s": wall, "peak_mb": rss, "rc": rc}
            text = (slot / "log.txt").read_text()
            if rc != 0:
                tail = "\n".join(text.splitlines()[-15:])
                sys.exit(f"bench: {v['name']} failed (exit {rc}):\n{shlex.join(argv)}\n{tail}")
            if v["kind"] == "lrbench":
                rec.update(lrbench_times(slot / "out"))
            else:
                rec["train_s"] = float(json.loads(text.strip().splitlines()[-1])["train_s"])
            if marks.is_file():
                rec["phases"] = json.loads(marks.read_text())
            records.append(rec)
            print(
                f"[round {rep + 1}/{repeat}, {i + 1}/{len(vs)}] {v['name']}: {wall:.2f} s, "
                f"{rss:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    return records


# ---------------------------------------------------------------- peak and achieved GFLOP/s


def matmul_peak(n: int = 1024, reps: int = 5) -> dict[str, float]:
    """One-thread numpy matmul GFLOP/s on square ``n``^3 products, median of ``reps`` after
    two warm-up products, per dtype."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    out = {}
    with threadpool_limits(1):
        for dtype in DTYPES:
            a = rng.standard_normal((n, n)).astype(dtype)
            b = rng.standard_normal((n, n)).astype(dtype)
            c = np.empty((n, n), dtype=dtype)
            for _ in range(2):
                np.matmul(a, b, out=c)
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                np.matmul(a, b, out=c)
                times.append(time.perf_counter() - t0)
            out[dtype] = 2 * n**3 / statistics.median(times) / 1e9
    return out


def workload_flops(config: str, dtype: str) -> dict[str, float]:
    """Matrix-product FLOPs that lrbench computes on the workload with one process.

    Counted, not estimated: the workload is replayed in this process (``make_groups`` with one
    worker, then ``train_group`` per chunk, as ``--jobs 1`` runs it) with counters on the
    model's passes. A forward + backward pass of a stack counts ``Model.flops_per_sample()`` x
    the configurations x the minibatch rows; an evaluation counts the forward pass
    ``2*d_in*d_out`` per layer x configurations x rows. Shared prefixes and the stops of
    diverged runs are therefore counted as the work they save. ``nominal_train`` is every run's
    full budget trained separately, as the PyTorch loop does."""
    sys.path.insert(0, str(ROOT))
    from lrbench.config import load_config
    from lrbench.core.engine import train_group
    from lrbench.core.models import Model
    from lrbench.core.tasks import load_task_data, steps_per_epoch
    from lrbench.sweep.executor import limit_blas_threads, make_groups

    limit_blas_threads()
    specs = load_config([ROOT / config], [f"train.dtype={dtype}"]).specs()
    count = {"train": 0.0, "eval": 0.0}
    passes, evaluate = Model.loss_and_grad, Model.evaluate

    def counted_passes(self, params, X, y):
        count["train"] += self.flops_per_sample() * X.shape[0] * X.shape[1]
        return passes(self, params, X, y)

    def counted_evaluate(self, params, X, y, accuracy=True):
        fwd = sum(2 * a * b for a, b in self.layers)
        count["eval"] += fwd * params[0].shape[0] * X.shape[0]
        return evaluate(self, params, X, y, accuracy)

    Model.loss_and_grad, Model.evaluate = counted_passes, counted_evaluate
    try:
        results = [r for g in make_groups(specs, 1) for r in train_group(g)]
    finally:
        Model.loss_and_grad, Model.evaluate = passes, evaluate
    nominal = separate = 0.0
    for r in results:
        spec = r.spec
        data = load_task_data(spec.task, dtype)
        model = Model(
            spec.task.model, dict(spec.task.model_params), data.n_features, data.n_classes or 1
        )
        n = len(data.y_train)
        per_epoch = steps_per_epoch(n, spec.train.batch_size)
        bs = n if per_epoch == 1 else spec.train.batch_size

        def rows(t: int, n=n, per_epoch=per_epoch, bs=bs) -> int:  # samples in steps 0..t-1
            full, part = divmod(t, per_epoch)
            return full * n + min(part * bs, n)

        nominal += model.flops_per_sample() * rows(spec.train.steps)
        separate += model.flops_per_sample() * rows(r.steps_done)
    return {
        "train": count["train"],
        "eval": count["eval"],
        "total": count["train"] + count["eval"],
        "nominal_train": nominal,
        "separate_train": separate,
        "steps": sum(r.steps_done for r in results),
        "nominal_steps": sum(r.spec.train.steps for r in results),
    }


# ---------------------------------------------------------------- machine and versions


def machine(with_torch: str | None) -> dict[str, Any]:
    import numpy as np
    from threadpoolctl import threadpool_info

    from lrbench.core import kernels

    cpu, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "model name":
                cpu = val.strip()
            if key.strip() == "flags" and not flags:
                flags = set(val.split())
    except OSError:
        pass
    blas = [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')}".strip()
        + f" ({i.get('num_threads')} threads)"
        for i in threadpool_info()
    ]
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": cpu,
        "simd": " ".join(f for f in ("avx2", "fma", "avx512f") if f in flags),
        "cores": os.cpu_count(),
        "usable_cores": affinity,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": "; ".join(blas),
        "torch": with_torch,
        "kernels": "compiled" if kernels.available() else "numpy (not built)",
        "platform": platform.platform(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def torch_version() -> str | None:
    """torch's version if ``import torch`` works in a child process (this one stays light)."""
    r = subprocess.run(
        [PY, "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return r.stdout.strip() if r.returncode == 0 else None


# ---------------------------------------------------------------- report


def summarise(dump: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    by_name = {v["name"]: v for v in dump["variants"]}
    for name, v in by_name.items():
        recs = [r for r in dump["records"] if r["variant"] == name]
        walls = [r["wall_s"] for r in recs]
        train = [r["train_s"] for r in recs]
        rows.append(
            {
                **v,
                "n": len(recs),
                "wall": statistics.median(walls),
                "lo": min(walls),
                "hi": max(walls),
                "mb": statistics.median(r["peak_mb"] for r in recs),
                "train": statistics.median(train)
                if v["jobs"] == 1 or v["kind"] != "lrbench"
                else None,
                "sweep": statistics.median(r["sweep_s"] for r in recs)
                if v["kind"] == "lrbench"
                else None,
            }
        )
    base = {(r["kind"], r["dtype"]): r for r in rows if r["kind"] in ("torch", "numpy")}
    for r in rows:
        for kind in ("torch", "numpy"):
            b = None if r.get("scaling") else base.get((kind, r["dtype"]))
            r[f"x_{kind}"] = b["wall"] / r["wall"] if b else None
            r[f"x_{kind}_train"] = b["train"] / r["train"] if b and r["train"] else None
    return rows


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if x is None else fmt.format(x)


HEAD = (
    "variant",
    "process s (median)",
    "min–max",
    "peak MB",
    "train s",
    "sweep s",
    "× torch (process / train)",
    "× numpy (process / train)",
)


def table_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    out = []
    for r in rows:
        out.append(
            (
                r["name"],
                _f(r["wall"]),
                f"{r['lo']:.2f}–{r['hi']:.2f}",
                _f(r["mb"], "{:.0f}"),
                _f(r["train"]),
                _f(r["sweep"]),
                f"{_f(r['x_torch'], '{:.1f}')} / {_f(r['x_torch_train'], '{:.1f}')}",
                f"{_f(r['x_numpy'], '{:.1f}')} / {_f(r['x_numpy_train'], '{:.1f}')}",
            )
        )
    return out


def render(dump: dict[str, Any], markdown: bool) -> str:
    rows = summarise(dump)
    body = table_rows(rows)
    if markdown:
        lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
    else:
        widths = [max(len(x[i]) for x in [HEAD, *body]) for i in range(len(HEAD))]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
            )

        lines = [line(HEAD), "  ".join("-" * w for w in widths)]
        lines += [line(r) for r in body]
    m = dump["machine"]
    notes = [
        f"repetitions: {dump['repeat']} (median, min–max over rounds; variants interleaved)",
        "process s: python start to exit. train s: training loop alone (lrbench: sum of the "
        "runs' wall_s, shown for --jobs 1 only). sweep s: lrbench's in-process sweep time "
        "(manifest.json). peak MB: the largest process of the tree.",
        "× torch / × numpy: baseline median / variant median, against the baseline of the "
        "same dtype.",
    ]
    if m["torch"] is None:
        notes.append("PyTorch loop skipped: `import torch` failed (pip install torch==2.13.0).")
    elif not any(r["kind"] == "torch" for r in rows):
        notes.append("PyTorch loop not timed (--quick, or left out by --only).")
    notes += _flops_notes(dump, rows) + _scaling_notes(rows) + _dask_notes(dump, rows)
    notes += _against_notes(dump, rows) + _phase_notes(dump, rows)
    notes += [
        f"machine: {m['cpu']} ({m['simd']}), {m['cores']} cores ({m['usable_cores']} usable); "
        f"{m['platform']}",
        f"Python {m['python']}, numpy {m['numpy']} ({m['blas']}), torch {m['torch'] or 'absent'}; "
        f"lrbench kernels: {m.get('kernels', '?')} (the numpy baseline always runs lrbench's "
        "numpy code)",
        f"load average before / after: {dump['load_before']} / {dump['load_after']}",
        f"command: {m['command']}  ({m['time']})",
    ]
    sep = "\n" if not markdown else "\n\n"
    prefix = "" if not markdown else "- "
    return "\n".join(lines) + sep + "\n".join(prefix + n for n in notes) + "\n"


def _flops_notes(dump: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    out = []
    peak = dump["peak_gflops"]
    rounds = dump.get("peak_rounds") or [peak]
    out.append(
        "matmul peak, 1 thread, numpy 1024^3, median of 5 after warm-up, best of "
        f"{len(rounds)} round(s): "
        + ", ".join(
            f"{d} {peak[d]:.1f} GFLOP/s (rounds {min(p[d] for p in rounds):.1f}–"
            f"{max(p[d] for p in rounds):.1f})"
            for d in DTYPES
        )
    )
    for dtype in DTYPES:
        fl = dump["flops"].get(dtype)
        row = next((r for r in rows if r["name"] == f"lrbench {dtype} jobs 1"), None)
        if not fl or not row:
            continue
        g = fl["total"] / row["train"] / 1e9
        out.append(
            f"lrbench {dtype} jobs 1: {fl['total'] / 1e9:.2f} GFLOP of matrix products "
            f"computed (training {fl['train'] / 1e9:.2f}: nominal {fl['nominal_train'] / 1e9:.2f}"
            f", {fl['separate_train'] / 1e9:.2f} for the {fl['steps']:,} of "
            f"{fl['nominal_steps']:,} steps done as diverged runs stop early, less the shared "
            f"prefixes; evaluation {fl['eval'] / 1e9:.2f}) in {row['train']:.2f} s of training = "
            f"{g:.1f} GFLOP/s, {g / peak[dtype]:.0%} of the one-thread peak"
        )
    if dump["flops"]:
        out.append(
            "the PyTorch loop trains every run's full budget (no divergence stop); "
            "lrbench and the numpy baseline stop diverged runs (steps above)."
        )
    return out


def _scaling_notes(rows: list[dict[str, Any]]) -> list[str]:
    big = next((r for r in rows if r.get("scaling") and r["jobs"] == 2), None)
    w1 = next((r for r in rows if r["name"] == "lrbench float64 jobs 2"), None)
    if not big or not w1:
        return []
    out = [
        f"scaling (10x the runs, float64 jobs 2) / W1: process {big['wall'] / w1['wall']:.1f}x, "
        f"sweep {big['sweep'] / w1['sweep']:.1f}x (linear: 10x; start-up is paid once)"
    ]
    names = {r["name"]: r for r in rows}
    pairs = [
        ("W1", "lrbench float64 jobs 1", "lrbench float64 jobs 2"),
        ("10x grid", "lrbench float64 jobs 1, seeds=10 (10x)", big["name"]),
    ]
    for label, one, two in pairs:
        if one in names and two in names:
            a, b = names[one], names[two]
            out.append(
                f"--jobs 2 over --jobs 1, {label} (float64): process {a['wall'] / b['wall']:.2f}x, "
                f"sweep {a['sweep'] / b['sweep']:.2f}x"
            )
    return out


def _dask_notes(dump: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The Dask executor's overhead over local processes, process to process (issue 22's
    targets: at most 25 % on W1, at most 10 % on the 10x grid)."""
    names = {r["name"]: r for r in rows}
    if DASK_W1 not in names:
        return [] if dump.get("dask", True) else [DASK_SKIPPED]
    out = []
    pairs = [
        ("W1", "lrbench float64 jobs 2", DASK_W1, 25),
        ("10x grid", "lrbench float64 jobs 2, seeds=10 (10x)", DASK_10X, 10),
    ]
    for label, local, dask, target in pairs:
        if local in names and dask in names:
            a, b = names[local], names[dask]
            out.append(
                f"Dask executor (2-worker LocalCluster, started and stopped by the command) over "
                f"--jobs 2, {label} (float64): process {b['wall'] / a['wall'] - 1:+.0%}, sweep "
                f"{b['sweep'] / a['sweep'] - 1:+.0%} (target: at most +{target} %)"
            )
    return out


DASK_SKIPPED = "Dask executor skipped: distributed is not installed (pip install 'lrbench[dask]')."


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (rounds), default 3")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, no PyTorch")
    ap.add_argument(
        "--scaling", action="store_true", help="also a 10x grid (seeds=10, jobs 2 and 1)"
    )
    ap.add_argument("--markdown", action="store_true", help="also print the Markdown table")
    ap.add_argument("--json", metavar="PATH", help="write every raw timing as JSON")
    ap.add_argument("--load", metavar="PATH", help="print the tables of a --json dump; no runs")
    ap.add_argument(
        "--only",
        metavar="TEXT[,TEXT...]",
        help="time only the variants whose name contains one of these texts, e.g. "
        "'float64 jobs 2,dask' for the Dask executor against --jobs 2",
    )
    ap.add_argument("--config", default="configs/w1.yaml", help="workload (default W1)")
    ap.add_argument(
        "--against",
        metavar="DIR",
        help="also time W1 (float64, --jobs 2) with another lrbench checkout DIR (its own .venv), "
        "e.g. git worktree add /tmp/ref REF && make -C /tmp/ref install",
    )
    ap.add_argument(
        "--against-args",
        metavar="ARGS",
        help="sweep arguments for both sides of the --against A/B (this tree then runs it as a "
        "variant of its own), e.g. --against-args=--no-plots to compare the same work",
    )
    args = ap.parse_args(argv)
    os.chdir(ROOT)

    if args.load:
        dump = json.loads(Path(args.load).read_text())
    else:
        repeat = 1 if args.quick else args.repeat
        tv = torch_version()
        with_dask = dask_available()
        vs = variants(args.config, tv is not None and not args.quick, args.scaling, with_dask)
        if args.against:
            extra = shlex.split(args.against_args or "")
            if extra:
                vs.append(mate_variant(args.config, extra))
            else:  # the table's own row is the A/B's side: its phases are recorded too
                vs = [with_phases(v) if v["name"] == MATE else v for v in vs]
            vs.append(against_variant(args.config, Path(args.against).resolve(), extra))
        if args.only:
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            vs = [v for v in vs if any(w in v["name"] for w in wanted)]
            if not vs:
                ap.error(f"--only {args.only!r} matches no variant")
        dump = {
            "repeat": repeat,
            "config": args.config,
            "machine": machine(tv),
            "load_before": _load(),
            "dask": with_dask,
            "variants": vs,
            "peak_rounds": [],
        }
        if not args.quick and tv is None:
            print(
                "bench: `import torch` failed; the PyTorch loop is skipped "
                "(pip install torch==2.13.0)",
                file=sys.stderr,
            )
        if not with_dask:
            print(f"bench: {DASK_SKIPPED}", file=sys.stderr)
        subprocess.run([PY, "-m", "compileall", "-q", "lrbench", "benchmarks"], check=True)
        for v in vs:  # the reference tree too: without bytecode it compiles at every start
            if v.get("against"):
                subprocess.run([v["argv"][0], "-m", "compileall", "-q", "lrbench"],
                               cwd=v["cwd"], check=True)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="lrbench-bench-") as tmp:
            dump["records"] = measure(vs, repeat, Path(tmp), dump["peak_rounds"])
            dump["flops"] = {}
            for v in vs:
                if v["kind"] == "lrbench" and v["jobs"] == 1 and not v.get("scaling"):
                    dump["flops"][v["dtype"]] = workload_flops(args.config, v["dtype"])
        dump["load_after"] = _load()
        # The machine's limit: the best round (other load on the machine only lowers it).
        dump["peak_gflops"] = {d: max(p[d] for p in dump["peak_rounds"]) for d in DTYPES}
        if args.json:
            Path(args.json).write_text(json.dumps(dump, indent=1) + "\n")
    print(render(dump, markdown=False))
    if args.markdown:
        print(render(dump, markdown=True))
    return 0


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
