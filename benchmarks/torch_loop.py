"""The user's alternative: a plain PyTorch training loop, one run at a time, one thread.

What a practitioner writes for each run of a config: ``nn.Sequential`` (``Linear`` for logreg,
``Linear -> ReLU -> Linear`` for the MLP), ``torch.set_default_dtype`` per the config,
``torch.set_num_threads(1)``, the data of ``lrbench.core.data.load_data`` (same split and
standardisation), a fresh permutation every epoch from a ``torch.Generator`` seeded by the run
seed, minibatches by index, ``F.cross_entropy``, the ``torch.optim`` optimizer with the config's
hyperparameters, the ``torch.optim.lr_scheduler`` stepped after every batch (constant: none;
cosine: ``CosineAnnealingLR(T_max=steps)``; step: ``MultiStepLR``), ``.item()`` of every
minibatch loss, and lrbench's evaluation work: before training and after every epoch, the full
training-set loss and the validation loss and accuracy under ``torch.no_grad()``. No
divergence stop (a practitioner's loop runs its budget).

Supports what W1 uses (logreg, mlp relu/tanh; sgd, momentum, nesterov, adam, amsgrad; constant,
cosine, step; no warmup) and fails clearly otherwise. Needs ``pip install torch==2.13.0``.

    .venv/bin/python benchmarks/torch_loop.py configs/w1.yaml [--set train.dtype=float32]

The last line of stdout is JSON: ``{"train_s": total training seconds, "runs": n, ...}``.

Correctness check: ``--match-lrbench`` takes the initial parameters and the minibatch order
from lrbench's own generators (``lrbench.core.engine.seed_streams``), so the curves can be compared
with a sweep's results: ``--compare RESULTS_DIR`` prints, per run, the largest relative
difference of the per-epoch validation losses and the ratio of the final ones.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from lrbench.config import load_config  # noqa: E402
from lrbench.core.engine import seed_streams  # noqa: E402
from lrbench.core.models import Model  # noqa: E402
from lrbench.core.tasks import load_task_data, steps_per_epoch  # noqa: E402
from lrbench.params import to_steps  # noqa: E402
from lrbench.spec import RunSpec  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - depends on the machine
    torch = None

SGD_KEYS = {"momentum", "dampening", "nesterov", "weight_decay"}
ADAM_KEYS = {"betas", "eps", "weight_decay", "amsgrad"}
TORCH_OPTIMIZERS = {
    "sgd": SGD_KEYS,
    "momentum": SGD_KEYS,
    "nesterov": SGD_KEYS,
    "adam": ADAM_KEYS,
    "amsgrad": ADAM_KEYS,
}


class Unsupported(Exception):
    """A spec this loop does not implement."""


def build_model(spec: RunSpec, d_in: int, n_classes: int) -> nn.Sequential:
    """``nn.Sequential`` of the spec's model; logreg starts at zero, as lrbench's does."""
    if spec.task.model == "logreg":
        model = nn.Sequential(nn.Linear(d_in, n_classes))
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        return model
    if spec.task.model == "mlp":
        mp = dict(spec.task.model_params)
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}.get(mp.get("activation", "relu"))
        if act is None:
            raise Unsupported(f"mlp activation {mp['activation']!r}")
        layers: list[nn.Module] = []
        width = d_in
        for h in mp.get("hidden", (64,)):
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        return nn.Sequential(*layers)
    raise Unsupported(f"model {spec.task.model!r} (only logreg and mlp)")


def copy_lrbench_init(model: nn.Sequential, spec: RunSpec, d_in: int, n_classes: int) -> None:
    """Overwrite the parameters with lrbench's initialisation of this spec's seed."""
    lr_model = Model(
        spec.task.model, dict(spec.task.model_params), d_in, n_classes, spec.train.dtype
    )
    params = lr_model.init([seed_streams(spec.seed)[0]])
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            lin.weight.copy_(torch.from_numpy(np.array(params[2 * i][0].T)))
            lin.bias.copy_(torch.from_numpy(np.array(params[2 * i + 1][0, 0])))


def build_optimizer(spec: RunSpec, model: nn.Module) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer with the spec's hyperparameters."""
    keys = TORCH_OPTIMIZERS.get(spec.optimizer)
    if keys is None:
        raise Unsupported(f"optimizer {spec.optimizer!r} (only {', '.join(TORCH_OPTIMIZERS)})")
    hp = dict(spec.optimizer_params)
    if set(hp) - keys:
        raise Unsupported(f"{spec.optimizer} parameters {sorted(set(hp) - keys)}")
    if keys is SGD_KEYS:
        return torch.optim.SGD(model.parameters(), lr=spec.lr, **hp)
    hp["betas"] = tuple(hp.get("betas", (0.9, 0.999)))
    return torch.optim.Adam(model.parameters(), lr=spec.lr, **hp)


def build_scheduler(spec: RunSpec, opt: torch.optim.Optimizer, steps: int) -> Any:
    """The ``torch.optim.lr_scheduler`` of the spec (``None`` for constant), stepped per batch."""
    p = dict(spec.schedule_params)
    if p.get("warmup", 0):
        raise Unsupported("warmup")

    def dur(v: int | float) -> int:  # lrbench's durations: steps, or a fraction of the run
        return max(1, to_steps(v, steps))

    if spec.schedule == "constant":
        return None
    if spec.schedule == "cosine":
        t_max = dur(p["T_max"]) if p.get("T_max") is not None else steps
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=t_max, eta_min=p.get("eta_min", 0.0)
        )
    if spec.schedule == "step":
        milestones = sorted(dur(m) for m in p["milestones"])
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=p["gamma"])
    raise Unsupported(f"schedule {spec.schedule!r} (only constant, cosine, step)")


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        out = model(X)
        return F.cross_entropy(out, y).item(), (out.argmax(dim=1) == y).double().mean().item()


def train_one(spec: RunSpec, tensors: dict[str, Any], match: bool) -> dict[str, list[float]]:
    """One run; returns its per-epoch curves (evaluation before training and after each epoch)."""
    Xtr, ytr, Xva, yva = tensors["Xtr"], tensors["ytr"], tensors["Xva"], tensors["yva"]
    n, d_in = Xtr.shape
    n_classes = tensors["n_classes"]
    tr = spec.train
    bs = tr.batch_size if tr.batch_size is not None and tr.batch_size < n else n
    per_epoch = steps_per_epoch(n, tr.batch_size)
    if tr.steps % per_epoch or tr.eval_every not in (None, per_epoch):
        raise Unsupported("only whole epochs with one evaluation an epoch")
    epochs = tr.steps // per_epoch

    torch.manual_seed(spec.seed)
    model = build_model(spec, d_in, n_classes)
    if match:
        copy_lrbench_init(model, spec, d_in, n_classes)
        order_rng = seed_streams(spec.seed)[1]
    gen = torch.Generator().manual_seed(spec.seed)
    opt = build_optimizer(spec, model)
    sched = build_scheduler(spec, opt, tr.steps)

    curves: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_accuracy": []}
    batch_losses = []

    def log_eval() -> None:
        tr_loss, _ = evaluate(model, Xtr, ytr)
        va_loss, va_acc = evaluate(model, Xva, yva)
        curves["train_loss"].append(tr_loss)
        curves["val_loss"].append(va_loss)
        curves["val_accuracy"].append(va_acc)

    log_eval()
    for _ in range(epochs):
        if bs == n:
            perm = torch.arange(n)
        elif match:
            perm = torch.from_numpy(order_rng.permutation(n))
        else:
            perm = torch.randperm(n, generator=gen)
        for j in range(per_epoch):
            idx = perm[j * bs : (j + 1) * bs]
            loss = F.cross_entropy(model(Xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            batch_losses.append(loss.item())
        log_eval()
    return curves


def compare(specs: list[RunSpec], curves: dict[str, dict], results_dir: Path) -> dict[str, Any]:
    """Per run: the largest relative difference of the validation losses (over the epochs both
    have) and torch's final / lrbench's final validation loss."""
    rows = []
    for s in specs:
        path = results_dir / "runs" / f"{s.run_id}.json"
        if not path.is_file():
            continue
        ev = json.loads(path.read_text())["eval"]
        ours = np.array([np.nan if v is None else v for v in ev["val_loss"]])
        theirs = np.array(curves[s.run_id]["val_loss"])
        m = min(len(ours), len(theirs))
        rel = np.abs(theirs[:m] - ours[:m]) / np.abs(ours[:m])
        rows.append(
            {
                "run": f"{s.task.model} {s.optimizer} {s.schedule} lr={s.lr:g} seed={s.seed}",
                "epochs": m - 1,
                "max_rel_diff": float(np.nanmax(rel)),
                "final_ratio": float(theirs[m - 1] / ours[m - 1]),
            }
        )
    for r in rows:
        print(
            f"{r['run']:<44} epochs {r['epochs']:>3}  max rel diff {r['max_rel_diff']:.2e}"
            f"  final torch/lrbench {r['final_ratio']:.6f}"
        )
    return {"compared": len(rows), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="lrbench config file, e.g. configs/w1.yaml")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument(
        "--match-lrbench",
        action="store_true",
        help="initial parameters and minibatch order from lrbench's generators (for checks)",
    )
    ap.add_argument("--compare", metavar="RESULTS_DIR", help="compare curves with a sweep's runs")
    ap.add_argument("--curves", metavar="PATH", help="write the per-epoch curves as JSON")
    args = ap.parse_args(argv)
    if torch is None:
        print("torch is not installed: pip install torch==2.13.0", file=sys.stderr)
        return 3

    specs = load_config(args.config, args.set).specs()
    dtype = specs[0].train.dtype
    if any(s.train.dtype != dtype for s in specs):
        raise Unsupported("one dtype per config")
    torch.set_default_dtype(getattr(torch, dtype))
    torch.set_num_threads(1)

    tensors: dict[Any, dict[str, Any]] = {}
    for s in specs:
        if s.task not in tensors:
            data = load_task_data(s.task, dtype)
            if not data.n_classes:
                raise Unsupported("regression tasks")
            tensors[s.task] = {
                "Xtr": torch.tensor(np.array(data.X_train)),
                "ytr": torch.tensor(np.array(data.y_train)),
                "Xva": torch.tensor(np.array(data.X_val)),
                "yva": torch.tensor(np.array(data.y_val)),
                "n_classes": data.n_classes,
            }

    total = 0.0
    curves = {}
    for s in specs:
        start = time.perf_counter()
        curves[s.run_id] = train_one(s, tensors[s.task], args.match_lrbench)
        total += time.perf_counter() - start

    if args.curves:
        Path(args.curves).write_text(json.dumps(curves))
    out: dict[str, Any] = {
        "train_s": total,
        "runs": len(specs),
        "steps": sum(s.train.steps for s in specs),
        "dtype": dtype,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if args.compare:
        check = compare(specs, curves, Path(args.compare))
        worst = max((r["max_rel_diff"] for r in check["rows"]), default=math.nan)
        out.update(compared=check["compared"], worst_max_rel_diff=worst)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Unsupported as exc:
        print(f"torch_loop: unsupported: {exc}", file=sys.stderr)
        sys.exit(2)
