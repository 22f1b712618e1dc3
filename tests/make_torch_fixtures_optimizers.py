"""Generate tests/fixtures/optimizers_torch.json from torch.optim.

Run: ``.venv/bin/python tests/make_torch_fixtures_optimizers.py``

Each case is one lrbench optimizer with K = 3 configurations whose numeric hyperparameters
differ. torch runs every configuration on its own, in float64
(``torch.set_default_dtype(torch.float64)``), single-tensor code path (``foreach=False``), on
two parameter tensors of shapes (3, 2) and (1, 2). Before each ``step()`` it sets
``group['lr']`` (and for the ``cycle_*`` cases ``group['momentum']`` or ``group['betas'][0]``,
as CyclicLR/OneCycleLR with ``cycle_momentum=True`` do). Gradients come from a fixed
deterministic function of the parameters (:func:`gradients`, plain numpy on torch's values).
The JSON holds the inputs (A, B, initial parameters, lr and momentum tables, hyperparameters)
and torch's parameters after the steps in ``checkpoints``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "fixtures" / "optimizers_torch.json"
SHAPES = [(3, 2), (1, 2)]
STEPS = 32
CHECKPOINTS = [1, 2, 10, 32]
LR_SCALE = [1.0, 0.5, 2.0]  # per configuration: lr[t, k] = base(t) * LR_SCALE[k]

_B3 = [(0.9, 0.999), (0.8, 0.99), (0.5, 0.9)]
_EPS3 = [1e-8, 1e-6, 1e-3]
_WD3 = [0.01, 0.05, 0.1]


def _zip(**columns: list) -> list[dict]:
    """Three configurations from columns of values: _zip(a=[1, 2, 3]) -> [{a: 1}, {a: 2}, ...]."""
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


# (case id, lrbench optimizer name, three hyperparameter dicts)
CASES = [
    ("sgd", "sgd", [{}, {}, {}]),
    ("sgd_wd", "sgd", _zip(weight_decay=_WD3)),
    ("momentum", "momentum", _zip(momentum=[0.5, 0.9, 0.95])),
    (
        "momentum_dampening_wd",
        "momentum",
        _zip(momentum=[0.5, 0.9, 0.95], dampening=[0.1, 0.0, 0.5], weight_decay=_WD3),
    ),
    ("nesterov", "nesterov", _zip(momentum=[0.5, 0.9, 0.99])),
    ("nesterov_wd", "nesterov", _zip(momentum=[0.5, 0.9, 0.99], weight_decay=_WD3)),
    (
        "adagrad",
        "adagrad",
        _zip(
            lr_decay=[0.0, 0.01, 0.1],
            initial_accumulator_value=[0.0, 0.1, 1.0],
            eps=[1e-10, 1e-8, 1e-3],
        ),
    ),
    ("adagrad_wd", "adagrad", _zip(lr_decay=[0.0, 0.01, 0.1], weight_decay=_WD3)),
    ("rmsprop", "rmsprop", _zip(alpha=[0.99, 0.9, 0.5], eps=_EPS3)),
    ("rmsprop_centered", "rmsprop", _zip(alpha=[0.99, 0.9, 0.7], centered=[True] * 3)),
    (
        "rmsprop_momentum_wd",
        "rmsprop",
        _zip(momentum=[0.5, 0.9, 0.1], weight_decay=_WD3, alpha=[0.99, 0.9, 0.95]),
    ),
    (
        "rmsprop_centered_momentum",
        "rmsprop",
        _zip(centered=[True] * 3, momentum=[0.5, 0.9, 0.1], eps=_EPS3),
    ),
    ("adam", "adam", _zip(betas=_B3, eps=_EPS3)),
    ("adam_wd", "adam", _zip(betas=_B3, weight_decay=_WD3)),
    ("amsgrad", "amsgrad", _zip(betas=_B3, eps=_EPS3)),
    ("amsgrad_wd", "amsgrad", _zip(betas=_B3, weight_decay=_WD3)),
    ("adamw", "adamw", _zip(betas=_B3, weight_decay=[0.01, 0.1, 0.3])),
    ("adamw_amsgrad", "adamw", _zip(betas=_B3, weight_decay=[0.01, 0.1, 0.3], amsgrad=[True] * 3)),
    ("nadam", "nadam", _zip(betas=_B3, momentum_decay=[0.004, 0.01, 1.0], eps=_EPS3)),
    ("nadam_wd", "nadam", _zip(betas=_B3, momentum_decay=[0.004, 0.0, 0.1], weight_decay=_WD3)),
    (
        "nadam_decoupled",
        "nadam",
        _zip(betas=_B3, weight_decay=_WD3, decoupled_weight_decay=[True] * 3),
    ),
    # cycle_momentum: the momentum table (below) replaces momentum / beta1 at every step
    ("cycle_sgd", "sgd", _zip(dampening=[0.0, 0.2, 0.5])),
    ("cycle_nesterov", "nesterov", _zip(momentum=[0.9, 0.5, 0.8])),
    ("cycle_rmsprop", "rmsprop", _zip(alpha=[0.99, 0.9, 0.8], centered=[False, False, False])),
    ("cycle_adam", "adam", _zip(betas=_B3)),
    ("cycle_amsgrad", "amsgrad", _zip(betas=_B3, weight_decay=_WD3)),
    ("cycle_adamw", "adamw", _zip(betas=_B3)),
    ("cycle_nadam", "nadam", _zip(betas=_B3, momentum_decay=[0.004, 0.01, 1.0])),
]

# Steps where a configuration's cycled momentum is exactly 0 (torch then skips the momentum
# buffer; for SGD the buffer starts at the first non-zero step). RMSprop at t = 0 would make
# torch raise KeyError (its buffer is created only if momentum > 0 at the first step).
ZERO_MOMENTUM = {
    "cycle_sgd": {1: [0, 7], 2: [4]},
    "cycle_nesterov": {1: [5]},
    "cycle_rmsprop": {1: [6]},
}


def base_lr(t: int) -> float:
    """A decaying learning rate with a sawtooth on top."""
    return 0.1 * 0.97**t + 0.02 * (t % 4)


def momentum_table(case_id: str) -> list[list[float]] | None:
    """(STEPS, 3) cycled momentum for cycle_* cases: triangular in [0.8, 0.95], own phase per k."""
    if not case_id.startswith("cycle_"):
        return None
    table = [[0.95 - 0.15 * abs(((t + 2 * k) % 8) / 4 - 1) for k in range(3)] for t in range(STEPS)]
    for k, steps in ZERO_MOMENTUM.get(case_id, {}).items():
        for t in steps:
            table[t][k] = 0.0
    return table


def gradients(
    params: list[np.ndarray], A: list[np.ndarray], B: list[np.ndarray]
) -> list[np.ndarray]:
    """``g = A @ theta - B + 0.1 sin(theta)`` for (a, b) or stacked (K, a, b) parameters.

    The product is summed in a fixed order with elementwise operations only, so a
    configuration's gradient has the same bits alone or inside a stack.
    """
    out = []
    for p, a, b in zip(params, A, B, strict=True):
        g = 0.1 * np.sin(p) - b
        for j in range(a.shape[1]):
            g = g + a[:, j, None] * p[..., j : j + 1, :]
        out.append(g)
    return out


def inputs(seed: int = 0) -> dict:
    """A (symmetric, eigenvalues about 0.5 to 2), B and each case's initial parameters."""
    rng = np.random.default_rng(seed)
    A, B = [], []
    for a, b in SHAPES:
        m = rng.standard_normal((a, a))
        A.append(m @ m.T / (2 * a) + 0.5 * np.eye(a))
        B.append(rng.standard_normal((a, b)))
    init = {cid: [rng.standard_normal((3, *s)) for s in SHAPES] for cid, _, _ in CASES}
    return {"A": A, "B": B, "init": init}


def torch_class(name: str):
    import torch

    table = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adagrad": "Adagrad"}
    table |= {"rmsprop": "RMSprop", "adam": "Adam", "amsgrad": "Adam", "adamw": "AdamW"}
    table["nadam"] = "NAdam"
    return getattr(torch.optim, table[name])


def torch_kwargs(name: str, hparams: dict) -> dict:
    """torch constructor arguments: the lrbench hyperparameters plus what the alias fixes."""
    fixed = {"momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9, "nesterov": True}}
    fixed["amsgrad"] = {"amsgrad": True}
    kw = {**fixed.get(name, {}), **hparams}
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    return kw


def torch_run(name, hparams, init, A, B, lrs, moms, checkpoints) -> list[list[list[list[float]]]]:
    """torch's parameters at each checkpoint: [checkpoint][config][param array] nested lists."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = [[None] * len(hparams) for _ in checkpoints]
        for k, h in enumerate(hparams):
            params = [torch.tensor(np.asarray(p[k]), requires_grad=True) for p in init]
            opt = torch_class(name)(params, lr=lrs[0][k], foreach=False, **torch_kwargs(name, h))
            group = opt.param_groups[0]
            for t in range(max(checkpoints)):
                group["lr"] = lrs[t][k]
                if moms is not None:
                    if "betas" in group:
                        group["betas"] = (moms[t][k], *group["betas"][1:])
                    else:
                        group["momentum"] = moms[t][k]
                grads = gradients([p.detach().numpy() for p in params], A, B)
                for p, g in zip(params, grads, strict=True):
                    p.grad = torch.from_numpy(g)
                opt.step()
                if t + 1 in checkpoints:
                    out[checkpoints.index(t + 1)][k] = [p.detach().numpy().tolist() for p in params]
        return out
    finally:
        torch.set_default_dtype(old)


def main() -> None:
    import torch

    data = inputs()
    A, B = data["A"], data["B"]
    lrs = [[base_lr(t) * s for s in LR_SCALE] for t in range(STEPS)]
    cases = []
    for cid, name, hparams in CASES:
        init = data["init"][cid]
        moms = momentum_table(cid)
        traj = torch_run(name, hparams, init, A, B, lrs, moms, CHECKPOINTS)
        cases.append(
            {
                "id": cid,
                "optimizer": name,
                "hparams": hparams,
                "init": [p.tolist() for p in init],
                "momentum": moms,
                "torch": traj,
            }
        )
    doc = {
        "generator": "tests/make_torch_fixtures_optimizers.py",
        "torch": torch.__version__,
        "checkpoints": CHECKPOINTS,
        "A": [a.tolist() for a in A],
        "B": [b.tolist() for b in B],
        "lr": lrs,
        "cases": cases,
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
