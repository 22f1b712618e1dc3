"""Property-based fuzzing (hypothesis) of the config loader and the command-line flags.

The property: whatever the input, lrbench either accepts it or answers with
:class:`lrbench.errors.LrbenchError` (exit 2 on the command line, one ``error:`` line a
problem); never another exception, never a hang. Inputs: random YAML documents, a valid config
with random values at random key paths, truncated files, binary junk, and random flag values.

The budget is fixed (``max_examples``, a deadline per example, a derandomized search so CI
sees the same examples every run).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.config import apply_overrides, load_config, read_yaml, validate
from lrbench.errors import LrbenchError

ROOT = Path(__file__).parent.parent
CI = ROOT / "configs" / "ci.yaml"
BASE = read_yaml(CI)
runner = CliRunner()

FUZZ = settings(
    max_examples=40,
    deadline=2000,  # ms an example; the slowest seen are under 100 ms
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

WORDS = ["full", "epoch", "cosine", "adam", "sgd", "iris", "mlp", "logreg", "x.csv", "",
         "1e999", "nan", ".inf", "null", "~", "steps", "epochs", "momentum", "hidden"]  # fmt: skip
KEYS = ["name", "seeds", "tasks", "train", "lr", "optimizers", "schedules", "analysis",
        "dataset", "model", "steps", "epochs", "batch_size", "momentum", "warmup", "hidden",
        "milestones", "betas", "metric", "target", "dtype"]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 2**31, 2**63, 1e-320, 5e-324, 1e308, 0.5, 1.0])
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


def key_paths(node, prefix=()) -> list[tuple]:
    """Every key path of a YAML value (mapping keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += key_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += key_paths(v, (*prefix, i))
    return out


PATHS = key_paths(BASE) + [("train", "steps"), ("analysis", "target"), ("tasks", 0, "x")]


@pytest.fixture(scope="module")
def warm() -> None:
    """Load the config's data once, so that no example pays for the first import."""
    assert runner.invoke(app, ["validate", str(CI)]).exit_code == 0


def accepted_or_explained(action) -> None:
    try:
        action()
    except LrbenchError as error:
        text = str(error)
        assert text and "Traceback" not in text
        assert all(line.strip() for line in text.splitlines())


@FUZZ
@given(doc=values)
def test_random_documents(doc):
    accepted_or_explained(lambda: validate(doc) if isinstance(doc, dict) else None)
    text = yaml.safe_dump(doc)
    accepted_or_explained(lambda: apply_overrides(BASE, [f"lr={text}"]))


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4))
def test_a_valid_config_with_random_values_at_random_keys(changes):
    def change() -> None:
        sets = [".".join(str(p) for p in path) + "=" + yaml.safe_dump(value, default_flow_style=True).strip()
                for path, value in changes]  # fmt: skip
        config = load_config([CI], [s.replace("\n", " ") for s in sets])
        assert config.specs if math.prod(map(len, (config.lrs, config.seeds))) else True

    accepted_or_explained(change)


@settings(FUZZ, max_examples=30)
@given(cut=st.integers(min_value=0, max_value=len(CI.read_bytes())), junk=st.binary(max_size=40))
def test_truncated_files_and_binary_junk(tmp_path_factory, cut, junk):
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    data = CI.read_bytes()
    for i, content in enumerate((data[:cut], junk, data[:cut] + junk, junk + data)):
        path = folder / f"c{i}.yaml"
        path.write_bytes(content)
        accepted_or_explained(lambda path=path: load_config([path]))


flag_values = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["0", "-1", "1e400", "nan", "inf", "99999999999999999999", "", "full"]),
    st.integers(min_value=-5, max_value=10**12).map(str),
)


@settings(FUZZ, max_examples=30)
@given(
    name=st.sampled_from(["cosine", "step", "onecycle", "plateau", "cosinee", "constant", ""]),
    steps=st.integers(min_value=-5, max_value=2000).map(str)  # long tables are slow to print
    | st.sampled_from(["10000001", "1e3", "nan", "", "x", "99999999999999999999"]),
    lr=flag_values,
    sets=st.lists(
        st.tuples(st.sampled_from(["warmup", "T_max", "milestones", "gamma", "x"]), values),
        max_size=2,
    ),
)
def test_schedule_flags(name, steps, lr, sets):
    args = ["schedule", name, "--steps", steps, "--lr", lr, "--format", "csv"]
    for key, value in sets:
        args += ["--set", f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 2), (args, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)


@settings(FUZZ, max_examples=20)
@given(
    sets=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "lr",
                    "seeds",
                    "train.steps",
                    "train.batch_size",
                    "train.log_every",
                    "train.eval_every",
                    "train.dtype",
                    "optimizers",
                    "schedules",
                    "analysis.metric",
                    "name",
                    "train",
                ]
            ),  # fmt: skip
            values,
        ),
        max_size=3,
    ),
    jobs=flag_values,
)
def test_validate_and_sweep_flags(warm, sets, jobs):
    args = ["validate", str(CI)]
    for key, value in sets:
        text = yaml.safe_dump(value, default_flow_style=True).strip().replace("\n", " ")
        args += ["--set", f"{key}={text}"]
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 2), (args, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
    # sweep's own flags, with a config error so that nothing trains
    res = runner.invoke(app, ["sweep", str(CI), "--jobs", jobs, "--set", "seeds=0"])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
