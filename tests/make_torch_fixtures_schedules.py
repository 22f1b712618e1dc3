"""Generate tests/fixtures/schedules_torch.json from torch.optim.lr_scheduler.

Run: ``.venv/bin/python tests/make_torch_fixtures_schedules.py``

Each case pairs lrbench schedule parameters with the torch scheduler that should reproduce them.
The torch side is written out by hand in steps (durations resolved by hand, not by lrbench), on
an ``SGD(momentum=0.9)`` optimizer stepped ``optimizer.step(); scheduler.step()``; the recorded
``lrs[t]`` (and ``momentum[t]``) is what update ``t`` uses.

Warmup ``w`` is the reference convention ``SequentialLR([LinearLR(1/w, 1, w-1), X], [w])``. For
``OneCycleLR`` (its constructor overwrites ``initial_lr``, which the recursive LinearLR then
warms up from) and for ``w == 1`` it is the equivalent ``SequentialLR([LambdaLR((t+1)/w), X], [w])``.
``inverse_sqrt`` and ``inverse_time`` have no torch class: ``LambdaLR`` with the documented
formula (the Keras InverseTimeDecay vector in the tests checks the latter independently).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "fixtures" / "schedules_torch.json"

# (lrbench name, lrbench params, lr, T, torch class, torch kwargs (in steps), warmup steps)
CASES = [
    ("constant", {}, 0.3, 12, "ConstantLR", {"factor": 1.0, "total_iters": 0}, 0),
    ("constant", {"warmup": 5}, 0.3, 20, "ConstantLR", {"factor": 1.0, "total_iters": 0}, 5),
    ("step", {}, 0.5, 40, "MultiStepLR", {"milestones": [20, 30], "gamma": 0.1}, 0),
    ("step", {"milestones": [3, 0.5, 3], "gamma": 0.5}, 1.0, 30, "MultiStepLR", {"milestones": [3, 15, 3], "gamma": 0.5}, 0),
    # warmup 0.1 of 50 = 5; milestones fractions of n = 45: 0.2 -> 9, 0.6 -> 27
    ("step", {"milestones": [0.2, 0.6], "warmup": 0.1}, 0.2, 50, "MultiStepLR", {"milestones": [9, 27]}, 5),
    ("exponential", {"gamma": 0.95}, 0.7, 60, "ExponentialLR", {"gamma": 0.95}, 0),
    ("exponential", {}, 1.0, 50, "ExponentialLR", {"gamma": 0.01 ** (1 / 50)}, 0),
    ("exponential", {"gamma": 0.9, "warmup": 4}, 0.1, 30, "ExponentialLR", {"gamma": 0.9}, 4),
    ("cosine", {}, 0.1, 50, "CosineAnnealingLR", {"T_max": 50}, 0),
    ("cosine", {"T_max": 10, "eta_min": 0.01}, 0.3, 45, "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}, 0),
    ("cosine", {"warmup": 0.2, "eta_min": 0.001}, 0.05, 50, "CosineAnnealingLR", {"T_max": 40, "eta_min": 0.001}, 10),
    # n = 40: T_max 0.25 -> 10 (so the cosine comes back up after t' = 10)
    ("cosine", {"T_max": 0.25, "warmup": 6}, 1.0, 46, "CosineAnnealingLR", {"T_max": 10}, 6),
    ("cosine", {"warmup": 1}, 0.4, 12, "CosineAnnealingLR", {"T_max": 11}, 1),
    ("cosine", {"warmup": 1.0}, 0.4, 10, "CosineAnnealingLR", {"T_max": 1}, 10),
    ("cosine_restarts", {}, 0.2, 40, "CosineAnnealingWarmRestarts", {"T_0": 10}, 0),
    ("cosine_restarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.05}, 1.0, 50, "CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.05}, 0),
    ("cosine_restarts", {"T_0": 0.1, "T_mult": 3, "warmup": 10}, 0.3, 60, "CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 3}, 10),
    ("linear", {}, 0.6, 30, "LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 30}, 0),
    ("linear", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 4}, 1.0, 10, "LinearLR", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 4}, 0),
    ("linear", {"end_factor": 0.1, "total_iters": 0.5, "warmup": 5}, 0.2, 45, "LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 20}, 5),
    ("polynomial", {}, 0.3, 30, "PolynomialLR", {"total_iters": 30, "power": 1.0}, 0),
    ("polynomial", {"power": 2.0, "total_iters": 12}, 1.0, 20, "PolynomialLR", {"total_iters": 12, "power": 2.0}, 0),
    ("polynomial", {"power": 0.5, "warmup": 0.1}, 0.05, 50, "PolynomialLR", {"total_iters": 45, "power": 0.5}, 5),
    ("inverse_sqrt", {}, 0.5, 40, "LambdaLR", {"fn": "inverse_sqrt", "tau": 1}, 0),
    ("inverse_sqrt", {"warmup": 8}, 0.5, 40, "LambdaLR", {"fn": "inverse_sqrt", "tau": 8}, 8),
    ("inverse_sqrt", {"timescale": 0.25}, 0.5, 40, "LambdaLR", {"fn": "inverse_sqrt", "tau": 10}, 0),
    ("inverse_time", {}, 0.4, 50, "LambdaLR", {"fn": "inverse_time", "rate": 1.0, "steps": 5, "staircase": False}, 0),
    ("inverse_time", {"decay_rate": 0.5, "decay_steps": 3, "staircase": True, "warmup": 4}, 0.4, 30, "LambdaLR", {"fn": "inverse_time", "rate": 0.5, "steps": 3, "staircase": True}, 4),
    ("cyclic", {}, 0.4, 50, "CyclicLR", {"base_lr": 0.1, "max_lr": 0.4, "step_size_up": 5, "cycle_momentum": False}, 0),
    ("cyclic", {"base_lr": 0.1, "step_size_up": 5}, 1.0, 40, "CyclicLR", {"base_lr": 0.1, "max_lr": 1.0, "step_size_up": 5, "cycle_momentum": False}, 0),
    ("cyclic", {"base_lr": 0.02, "step_size_up": 4, "step_size_down": 6, "mode": "triangular2", "cycle_momentum": True}, 0.4, 50, "CyclicLR", {"base_lr": 0.02, "max_lr": 0.4, "step_size_up": 4, "step_size_down": 6, "mode": "triangular2"}, 0),
    # n = 50: step_size_up 0.1 -> 5
    ("cyclic", {"mode": "exp_range", "gamma": 0.97, "step_size_up": 0.1, "warmup": 10, "cycle_momentum": True, "base_momentum": 0.7, "max_momentum": 0.95}, 0.8, 60, "CyclicLR", {"base_lr": 0.2, "max_lr": 0.8, "step_size_up": 5, "mode": "exp_range", "gamma": 0.97, "base_momentum": 0.7, "max_momentum": 0.95}, 10),
    ("onecycle", {}, 0.5, 100, "OneCycleLR", {"max_lr": 0.5, "total_steps": 100, "cycle_momentum": False}, 0),
    ("onecycle", {"cycle_momentum": True}, 1.0, 37, "OneCycleLR", {"max_lr": 1.0, "total_steps": 37}, 0),
    ("onecycle", {"anneal_strategy": "linear", "three_phase": True, "cycle_momentum": True}, 0.2, 50, "OneCycleLR", {"max_lr": 0.2, "total_steps": 50, "anneal_strategy": "linear", "three_phase": True}, 0),
    ("onecycle", {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0, "cycle_momentum": True, "warmup": 8}, 0.3, 48, "OneCycleLR", {"max_lr": 0.3, "total_steps": 40, "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}, 8),
    ("onecycle", {"three_phase": True, "pct_start": 0.4}, 0.3, 23, "OneCycleLR", {"max_lr": 0.3, "total_steps": 23, "pct_start": 0.4, "three_phase": True, "cycle_momentum": False}, 0),
]  # fmt: skip


def _random_metrics(seed: int, n: int) -> list[float]:
    """A noisy, flattening loss curve (a stand-in for a validation loss)."""
    rng = np.random.default_rng(seed)
    base = 2.0 * np.exp(-np.arange(n) / 12.0) + 0.5
    return [float(v) for v in base + 0.03 * rng.standard_normal(n)]


# (lrbench plateau params, lr, metrics); torch kwargs are the same names minus warmup.
_RANDOM = _random_metrics(0, 60)
PLATEAU_CASES = [
    # schedules-optimizers.md §4 sequences
    ({"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.1}, 1.0, [10.0] + [9.0] * 13),
    ({"patience": 0, "factor": 0.5}, 1.0, [5.0, 5.0, 4.0, 4.9999, 3.0]),
    ({"patience": 2, "factor": 0.5}, 1.0, [7.0] * 7),
    # random, both modes and both threshold modes
    ({"patience": 3, "cooldown": 2, "factor": 0.3, "threshold": 0.01, "min_lr": 1e-3}, 0.5, _RANDOM),
    ({"patience": 2, "factor": 0.5, "threshold": 0.02, "threshold_mode": "abs"}, 0.5, _RANDOM),
    ({"mode": "max", "patience": 3, "cooldown": 1, "threshold": 0.01}, 0.5, [-v for v in _RANDOM]),
    ({"mode": "max", "patience": 1, "factor": 0.5, "threshold": 0.02, "threshold_mode": "abs", "min_lr": 0.05}, 0.5, [3 - v for v in _RANDOM]),
    ({"patience": 1, "factor": 0.9, "eps": 0.05}, 0.6, _RANDOM),
]  # fmt: skip


def _lambda(kw: dict):
    if kw["fn"] == "inverse_sqrt":
        tau = kw["tau"]
        return lambda t: 1.0 / math.sqrt(1.0 + t / tau)
    rate, steps, stair = kw["rate"], kw["steps"], kw["staircase"]
    return lambda t: 1.0 / (1.0 + rate * (math.floor(t / steps) if stair else t / steps))


def torch_values(case) -> tuple[list[float], list[float] | None]:
    """Run the torch scheduler of ``case``; the lr (and momentum if cycled) of each update."""
    import torch
    from torch.optim import lr_scheduler as S

    _, _, lr, T, cls, kwargs, w = case
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=lr, momentum=0.9)
    if w:
        warm = (
            S.LambdaLR(opt, lambda t: (t + 1) / w)
            if cls == "OneCycleLR" or w == 1
            else S.LinearLR(opt, start_factor=1 / w, end_factor=1.0, total_iters=w - 1)
        )
    if cls == "LambdaLR":
        sched = S.LambdaLR(opt, _lambda(kwargs))
    else:
        sched = getattr(S, cls)(opt, **kwargs)
    if w:
        sched = S.SequentialLR(opt, [warm, sched], milestones=[w])
    cycles = kwargs.get("cycle_momentum", True) and cls in ("CyclicLR", "OneCycleLR")
    lrs, moms = [], []
    for t in range(T):
        lrs.append(float(opt.param_groups[0]["lr"]))
        moms.append(float(opt.param_groups[0]["momentum"]))
        if t < T - 1:
            opt.step()
            sched.step()
    return lrs, (moms if cycles else None)


def torch_plateau(case) -> list[float]:
    """ReduceLROnPlateau's lr after each ``step(metric)``."""
    import torch

    params, lr, metrics = case
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **params)
    out = []
    for m in metrics:
        opt.step()
        sched.step(m)
        out.append(float(opt.param_groups[0]["lr"]))
    return out


def main() -> None:
    import torch

    schedules = []
    for case in CASES:
        lrs, moms = torch_values(case)
        name, params, lr, T, cls, kwargs, w = case
        schedules.append(
            {"name": name, "params": params, "lr": lr, "steps": T, "torch": cls, "torch_kwargs": kwargs,
             "warmup_steps": w, "lrs": lrs, "momentum": moms}
        )  # fmt: skip
    plateau = [
        {"params": p, "lr": lr, "metrics": m, "lrs": torch_plateau((p, lr, m))}
        for p, lr, m in PLATEAU_CASES
    ]
    data = {"torch": torch.__version__, "schedules": schedules, "plateau": plateau}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT} ({len(schedules)} schedule cases, {len(plateau)} plateau cases)")


if __name__ == "__main__":
    main()
