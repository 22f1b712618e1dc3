"""Config validation, overrides and grid expansion."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lrbench.config import LR_GRID, apply_overrides, load_config, validate
from lrbench.errors import ConfigError, LrbenchError

BASE = {
    "name": "t",
    "tasks": [{"dataset": "iris", "model": "logreg"}],
    "train": {"steps": 10},
}


def with_(**kw):
    d = {**BASE, **kw}
    return validate(d)


def error_of(raw) -> str:
    with pytest.raises(ConfigError) as info:
        validate(raw)
    return str(info.value)


def test_defaults_and_grid_size():
    cfg = with_()
    assert cfg.lrs == LR_GRID
    assert cfg.seeds == (0,)
    assert len(cfg.specs()) == 7  # 1 task x sgd x constant x 7 lrs x 1 seed


def test_grid_expands_lists_inside_hyperparameters():
    cfg = with_(
        seeds=2,
        lr=[0.1, 0.3],
        optimizers=[
            {"momentum": {"momentum": [0.5, 0.9, 0.99]}},
            {"adam": {"betas": [[0.9, 0.999], [0.9, 0.99]]}},
        ],
        schedules=["constant", {"step": {"milestones": [0.5, 0.75], "gamma": [0.1, 0.5]}}],
    )
    assert len(cfg.optimizers) == 5
    assert [dict(p)["momentum"] for n, p in cfg.optimizers[:3]] == [0.5, 0.9, 0.99]
    assert [tuple(dict(p)["betas"]) for n, p in cfg.optimizers[3:]] == [(0.9, 0.999), (0.9, 0.99)]
    # milestones is a list parameter: a plain list is one value, not an axis
    assert len(cfg.schedules) == 3
    assert len(cfg.specs()) == 1 * 5 * 3 * 2 * 2


def test_task_parameters_split_into_dataset_and_model_and_expand():
    cfg = with_(
        tasks=[{"dataset": "moons", "model": "mlp", "hidden": [[8], [16, 16]], "noise": 0.3}]
    )
    assert len(cfg.tasks) == 2
    assert dict(cfg.tasks[1].model_params)["hidden"] == (16, 16)
    assert dict(cfg.tasks[0].dataset_params)["noise"] == 0.3


def test_epochs_resolve_to_steps_from_the_training_split():
    cfg = with_(train={"epochs": 3, "batch_size": 32})
    # iris: 150 rows, 20 % validation -> 120 training rows -> ceil(120/32) = 4 steps an epoch
    assert cfg.specs()[0].train.steps == 12
    full = with_(train={"epochs": 3, "batch_size": "full"})
    assert full.specs()[0].train.steps == 3 and full.specs()[0].train.batch_size is None


def test_overrides():
    raw = apply_overrides(BASE, ["train.steps=5", "lr=0.05", "tasks.0.model=mlp", "seeds=[1, 2]"])
    cfg = validate(raw)
    assert cfg.lrs == (0.05,)
    assert cfg.tasks[0].model == "mlp"
    assert cfg.seeds == (1, 2)
    assert BASE["train"]["steps"] == 10  # the original is untouched
    with pytest.raises(LrbenchError, match="key.path=value"):
        apply_overrides(BASE, ["train.steps"])
    with pytest.raises(ConfigError, match="list index"):
        apply_overrides(BASE, ["tasks.3.model=mlp"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {**BASE, "optimizer": ["sgd"]},
            "optimizer: got ['sgd']; expected a known key: name, seeds, tasks, train, lr, optimizers, schedules, analysis, expect, lr_scaling (did you mean 'optimizers'?)",
        ),
        ({**BASE, "optimizers": ["adamm"]}, "optimizers[0]: got 'adamm'; expected an optimizer: "),
        (
            {**BASE, "schedules": [{"cosine": {"T_maxx": 10}}]},
            "schedules[0].cosine.T_maxx: got 10; expected a known key:",
        ),
        (
            {**BASE, "optimizers": [{"adam": {"betas": [0.9, 1.5]}}]},
            "optimizers[0].adam.betas: got [0.9, 1.5]",
        ),
        ({**BASE, "lr": [0.1, -1]}, "lr[1]: got -1; expected positive numbers"),
        ({**BASE, "seeds": 0}, "seeds: got 0"),
        ({**BASE, "train": {"steps": "ten"}}, "train.steps: got 'ten'; expected an integer >= 1"),
        (
            {**BASE, "train": {"steps": 5, "dtype": "float16"}},
            "train.dtype: got 'float16'; expected one of float64, float32",
        ),
        ({**BASE, "tasks": [{"dataset": "irsi", "model": "logreg"}]}, "(did you mean 'iris'?)"),
        (
            {**BASE, "tasks": [{"dataset": "iris", "model": "linear"}]},
            "tasks[0].dataset: got 'iris'; expected a regression dataset for model linear",
        ),
        (
            {**BASE, "tasks": [{"dataset": "iris", "model": "mlp", "hiden": [3]}]},
            "tasks[0].hiden: got [3]; expected a known key:",
        ),
        (
            {**BASE, "tasks": [{"dataset": "iris", "model": "logreg", "target": "y"}]},
            "tasks[0].target",
        ),
        (
            {**BASE, "schedules": [{"step": {"milestones": [1.5]}}]},
            "schedules[0].step.milestones[0]: got 1.5",
        ),
        ({**BASE, "analysis": {"metric": "accuracy"}}, "analysis.metric: got 'accuracy'"),
    ],
)
def test_errors_name_key_value_and_allowed(raw, expected):
    assert expected in error_of(raw)


def test_yaml_errors_are_one_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntasks: [\n")
    with pytest.raises(LrbenchError) as info:
        load_config([bad])
    assert "line" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(LrbenchError, match="not found"):
        load_config([tmp_path / "missing.yaml"])


def test_yaml_is_read_with_the_safe_loader(tmp_path: Path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(LrbenchError):
        load_config([evil])


def test_every_bundled_config_validates():
    root = Path(__file__).parent.parent / "configs"
    names = sorted(p.name for p in root.glob("*.yaml"))
    assert {"quickstart.yaml", "ci.yaml", "w1.yaml"} <= set(names)
    for p in root.glob("*.yaml"):
        cfg = load_config([p])
        assert cfg.specs()
        # the resolved config is itself a valid config that gives the same grid
        again = validate(yaml.safe_load(yaml.safe_dump(cfg.raw)))
        assert [s.run_id for s in again.specs()] == [s.run_id for s in cfg.specs()]


def test_w1_is_the_reference_workload():
    cfg = load_config([Path(__file__).parent.parent / "configs" / "w1.yaml"])
    specs = cfg.specs()
    # DESIGN.md: 126 runs, 900 steps each (45 steps an epoch x 20), 113,400 steps
    assert len(specs) == 126
    assert {s.train.steps for s in specs} == {900}
