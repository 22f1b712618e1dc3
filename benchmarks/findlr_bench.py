"""`make bench-findlr`: find-lr's suggestions, and its peers', against the answer of a sweep.

For every task of a suite with a known answer, and on the *same* recorded range tests:

1. ``lrbench find-lr`` runs with its defaults (5 seeds, 100 steps, 1e-6 -> 10, probe curve);
   each of lrbench's methods gives the cross-seed median, the recommendation is
   ``--suggest auto``'s, the default (knee for the Adam family, minimum otherwise; capped
   at the stability bound where one is known);
2. each peer (``findlr_peers.py``: fastai ``valley``/``minimum``/``steep``/``slide``,
   Lightning, torch-lr-finder) reads every seed's minibatch-loss curve (what the libraries
   record), and its answer is the log-space median over seeds, as lrbench's is; the same peers
   on lrbench's probe curve are reported apart (the rule, not the curve);
3. the answer is the best learning rate of a fine sweep (quarter-decade grid 1e-5 .. 10, seeds
   0-2, constant schedule, the task's own batch size and budget), by lrbench's own analysis
   (``best_per_row`` on ``final_val_loss``); every suggested learning rate is trained too, with
   the same seeds and budget.

Per method: ``|log10(suggested / best)|`` (median and worst over tasks; no suggestion counts
as infinitely far), and how often the suggested learning rate's own cell (no diverged seed) is
within the sweep's tolerance of the best (``lrbench.sweep.analysis.tolerance``: 5 % of the best
final validation loss, at least 1e-3). The tasks come in five parts reported separately
(:func:`suite`): *design* (looked at while changing lrbench's method), *held-out A* (looked at
once before the last change, so no longer clean), *held-out B* (run once at the end of the
first round, then seen while the method changed again), *held-out C* (:func:`part_c`: fixed
and committed before its first run, run once with the final method) and *held-out D*
(:func:`part_d`: a second clean part, fixed and committed before its only run) and *held-out
E* (:func:`part_e`: the clean part for ``--suggest auto``, chosen after C and D were seen).

    .venv/bin/python benchmarks/findlr_bench.py [--part all|seen|design|"held-out A"|"held-out B"
                                                 |"held-out C"|"held-out D"|"held-out E"|quick]
                                                [--jobs 2] [--out DIR] [--json PATH]

``--part quick`` runs 4 design tasks (for development), ``--part seen`` design, A and B. Sweeps resume from ``--out`` (default
``results/bench-findlr``): a second run only trains what is new.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from findlr_peers import PEERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GRID = tuple(10.0 ** (k / 4) for k in range(-20, 5))  # 1e-5 .. 10, a quarter decade apart
SEEDS = (0, 1, 2)
METRIC = "final_val_loss"
LRBENCH = ("knee", "minimum", "steepest", "valley", "range")
CLASSIFY = {"epochs": 20, "batch_size": 32}
FULL_BATCH = {"steps": 200, "batch_size": "full"}


@dataclass
class Task:
    name: str
    task: dict[str, Any]
    optimizer: str
    train: dict[str, Any]
    part: str  # one of PARTS
    result: dict[str, Any] = field(default_factory=dict)


def issue21_csv(path: Path, seed: int = 0) -> Path:
    """Issue 21's least squares: 600 rows, 8 features with scales 1 .. 30 (evenly spaced),
    ``target = sum(features) + N(0, 0.1^2)`` (after the 80/20 split: 480 training rows)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, 8)) * np.linspace(1.0, 30.0, 8)
    return _write_csv(path, X, X.sum(axis=1) + 0.1 * rng.standard_normal(600))


def correlated_csv(path: Path, d: int, spread: float, seed: int) -> Path:
    """Ill-conditioned least squares: ``x_j = u + spread * e_j`` (one common factor, so after
    standardising the Hessian has one eigenvalue ~ d and d - 1 near ``spread^2 / (1 +
    spread^2)``), ``target = X w + N(0, 0.1^2)`` with ``w ~ N(0, 1)``; 600 rows. Gradient
    descent needs the largest stable lr to fit the small directions, so the best lr of a fixed
    budget sits just below 2/L."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, 1)) + spread * rng.standard_normal((600, d))
    y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(600)
    return _write_csv(path, X, y)


def sklearn_csv(path: Path, generator: str, **params: Any) -> Path:
    """``sklearn.datasets.<generator>(**params)`` written as a CSV (target column ``target``),
    for the generators lrbench does not have: ``make_gaussian_quantiles`` (class k: the k-th of
    equal-count shells of ``|x - mean|^2``), ``make_hastie_10_2`` (``y = 1`` iff ``sum x_j^2 >
    9.34``, written 0/1), ``make_friedman1`` (``y = 10 sin(pi x0 x1) + 20 (x2 - 1/2)^2 + 10 x3 + 5
    x4 + noise N(0, 1)``, x uniform), ``make_sparse_uncorrelated`` (``y = x0 + 2 x1 - 2 x2 - 1.5
    x3 + N(0, 1)``, x standard normal)."""
    import sklearn.datasets as skd

    X, y = getattr(skd, generator)(**params)
    return _write_csv(path, X, (y > 0).astype(int) if generator == "make_hastie_10_2" else y)


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    lines = [",".join([*(f"x{i}" for i in range(X.shape[1])), "target"])]
    lines += [",".join(f"{v:.10g}" for v in (*row, t)) for row, t in zip(X, y)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def csv(path: Path) -> dict[str, Any]:
    """A task's data part for a CSV written by :func:`sklearn_csv` (target column ``target``)."""
    return {"dataset": str(path), "target": "target"}


PARTS = ("design", "held-out A", "held-out B", "held-out C", "held-out D", "held-out E")
SEEN = PARTS[:3]  # looked at while the method changed (issue 21's last goal); C and D were not


def suite(out: Path, part: str) -> list[Task]:
    """The tasks, in five parts each fixed before its results were seen (``part``: one of
    :data:`PARTS`, ``all``, ``seen`` for the first three, or ``quick`` for 4 design tasks):

    - design: {digits, wine} x {logreg, mlp [32]} x {sgd, momentum, adam}, batch 32, 20 epochs;
      least squares, full batch, 200 steps, x {sgd, momentum}: the issue-21 data and a
      correlated one (8 features, spread 0.3);
    - held-out A: the same with {iris, breast_cancer}, make_regression (20 features) and a
      correlated least squares (12 features, spread 0.1);
    - held-out B (added after A had been looked at once): the same with make_classification
      (scikit-learn's defaults: 20 features, 2 classes, 1 % flipped labels) and make_moons
      (noise 0.2), and a correlated least squares (16 features, spread 0.2);
    - held-out C: :func:`part_c`; held-out D: :func:`part_d`; held-out E: :func:`part_e`.
    """
    ls = {
        "design": (
            ("issue21", {"dataset": str(issue21_csv(out / "issue21.csv"))}),
            ("corr8", {"dataset": str(correlated_csv(out / "corr8.csv", 8, 0.3, 1))}),
        ),
        "held-out A": (
            ("regression", {"dataset": "regression", "n_features": 20}),
            ("corr12", {"dataset": str(correlated_csv(out / "corr12.csv", 12, 0.1, 2))}),
        ),
        "held-out B": (
            ("corr16", {"dataset": str(correlated_csv(out / "corr16.csv", 16, 0.2, 3))}),
        ),
    }
    classify = {
        "design": ("digits", "wine"),
        "held-out A": ("iris", "breast_cancer"),
        "held-out B": ("classification", "moons"),
    }
    tasks = []
    for where in SEEN:
        for data in classify[where]:
            for model in ("logreg", "mlp"):
                t = {"dataset": data, "model": model} | ({"hidden": [32]} if model == "mlp" else {})
                for opt in ("sgd", "momentum", "adam"):
                    tasks.append(Task(f"{data}/{model}/{opt}", t, opt, CLASSIFY, where))
        for name, data in ls[where]:
            t = data | {"model": "linear"} | ({} if "n_features" in data else {"target": "target"})
            for opt in ("sgd", "momentum"):
                tasks.append(Task(f"{name}/linear/{opt}", t, opt, FULL_BATCH, where))
    tasks += part_c(out) + part_d(out) + part_e(out)
    if part == "quick":
        keep = ("digits/logreg/sgd", "wine/mlp/adam", "corr8/linear/momentum", "issue21/linear/sgd")
        return [t for t in tasks if t.name in keep]
    if part == "seen":
        return [t for t in tasks if t.part in SEEN]
    return [t for t in tasks if part in ("all", t.part)]


def part_c(out: Path) -> list[Task]:
    """Held-out C (16 tasks), fixed and committed before it was ever run, to test the method as
    changed on design, A and B (issue 21's last goal). Everything differs from the other parts:
    datasets, batch sizes, budgets, MLP widths, a Nesterov optimizer, a conditioned regression:

    - make_blobs (800 rows, 8 features, 4 overlapping clusters: std 3) x {logreg, MLP [64]} x
      {sgd, momentum, adam}, batch 64, 10 epochs (100 steps: the range test's own length);
    - make_circles (800 rows, noise 0.15) x MLP [16, 16] x {sgd, nesterov, adam}, batch 16,
      10 epochs (400 steps);
    - make_classification (1000 rows, 10 features, 6 informative, 3 classes, class_sep 0.8,
      seed 7) x logreg x {sgd, momentum, adam}, batch 128, 40 epochs (280 steps);
    - least squares, full batch: a correlated one (10 features, spread 0.15, seed 4), 400 steps,
      x {sgd, momentum}; make_regression (15 features, noise 5, condition number 30, seed 6),
      100 steps, x {sgd, nesterov}.
    """
    where = "held-out C"
    blobs = {"dataset": "blobs", "n_samples": 800, "n_features": 8, "centers": 4}
    blobs |= {"cluster_std": 3.0, "seed": 3}
    circles = {"dataset": "circles", "n_samples": 800, "noise": 0.15, "seed": 2}
    three = {"dataset": "classification", "n_samples": 1000, "n_features": 10}
    three |= {"n_informative": 6, "n_classes": 3, "class_sep": 0.8, "seed": 7}
    conditioned = {"dataset": "regression", "n_features": 15, "n_informative": 15}
    conditioned |= {"noise": 5.0, "condition_number": 30.0, "seed": 6, "model": "linear"}
    corr10 = {"dataset": str(correlated_csv(out / "corr10.csv", 10, 0.15, 4)), "target": "target"}
    plan = [
        ("blobs/logreg", blobs | {"model": "logreg"}, ("sgd", "momentum", "adam"), 64, 10),
        ("blobs/mlp64", blobs | {"model": "mlp", "hidden": [64]}, ("sgd", "momentum", "adam"), 64, 10),
        ("circles/mlp16x16", circles | {"model": "mlp", "hidden": [16, 16]}, ("sgd", "nesterov", "adam"), 16, 10),
        ("classification3/logreg", three | {"model": "logreg"}, ("sgd", "momentum", "adam"), 128, 40),
    ]  # fmt: skip
    tasks = [
        Task(f"{name}/{opt}", t, opt, {"epochs": epochs, "batch_size": batch}, where)
        for name, t, opts, batch, epochs in plan
        for opt in opts
    ]
    for name, t, opts, steps in (
        ("corr10/linear", corr10 | {"model": "linear"}, ("sgd", "momentum"), 400),
        ("regression-c30/linear", conditioned, ("sgd", "nesterov"), 100),
    ):
        train = {"steps": steps, "batch_size": "full"}
        tasks += [Task(f"{name}/{opt}", t, opt, train, where) for opt in opts]
    return tasks


def part_d(out: Path) -> list[Task]:
    """Held-out D (18 tasks), fixed and committed before it was ever run, with the method as it
    stood for C (issue 21: a second clean part, nothing in lrbench changed). Generators, MLP
    widths, batch sizes, budgets and RMSprop are new to the suite:

    - make_hastie_10_2 (1000 rows, 10 features, 2 classes, seed 8) x MLP [128] x {sgd,
      momentum, adam, rmsprop}, batch 256, 50 epochs (200 steps);
    - make_gaussian_quantiles (800 rows, 4 features, 3 classes, seed 9) x MLP [32, 32] x {sgd,
      nesterov, rmsprop}, batch 32, 15 epochs (300 steps);
    - make_classification (1200 rows, 12 features, 6 informative, 4 classes, class_sep 1.2,
      10 % flipped labels, seed 10) x logreg x {sgd, momentum, adam} and x MLP [8] x {sgd,
      nesterov, rmsprop}, batch 8, 5 epochs (600 steps);
    - least squares, full batch: make_friedman1 (600 rows, 10 features, noise 1, seed 12),
      50 steps, x {sgd, momentum}; make_sparse_uncorrelated (600 rows, 12 features, seed 13),
      150 steps, x {sgd, momentum, nesterov}.
    """
    where = "held-out D"
    hastie = sklearn_csv(out / "hastie.csv", "make_hastie_10_2", n_samples=1000, random_state=8)
    quantiles = sklearn_csv(
        out / "quantiles.csv", "make_gaussian_quantiles", n_samples=800, n_features=4,
        n_classes=3, random_state=9,
    )  # fmt: skip
    four = {"dataset": "classification", "n_samples": 1200, "n_features": 12}
    four |= {"n_informative": 6, "n_classes": 4, "class_sep": 1.2, "flip_y": 0.1, "seed": 10}
    friedman = sklearn_csv(
        out / "friedman1.csv", "make_friedman1", n_samples=600, n_features=10, noise=1.0,
        random_state=12,
    )  # fmt: skip
    sparse = sklearn_csv(
        out / "sparse.csv", "make_sparse_uncorrelated", n_samples=600, n_features=12,
        random_state=13,
    )  # fmt: skip

    plan = [
        ("hastie/mlp128", csv(hastie) | {"model": "mlp", "hidden": [128]}, ("sgd", "momentum", "adam", "rmsprop"), {"epochs": 50, "batch_size": 256}),
        ("quantiles/mlp32x32", csv(quantiles) | {"model": "mlp", "hidden": [32, 32]}, ("sgd", "nesterov", "rmsprop"), {"epochs": 15, "batch_size": 32}),
        ("classification4/logreg", four | {"model": "logreg"}, ("sgd", "momentum", "adam"), {"epochs": 5, "batch_size": 8}),
        ("classification4/mlp8", four | {"model": "mlp", "hidden": [8]}, ("sgd", "nesterov", "rmsprop"), {"epochs": 5, "batch_size": 8}),
        ("friedman1/linear", csv(friedman) | {"model": "linear"}, ("sgd", "momentum"), {"steps": 50, "batch_size": "full"}),
        ("sparse/linear", csv(sparse) | {"model": "linear"}, ("sgd", "momentum", "nesterov"), {"steps": 150, "batch_size": "full"}),
    ]  # fmt: skip
    return [Task(f"{n}/{opt}", t, opt, train, where) for n, t, opts, train in plan for opt in opts]


def part_e(out: Path) -> list[Task]:
    """Held-out E (18 tasks), fixed and committed before it was ever run, together with the
    method it tests: ``--suggest auto`` (knee for the Adam family, minimum otherwise), chosen
    after C and D had been seen, so E is the only clean part for it. Half of it is the Adam
    family (adam, adamw, amsgrad, nadam), where ``auto`` departs from ``minimum``; data,
    widths, batch sizes and AdamW, AMSGrad, NAdam and Adagrad are new to the suite:

    - scikit-learn's diabetes data (442 rows, 10 features; a real dataset, bundled with the
      library) x linear: full batch, 300 steps, x {sgd, momentum, nesterov}; batch 32,
      20 epochs (240 steps), x {adam, adamw};
    - make_classification (2000 rows, 30 features, 10 informative, 5 classes, class_sep 1.0,
      5 % flipped labels, seed 21) x MLP [64, 32] x {adam, adamw, amsgrad, sgd, nesterov},
      batch 64, 8 epochs (200 steps);
    - make_gaussian_quantiles (1500 rows, 6 features, 4 classes, seed 22) x MLP [64] x {adam,
      nadam, momentum, adagrad}, batch 128, 40 epochs (400 steps);
    - make_blobs (1000 rows, 20 features, 6 centres, std 4, seed 23) x logreg x {adam, adamw,
      sgd, rmsprop}, batch 16, 3 epochs (150 steps).
    """
    where = "held-out E"
    diabetes = sklearn_csv(out / "diabetes.csv", "load_diabetes", return_X_y=True)
    quantiles6 = sklearn_csv(
        out / "quantiles6.csv", "make_gaussian_quantiles", n_samples=1500, n_features=6,
        n_classes=4, random_state=22,
    )  # fmt: skip
    five = {"dataset": "classification", "n_samples": 2000, "n_features": 30}
    five |= {"n_informative": 10, "n_classes": 5, "class_sep": 1.0, "flip_y": 0.05, "seed": 21}
    blobs20 = {"dataset": "blobs", "n_samples": 1000, "n_features": 20, "centers": 6}
    blobs20 |= {"cluster_std": 4.0, "seed": 23}

    plan = [
        ("diabetes/linear", csv(diabetes) | {"model": "linear"}, ("sgd", "momentum", "nesterov"), {"steps": 300, "batch_size": "full"}),
        ("diabetes/linear-b32", csv(diabetes) | {"model": "linear"}, ("adam", "adamw"), {"epochs": 20, "batch_size": 32}),
        ("classification5/mlp64x32", five | {"model": "mlp", "hidden": [64, 32]}, ("adam", "adamw", "amsgrad", "sgd", "nesterov"), {"epochs": 8, "batch_size": 64}),
        ("quantiles6/mlp64", csv(quantiles6) | {"model": "mlp", "hidden": [64]}, ("adam", "nadam", "momentum", "adagrad"), {"epochs": 40, "batch_size": 128}),
        ("blobs20/logreg", blobs20 | {"model": "logreg"}, ("adam", "adamw", "sgd", "rmsprop"), {"epochs": 3, "batch_size": 16}),
    ]  # fmt: skip
    return [Task(f"{n}/{opt}", t, opt, train, where) for n, t, opts, train in plan for opt in opts]


def config(task: Task, lrs: tuple[float, ...]) -> Any:
    from lrbench.config import validate

    raw = {
        "name": task.name.replace("/", "-"),
        "seeds": list(SEEDS),
        "tasks": [task.task],
        "optimizers": [task.optimizer],
        "schedules": ["constant"],
        "train": dict(task.train),
        "lr": sorted(set(lrs)),
        "analysis": {"metric": METRIC},
    }
    return validate(raw)


def log_median(values: list[float | None]) -> float | None:
    """The cross-seed median in log space (lrbench's own ``aggregate``), None if no value."""
    from lrbench.finder.suggest import aggregate

    return aggregate(values)["median"]


def find(task: Task) -> dict[str, float | None]:
    """Every method's suggestion for one task, all read off one ``find-lr`` run."""
    from lrbench.finder import run as finder
    from lrbench.finder.settings import resolve

    outcome = finder.run(config(task, GRID[:1]), resolve())
    pair = outcome.pairs[0]
    got: dict[str, float | None] = {"lrbench recommended": pair.recommended}
    for m in LRBENCH:
        got[f"lrbench {m}"] = pair.aggregates[m]["median"]
    for curve, suffix in (("batch", ""), ("probe", " (probe)")):
        for name, rule in PEERS.items():
            per_seed = [rule(outcome.lrs, s.curve(curve)[: s.rows]) for s in pair.seeds]
            got[name + suffix] = log_median(per_seed)
    at = [s.suggestions["range"].index for s in pair.seeds]  # the (uncapped) minima
    top = log_median([None if i is None else float(outcome.lrs[i]) for i in at])
    fastai_top = got["fastai minimum (probe)"]
    task.result["find"] = {
        "lr_at_minimum": top,
        "fastai_lag": None if None in (top, fastai_top) else 10 * fastai_top / top,
        "bound_2_over_L": pair.bound,
        "cap": pair.cap,
        "stops": [s.divergence.stop_step for s in pair.seeds],
        "stop_reasons": sorted({s.divergence.reason for s in pair.seeds}),
    }
    return got


def eligible(cell: dict[str, Any]) -> bool:
    """The sweep's own rule (``best_per_row``): a cell competes if no seed diverged and its
    score is finite. Cells the sweep calls ``unstable`` compete too: heavy ball on least
    squares oscillates (so is ``unstable``) and still converges to the same loss."""
    return cell["n_diverged"] == 0 and math.isfinite(cell["score"])


def evaluate(task: Task, suggested: dict[str, float | None], out: Path, jobs: int) -> None:
    """Sweep the grid and every suggested lr; score each method against the grid's best."""
    from lrbench.sweep.analysis import best_per_row, tolerance
    from lrbench.sweep.run import run as sweep

    extra = tuple(v for v in suggested.values() if v is not None)
    done = sweep(config(task, GRID + extra), out=out / "sweeps" / task.name, jobs=jobs)
    cells = {c.lr: c for c in done.analysis.cells}
    grid = [cells[lr] for lr in GRID]
    best = dataclasses.asdict(best_per_row(grid, METRIC)[0])
    cells = {lr: dataclasses.asdict(c) for lr, c in cells.items()}
    tol = tolerance(best["best_score"], METRIC)
    scores = {}
    for method, lr in suggested.items():
        cell = cells.get(lr) if lr is not None else None
        ok = cell is not None and eligible(cell)
        scores[method] = {
            "lr": lr,
            "error": math.inf if lr is None else abs(math.log10(lr / best["best_lr"])),
            "band_error": band_error(lr, best["band_lo"], best["band_hi"]),
            "score": cell["score"] if cell is not None else None,
            "within": bool(ok and cell["score"] - best["best_score"] <= tol),
        }
    task.result.update(best_lr=best["best_lr"], best_score=best["best_score"], tolerance=tol)
    band = (best["band_lo"], best["band_hi"], best["band_decades"])
    task.result.update(edge=best["edge"], band=band, best_status=best["best_status"])
    task.result["methods"] = scores


def band_error(lr: float | None, lo: float, hi: float) -> float:
    """Decades from ``lr`` to the sweep's band ``[lo, hi]`` (the contiguous grid points within
    tolerance around the best): 0 inside it. Where the band is wide the best lr inside it is
    set by noise, and ``|log10(lr / best)|`` measures that noise as much as the method."""
    if lr is None:
        return math.inf
    return max(math.log10(lo / lr), math.log10(lr / hi), 0.0)


def summary(tasks: list[Task], where: str | tuple[str, ...]) -> list[dict[str, Any]]:
    """Per method over one part of the suite (or several, pooled: a tuple of parts): median and
    worst error, within-tolerance rate."""
    part = [t for t in tasks if t.part in ((where,) if isinstance(where, str) else where)]
    if not part:
        return []
    rows = []
    for method in part[0].result["methods"]:
        errs = [t.result["methods"][method]["error"] for t in part]
        within = sum(t.result["methods"][method]["within"] for t in part)
        band = [t.result["methods"][method]["band_error"] for t in part]
        rows.append({
            "method": method, "n": len(part), "median": float(np.median(errs)),
            "worst": max(errs), "within": within, "none": sum(math.isinf(e) for e in errs),
            "band_median": float(np.median(band)), "band_mean": float(np.mean(band)),
        })  # fmt: skip
    return rows


def markdown_summary(rows: list[dict[str, Any]], probe: bool) -> list[str]:
    lines = [
        "| method | median \\|log10(lr / best)\\| | worst | within tolerance | no answer "
        "| decades to the band: median, mean |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["method"].endswith("(probe)") != probe:
            continue
        worst = "none" if math.isinf(r["worst"]) else f"{r['worst']:.2f}"
        lines.append(
            f"| {r['method']} | {r['median']:.2f} | {worst} | {r['within']}/{r['n']} | {r['none']} "
            f"| {r['band_median']:.2f}, {r['band_mean']:.2f} |"
        )
    return lines


def markdown_tasks(tasks: list[Task], methods: list[str]) -> list[str]:
    head = "| task | part | best lr | band | 2/L | stops | " + " | ".join(methods) + " |"
    lines = [head, "|" + "---|" * (6 + len(methods))]
    for t in tasks:
        r, f = t.result, t.result["find"]
        bound = "-" if f["bound_2_over_L"] is None else f"{f['bound_2_over_L']:.3g}"
        edge = f" ({r['edge']} edge)" if r["edge"] else ""
        edge += f" {r['best_status']}" if r["best_status"] != "ok" else ""
        band = f"{r['band'][0]:.2g}-{r['band'][1]:.2g}"
        cells = []
        for m in methods:
            s = r["methods"][m]
            mark = "" if s["within"] else " x"
            cells.append("none" if s["lr"] is None else f"{s['lr']:.2g}{mark}")
        stops = sorted({x if x is not None else "-" for x in f["stops"]}, key=str)
        part = t.part
        lines.append(
            f"| {t.name} | {part} | {r['best_lr']:.3g}{edge} | {band} | {bound} | "
            f"{','.join(map(str, stops))} | " + " | ".join(cells) + " |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all", choices=("all", "seen", *PARTS, "quick"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench-findlr")
    ap.add_argument("--json", type=Path, default=None, help="write every number here")
    args = ap.parse_args(argv)
    from lrbench.sweep.executor import limit_blas_threads

    limit_blas_threads()
    start = time.perf_counter()
    tasks = suite(args.out, args.part)
    for t in tasks:
        evaluate(t, find(t), args.out, args.jobs)
        print(f"{t.name}: best {t.result['best_lr']:.3g}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    lines = [f"{len(tasks)} tasks, grid {len(GRID)} lrs x {len(SEEDS)} seeds; {wall:.0f} s", ""]
    for title in PARTS:
        rows = summary(tasks, title)
        if rows:
            lines += [f"### {title} tasks", "", *markdown_summary(rows, probe=False), ""]
            lines += [f"peers on lrbench's probe curve ({title}):", ""]
            lines += [*markdown_summary(rows, probe=True), ""]
    for title, pooled in (("the clean parts C + D + E", PARTS[3:]), ("all parts", PARTS)):
        rows = summary(tasks, pooled)
        if rows and {t.part for t in tasks} >= set(pooled):
            lines += [f"### {title}, pooled", "", *markdown_summary(rows, probe=False), ""]
            lines += [f"peers on lrbench's probe curve ({title}):", ""]
            lines += [*markdown_summary(rows, probe=True), ""]
    lags = [t.result["find"]["fastai_lag"] for t in tasks if t.result["find"]["fastai_lag"]]
    lines += [
        "fastai's minimum x 10 (its EMA's minimum) / lrbench's lag-free minimum, both on the probe"
        f" curve: median {np.median(lags):.2f}, range {min(lags):.2f}-{max(lags):.2f}",
        "",
    ]
    short = ["lrbench recommended", "lrbench minimum", "lrbench steepest", *(p for p in PEERS)]
    lines += ["### per task (x: outside tolerance)", "", *markdown_tasks(tasks, short)]
    print("\n".join(lines))
    if args.json:
        data = [{"name": t.name, "part": t.part, **t.result} for t in tasks]
        args.json.write_text(json.dumps(data, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
