"""Bad configs: every problem reported in one go, and YAML that cannot crash or hang the loader.

The expected lines are written out by hand from the config under test (the reference is the
documented message format ``path: got value; expected allowed``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench import safeyaml
from lrbench.cli.main import app
from lrbench.config import apply_overrides, load_config, validate
from lrbench.errors import MAX_REPORTED, ConfigError, ConfigErrors, LrbenchError

runner = CliRunner()
CI = Path(__file__).parent.parent / "configs" / "ci.yaml"

MANY_MISTAKES = """\
name: demo
optimizers: [adamm, {sgd: {momentum: 2, nesterovv: true}}]
schedules: [cosine, {step: {milestones: [1.5], gammma: 0.1}}]
lr: [0.1, -1]
train: {epochs: 0, dtype: float16}
"""


def test_every_problem_of_a_config_is_reported_at_once(tmp_path: Path):
    # The example: a misspelt optimizer and a missing tasks: both reported, and the rest.
    path = tmp_path / "c.yaml"
    path.write_text(MANY_MISTAKES)
    with pytest.raises(ConfigErrors) as info:
        load_config([path])
    lines = info.value.lines
    expected = [
        "train.epochs: got 0; expected an integer >= 1 or null",
        "train.dtype: got 'float16'; expected one of float64, float32 (did you mean 'float64'?)",
        "lr[1]: got -1; expected positive numbers",
        "tasks: got null; expected a list of tasks, e.g. [{dataset: digits, model: logreg}]",
        "optimizers[0]: got 'adamm'; expected an optimizer: adagrad, adam, adamw, amsgrad, "
        "momentum, nadam, nesterov, rmsprop, sgd (did you mean 'adam'?)",
        "optimizers[1].sgd.momentum: got 2.0; expected a number in [0, 1)",
        "optimizers[1].sgd.nesterovv: got true; expected a known key: momentum, dampening, "
        "nesterov, weight_decay (did you mean 'nesterov'?)",
        "schedules[1].step.milestones[0]: got 1.5; expected a list of step counts (integers) "
        "or fractions of the run in (0, 1] (write whole step counts without a decimal point)",
        "schedules[1].step.gammma: got 0.1; expected a known key: milestones, gamma, warmup "
        "(did you mean 'gamma'?)",
    ]
    assert lines == expected
    # still a ConfigError whose fields are the first problem's
    assert isinstance(info.value, ConfigError) and info.value.path == "train.epochs"


def test_one_problem_is_a_plain_config_error():
    with pytest.raises(ConfigError) as info:
        validate({"tasks": [{"dataset": "iris", "model": "logreg"}], "seeds": 0})
    assert type(info.value) is ConfigError
    assert str(info.value).startswith("seeds: got 0;")


def test_the_cli_prints_one_line_a_problem_and_caps_them(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(MANY_MISTAKES)
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and res.exception is None or isinstance(res.exception, SystemExit)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 9 and all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in res.output
    # 30 unknown keys: 20 lines, then "and 10 more"
    many = "tasks: [{dataset: iris, model: logreg}]\n" + "".join(f"k{i}: 1\n" for i in range(30))
    path.write_text(many)
    res = runner.invoke(app, ["validate", str(path)])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2
    assert len(lines) == MAX_REPORTED + 1 == 21
    assert lines[0].startswith("error: k0: got 1; expected a known key:")
    assert lines[-1] == "error: and 10 more"


def test_every_bad_override_is_reported_and_the_rest_kept():
    raw = {"tasks": [{"dataset": "iris", "model": "logreg"}], "lr": [0.1]}
    with pytest.raises(ConfigErrors) as info:
        apply_overrides(raw, ["train.epochs", "tasks.5.model=mlp", "lr=[0.1", "=3"])
    assert info.value.lines == [
        "--set: got 'train.epochs'; expected key.path=value, e.g. train.epochs=5",
        "--set tasks.5: got '5'; expected a list index 0..0",
        "--set lr: got '[0.1'; expected a YAML value (expected ',' or ']', but got "
        "'<stream end>' (line 1, column 5))",
        "--set: got '=3'; expected key.path=value with a key path before '='",
    ]
    assert apply_overrides(raw, ["train.epochs=3"])["train"] == {"epochs": 3}
    assert raw == {"tasks": [{"dataset": "iris", "model": "logreg"}], "lr": [0.1]}  # a copy


def test_task_entries_report_each_key():
    raw = {
        "tasks": [
            {"dataset": "iris", "model": "mlp", "hidden": [[8], [0]], "activation": "gelu"},
            {"dataset": "moons", "model": "logreg", "noise": -1, "test_size": 1.5},
        ]
    }
    with pytest.raises(ConfigErrors) as info:
        validate(raw)
    assert info.value.lines == [
        "tasks[0].hidden: got [0]; expected a list of integers >= 1",
        "tasks[0].activation: got 'gelu'; expected one of relu, tanh (did you mean 'relu'?)",
        "tasks[1].test_size: got 1.5; expected a number in (0, 1)",
        "tasks[1].noise: got -1.0; expected a number >= 0",
    ]


def test_grids_too_large_to_build_are_refused_before_building():
    base = {"tasks": [{"dataset": "iris", "model": "logreg"}], "train": {"steps": 5}}
    with pytest.raises(ConfigError, match=r"^seeds: got 1000000000000; expected a count in"):
        validate({**base, "seeds": 10**12})
    # 4 axes of 20 values: 160000 optimizer cases, refused before itertools.product runs
    params = {"momentum": [i / 20 for i in range(20)], "dampening": [i / 20 for i in range(20)]}
    params |= {"weight_decay": [i / 100 for i in range(20)]} | {"nesterov": [False] * 20}
    with pytest.raises(
        ConfigError, match=r"optimizers\[0\]\.sgd: got '160000 cases \(20 x 20 x 20 x 20\)'"
    ):
        validate({**base, "optimizers": [{"sgd": params}]})
    with pytest.raises(
        ConfigError, match=r"^\(grid\): got '160000 runs .* = 1 x 1 x 1 x 400 x 400"
    ):
        validate({**base, "lr": [i + 1 for i in range(400)], "seeds": list(range(400))})


# --- hostile YAML ---------------------------------------------------------------------------

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: " + "[" * 500 + "]" * 500, "nested more than 32 levels deep (line 1, column 35)"),
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), "nested more than 32"),
        (LAUGHS, "its aliases expand to more than 100000 values (line 6, column 4)"),
        ("a: &a [*a]\n", "an alias refers to its own anchor"),
        ("a: &a {b: *a}\n", "an alias refers to its own anchor"),
        # aliases nesting an anchor 30 levels deep inside another: 60 levels once expanded
        (
            "a: &a " + "[" * 30 + "]" * 30 + "\nb: " + "[" * 30 + "*a" + "]" * 30,
            "aliases nest values more than 32",
        ),
        ("x: !!python/object/apply:os.system ['echo hi']\n", "the tag !!python/object/apply"),
        ("x: !!python/name:os.system ''\n", "the tag !!python/name:os.system is not allowed"),
        ("x: " + "9" * 5000 + "\n", "an integer with more than 4300 digits"),
        ("x: 2024-13-45\n", "a value YAML cannot build (month must be in 1..12)"),
        ("a: 1\n---\nb: 2\n", "expected a single document in the stream"),
        ("name: x\ntasks: [{dataset: iris, model:", "(line 2, column"),  # truncated
        ("a: \x07\n", "a control character #x0007 at offset 3; expected printable text"),
        ("? [1, 2]\n: 3\n", "found unhashable key"),
    ],
)
def test_hostile_yaml_is_one_line_error(tmp_path: Path, text: str, message: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(LrbenchError) as info:
        load_config([path])
    assert message in str(info.value)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_binary_and_oversized_files(tmp_path: Path):
    png = tmp_path / "image.yaml"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(LrbenchError, match=r"not UTF-8 text: byte 0x89 at offset 0"):
        load_config([png])
    big = tmp_path / "big.yaml"
    big.write_text("lr: [" + "0.1, " * 300_000 + "]")
    with pytest.raises(LrbenchError, match=r"1500006 bytes; expected a config of at most 1048576"):
        load_config([big])
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes("seeds: 3\n".encode("utf-16"))  # with a byte-order mark: accepted
    assert safeyaml.load_file(utf16) == {"seeds": 3}
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(LrbenchError, match="config file not found"):
        load_config([folder])


def test_values_in_messages_are_cut_without_expanding_them():
    # 9**8 leaves behind a few hundred bytes: the message is built from the first ones only
    x: list = [1] * 9
    for _ in range(8):
        x = [x] * 9
    error = ConfigError("lr", x, "positive numbers")
    assert len(str(error)) < 200 and str(error).startswith("lr: got [[[[[[[[[1, 1, 1")
    ring: list = [1]
    ring.append(ring)
    assert str(ConfigError("lr", ring, "a list")).startswith("lr: got [1, [1, [1")
    assert str(ConfigError("k", [0.9, 1.5], "x")) == "k: got [0.9, 1.5]; expected x"


def test_cli_set_values_use_the_same_limits():
    res = runner.invoke(app, ["schedule", "cosine", "--set", "warmup=" + "[" * 100])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        "error: --set warmup: nested more than 32 levels deep (line 1, column 33)"
    )
    laughs = (
        "[&a [x, x, x, x, x, x, x, x, x], "
        + ", ".join(f"&{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi"))
        + "]"
    )
    for command in (["validate", str(CI)], ["schedule", "multistep"]):
        res = runner.invoke(app, [*command, "--set", f"milestones={laughs}"])
        assert res.exit_code == 2, res.output
        assert "its aliases expand to more than 100000 values" in res.stderr


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["sweep", str(CI), "--jobs", "0"], "'--jobs' / '-j': 0 is not in the range x>=1."),
        (["sweep", str(CI), "--format", "xml"], "'xml' is not one of 'table', 'json', 'markdown'"),
        (["sweep", str(CI), "--nope"], "No such option: --nope"),
        (["swep"], "No such command 'swep'. Did you mean 'sweep'?"),
        (["find-lr", "--num-iter", "abc"], "'--num-iter': 'abc' is not a valid int."),
        (["validate"], "Missing argument 'config'."),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(argv, says, monkeypatch, capsys):
    """What the command-line parser refuses reads like every other bad input: one line on
    stderr, ``error:`` first, the parser's own words (the option, the value, what is allowed)
    and where the help is; nothing on stdout, exit 2, no traceback."""
    from lrbench.cli.main import main

    monkeypatch.setattr("sys.argv", ["lrbench", *argv])
    with pytest.raises(SystemExit) as stop:
        main()
    out, err = capsys.readouterr()
    assert stop.value.code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: ") and says in line
    command = "" if argv[0] == "swep" else f" {argv[0]}"  # click names the program itself
    assert line.endswith(f"{command} -h)") and "(see " in line


def test_help_and_good_commands_keep_their_exit_codes(monkeypatch, capsys):
    from lrbench.cli.main import main

    for argv, code in ((["sweep", "-h"], 0), (["list"], 0), ([], 2)):
        monkeypatch.setattr("sys.argv", ["lrbench", *argv])
        with pytest.raises(SystemExit) as stop:
            main()
        out, err = capsys.readouterr()
        assert stop.value.code == code, argv
        assert err == "" and out  # help or the registries on stdout; bare `lrbench`: the help
    monkeypatch.setattr("sys.argv", ["lrbench", "validate", str(CI), "--set", "lr=[0]"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith("error: lr")


def test_the_installed_entry_point_prints_the_one_line_too():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "lrbench", "sweep", str(CI), "-j", "zero"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()  # the parser's wording is typer's (it varies by version)
    assert line.startswith("error: Invalid value for '--jobs' / '-j': 'zero' is not a valid int")
    assert line.endswith("(see python -m lrbench sweep -h)")
