"""CSV datasets: every way a file can be wrong gives exit 2 and lines naming column and row.

Each file is written by the test, so the expected column, row (1 = first line after the header)
and line number are read off the text by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.core.data import load_data
from lrbench.errors import ConfigError

runner = CliRunner()


def validate(tmp_path: Path, csv_text: str | bytes, *sets: str, target: str = "y"):
    """``lrbench validate`` of a config training logreg on the CSV text (steps, not epochs: the
    data is read by the preflight check, not by the epochs-to-steps conversion)."""
    data = tmp_path / "data.csv"
    if isinstance(csv_text, bytes):
        data.write_bytes(csv_text)
    else:
        data.write_text(csv_text)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: c\ntasks: [{{dataset: {data}, model: logreg, target: {target}}}]\n"
        "train: {steps: 5, batch_size: 4}\nlr: [0.1]\n"
    )
    res = runner.invoke(app, ["validate", str(config), *[x for s in sets for x in ("--set", s)]])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    return res, str(data)


def errors_of(res) -> list[str]:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)
    return [line[len("error: ") :] for line in lines]


GOOD = "a,b,y\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(10))


def test_a_good_file_validates(tmp_path: Path):
    res, _ = validate(tmp_path, GOOD)
    assert res.exit_code == 0, res.output
    assert "planned memory:" in res.stdout


def test_missing_file(tmp_path: Path):
    res = runner.invoke(app, ["validate", "configs/ci.yaml", "--set", "tasks.0.dataset=no.csv", "--set", "tasks.0.target=y"])  # fmt: skip
    assert errors_of(res) == ["tasks[0].dataset: got 'no.csv'; expected an existing CSV file"]


def test_missing_target_column(tmp_path: Path):
    res, path = validate(tmp_path, GOOD, target="label")
    assert errors_of(res) == [
        f"target: got 'label'; expected a column of {path}: a, b, y",
    ]


def test_every_bad_column_is_named_with_its_first_bad_row(tmp_path: Path):
    text = "a,b,c,y\n1,2,3,x\n4,five,6,y\n7,8,inf,x\n9,,nan,y\n10,11,12,x\n"
    res, path = validate(tmp_path, text)
    assert errors_of(res) == [
        f"{path}: column 'b', row 2 (line 3): got 'five'; expected a number; 1 more bad rows in this column",
        f"{path}: column 'c', row 3 (line 4): got 'inf'; expected a finite number; 1 more bad rows in this column",
    ]  # fmt: skip
    text = "a,y\n1,x\n2,y\n-1e999,x\n"
    res, path = validate(tmp_path, text)
    assert errors_of(res) == [f"{path}: column 'a', row 3 (line 4): got '-1e999'; expected a finite number"]  # fmt: skip


def test_one_class_only(tmp_path: Path):
    res, path = validate(tmp_path, "a,y\n1,x\n2,x\n3,x\n")
    assert errors_of(res) == [f"{path}: column 'y': got 'only the class x in all 3 rows'; expected at least 2 classes"]  # fmt: skip


def test_constant_feature_is_refused(tmp_path: Path):
    # Decision: a feature with one value in every row is an error (remove the column).
    text = "a,b,c,y\n" + "".join(f"{i},7,0.5,{'xy'[i % 2]}\n" for i in range(6))
    res, path = validate(tmp_path, text)
    hint = "remove the column: a constant feature carries no information and its standard deviation is 0"  # fmt: skip
    assert errors_of(res) == [
        f"{path}: column 'b': got '7.0 in all 6 rows'; expected a feature that varies ({hint})",
        f"{path}: column 'c': got '0.5 in all 6 rows'; expected a feature that varies ({hint})",
    ]


def test_a_column_constant_only_in_the_training_split_is_scaled_by_1(tmp_path: Path):
    # the value 1 appears only in the last row; if it falls in the validation split, the
    # training column is constant and StandardScaler's rule (scale 1) applies: no division by 0
    text = "a,b,y\n" + "".join(f"{i},{int(i == 9)},{'xy'[i % 2]}\n" for i in range(10))
    path = tmp_path / "d.csv"
    path.write_text(text)
    for seed in range(6):
        data = load_data(str(path), {}, task="classification", target="y", data_seed=seed)
        assert (abs(data.X_train) < 1e300).all() and (abs(data.X_val) < 1e300).all()


def test_fewer_rows_than_the_batch(tmp_path: Path):
    res, _ = validate(tmp_path, GOOD, "train.batch_size=9")
    # 10 rows, test_size 0.2: 8 training rows
    assert errors_of(res) == [
        "train.batch_size: got 9; expected at most the 8 training rows of data.csv/logreg, or full"
    ]
    res, _ = validate(tmp_path, GOOD, "train.batch_size=full")
    assert res.exit_code == 0


def test_header_only_and_empty_file(tmp_path: Path):
    res, path = validate(tmp_path, "a,b,y\n")
    assert errors_of(res) == [f"{path}: got 'only a header'; expected at least 2 data rows"]
    res, path = validate(tmp_path, "")
    assert errors_of(res) == [f"{path}: got 'an empty file'; expected a CSV file with a header row"]  # fmt: skip


def test_binary_junk_and_bad_csv(tmp_path: Path):
    res, path = validate(tmp_path, b"a,y\n1,x\n\xff\xfe\x00junk,y\n")
    assert errors_of(res) == [f"{path}: got 'byte 0xff at offset 8'; expected UTF-8 text (a CSV file)"]  # fmt: skip
    res, path = validate(tmp_path, 'a,y\n1,x\n2,"unclosed\n')
    assert errors_of(res) == [f"{path}: line 3: got 'unexpected end of data'; expected well-formed CSV"]  # fmt: skip


def test_ragged_row_names_row_and_line(tmp_path: Path):
    res, path = validate(tmp_path, "a,b,y\n1,2,x\n\n3,y\n")
    assert errors_of(res) == [f"{path}: row 2 (line 4): got '2 fields'; expected 3 fields, like the header"]  # fmt: skip


def test_data_errors_stop_a_sweep_before_training(tmp_path: Path):
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,x\n2,x\n3,x\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"tasks: [{{dataset: {data}, model: logreg, target: y}}]\ntrain: {{steps: 5}}\n"
    )
    res = runner.invoke(app, ["sweep", str(config), "--out", str(tmp_path / "r"), "-q"])
    assert errors_of(res) == [f"{data}: column 'y': got 'only the class x in all 3 rows'; expected at least 2 classes"]  # fmt: skip
    assert not (tmp_path / "r" / "runs").exists()


def test_regression_targets_must_be_numbers(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_text("a,t\n1,0.5\n2,x\n3,1.5\n")
    with pytest.raises(
        ConfigError, match=r"column 't', row 2 \(line 3\): got 'x'; expected a number$"
    ):
        load_data(str(path), {}, task="regression", target="t")
