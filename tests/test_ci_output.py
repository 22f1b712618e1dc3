"""Output for CI: the JUnit file validated against the Ant/Jenkins JUnit XML schema
(tests/junit.xsd, checked with xmlschema) with the right counts, the Markdown job summary in
``$GITHUB_STEP_SUMMARY`` and its size cap, plain output without ANSI codes when not a terminal,
and only JSON on stdout with ``--format json``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest
import xmlschema  # the dev extra: a missing one fails the tests rather than skipping them
import yaml
from typer.testing import CliRunner

from lrbench.cli.main import app
from lrbench.expect import Expectation
from lrbench.report.ci import SUMMARY_BUDGET, junit_xml, step_summary
from lrbench.sweep.checks import SweepChecks
from lrbench.sweep.expect import ExpectationResult

SCHEMA = Path(__file__).parent / "junit.xsd"
runner = CliRunner()
CONFIG = {
    "seeds": 2,
    "tasks": [{"dataset": "iris", "model": "logreg"}],
    "train": {"epochs": 2, "batch_size": 16},
    "lr": [0.1, 1.0],
    "optimizers": ["sgd", "adam"],
}
PASS = {"what": "diverged_fraction", "at_most": 1.0}
FAIL = {"what": "metric", "at_most": 1e-6, "name": "loss is tiny"}


def write(folder: Path, name: str, expect: list[dict]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **CONFIG, "expect": expect}))
    return path


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """A batch of two configs: 'alpha' passes its expectation and has a baseline that was
    better (a regression); 'beta' fails one of two and has no baseline."""
    root = tmp_path_factory.mktemp("ci")
    cfgs = root / "cfgs"
    cfgs.mkdir()
    write(cfgs, "alpha", [PASS])
    write(cfgs, "beta", [PASS, FAIL])
    out = root / "results"
    args = ["batch", str(cfgs), "--out-root", str(out), "--no-plots", "--jobs", "1", "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    base = root / "baselines" / "alpha"
    base.mkdir(parents=True)
    for name in ("runs.csv", "manifest.json", "summary.csv"):
        text = (out / "alpha" / name).read_text()
        if name == "runs.csv":  # the baseline's losses were a third lower
            text = _scaled_losses(text, 2 / 3)
        (base / name).write_text(text)
    summary = root / "step-summary.md"
    summary.write_text("earlier step\n")
    junit = root / "junit.xml"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    args += ["--check", "--junit", str(junit), "--baseline", str(root / "baselines")]
    res = runner.invoke(app, args, env=env)
    return res, junit, summary


def _scaled_losses(text: str, factor: float) -> str:
    lines = text.splitlines()
    head = lines[0].split(",")
    i = head.index("final_val_loss")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[i]:
            cells[i] = repr(float(cells[i]) * factor)
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


def test_the_batch_fails_on_the_expectation_and_the_regression(batch_run):
    res, _, _ = batch_run
    assert res.exit_code == 1, res.output
    assert "1 expectation(s) failed, 1 regression(s) (exit 1: --check)" in res.stderr


def test_junit_is_valid_with_a_suite_per_config_and_a_case_per_check(batch_run):
    _, junit, _ = batch_run
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(junit))
    root = ET.parse(junit).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["alpha", "beta"]
    alpha, beta = suites
    # alpha: sweep + 1 expectation + the comparison (a regression)
    assert (alpha.get("tests"), alpha.get("failures"), alpha.get("skipped")) == ("3", "1", "0")
    # beta: sweep + 2 expectations (one fails) + the comparison (skipped: no baseline)
    assert (beta.get("tests"), beta.get("failures"), beta.get("skipped")) == ("4", "1", "1")
    names = [c.get("name") for c in beta.findall("testcase")]
    assert names == ["sweep", "diverged_fraction <= 1", "loss is tiny", "baseline comparison"]
    failure = beta.find("testcase[@name='loss is tiny']/failure")
    assert failure.get("type") == "expectation"
    assert "loss is tiny: measured " in failure.get("message")
    assert "expected metric <= 1e-06" in failure.get("message")
    regression = alpha.find("testcase[@name='baseline comparison']/failure")
    assert regression.get("type") == "regression"
    assert "iris/logreg" in regression.text
    for suite in suites:
        assert len(suite.findall("testcase")) == int(suite.get("tests"))


def test_the_schema_rejects_what_readers_would(batch_run):
    """The check is not vacuous: a case without classname, or a failure without type, fails."""
    _, junit, _ = batch_run
    schema = xmlschema.XMLSchema(str(SCHEMA))
    text = junit.read_text()
    assert not schema.is_valid(text.replace('classname="lrbench.beta.expect"', "", 1))
    assert not schema.is_valid(text.replace('type="expectation"', ""))
    assert not schema.is_valid(re.sub(r' hostname="[^"]*"', "", text, count=1))
    assert not schema.is_valid(text.replace('time="', 'time="1,', 1))


def test_the_step_summary_is_appended(batch_run):
    _, _, summary = batch_run
    text = summary.read_text()
    assert text.startswith(
        "earlier step\n## lrbench: 1 expectation failed, 1 regression in 2 of 2 configs"
    )
    assert (
        "| config | runs | diverged | best configuration | expectations | regressions | wall s |"
        in text
    )
    assert "| beta | 8 | " in text and "1 of 2 failed" in text
    assert "### failed expectations" in text and "| loss is tiny | FAIL" in text
    assert "REGRESSION" in text and "- no baseline for beta" in text
    assert "\x1b" not in text


def checks_with(n_configs: int, n_expect: int) -> list[SweepChecks]:
    results = tuple(
        ExpectationResult(Expectation("metric", at_most=0.1, metric="final_val_loss",
                                      name=f"expectation {i} " + "x" * 400),
                          False, 0.5, (0.4, 0.6), 3, "best cell: " + "y" * 500)
        for i in range(n_expect)
    )  # fmt: skip
    return [
        SweepChecks(f"config-{k}", f"c{k}.yaml", Path(f"results/c{k}"), "final_val_loss", 500, 20,
                    500, "digits/mlp[64] adam / cosine at lr 0.01", 0.1, results, None, None, 1.0)
        for k in range(n_configs)
    ]  # fmt: skip


@pytest.mark.parametrize(("configs", "expect"), [(1, 20_000), (5_000, 1), (3, 3)])
def test_the_step_summary_stays_under_1_mib_whatever_the_grid(configs, expect):
    text = step_summary(checks_with(configs, expect))
    size = len(text.encode())
    assert size <= SUMMARY_BUDGET < 1024 * 1024
    long = configs * expect > 100
    assert ("more table rows left out" in text) is long
    assert max(len(line) for line in text.splitlines()) < 3000  # long cells are cut


def test_junit_handles_characters_xml_cannot_hold():
    checks = checks_with(1, 1)
    bad = Expectation("metric", at_most=0.1, metric="final_val_loss", name="esc \x1b[31m & <b>")
    checks[0] = SweepChecks(**{**checks[0].__dict__, "expectations": (
        ExpectationResult(bad, False, 0.5, None, 1, "d"),)})  # fmt: skip
    text = junit_xml(checks, when=datetime(2026, 1, 2, 3, 4, 5), host="ci")
    xmlschema.XMLSchema(str(SCHEMA)).validate(text)
    case = ET.fromstring(text).find("testsuite/testcase[2]")
    assert case.get("name") == "esc [31m & <b>"
    assert 'timestamp="2026-01-02T03:04:05"' in text


def test_plain_output_without_ansi_when_not_a_terminal(tmp_path):
    cfg = write(tmp_path, "plain", [PASS])
    env = {**os.environ, "TERM": "xterm-256color"}
    for key in ("FORCE_COLOR", "TTY_COMPATIBLE", "GITHUB_STEP_SUMMARY"):
        env.pop(key, None)
    base = [sys.executable, "-m", "lrbench", "batch", str(cfg), "--out-root", str(tmp_path / "r"),
            "--no-plots", "--jobs", "1"]  # fmt: skip
    done = subprocess.run(base, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr
    assert "lrbench batch: 1 config" in done.stdout
    assert "trained 8 runs" in done.stderr  # plain progress lines, no bar
    done = subprocess.run([*base, "--format", "json"], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip
    assert done.returncode == 0
    assert json.loads(done.stdout)["configs"][0]["name"] == "plain"  # nothing else on stdout
    assert "\x1b" not in done.stderr


def test_compare_appends_its_summary(batch_run, tmp_path, monkeypatch):
    _, junit, _ = batch_run
    results = junit.parent / "results" / "alpha"
    summary = tmp_path / "s.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = runner.invoke(app, ["compare", str(junit.parent / "baselines" / "alpha"), str(results)])
    assert res.exit_code == 1
    text = summary.read_text()
    assert text.startswith("## lrbench compare: alpha")
    assert "REGRESSION" in text and "regression" in text


_LOADED = """import sys
from lrbench.__main__ import main
sys.argv = ["lrbench", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write("checks loaded: %s\\n" % ("lrbench.sweep.checks" in sys.modules))
    sys.stderr.write("figures loaded: %s\\n" % ("lrbench.report.plots" in sys.modules))
"""


def test_a_plain_sweep_skips_the_checks_and_a_job_summary_still_gets_them(tmp_path):
    """Without a CI flag, ``expect:``, JSON output or ``$GITHUB_STEP_SUMMARY`` nothing would
    show the checks, so the sweep does not compute them (nor load their modules); each of those
    brings them back."""
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump({"name": "plain", **CONFIG}))
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    base = [sys.executable, "-c", _LOADED, "sweep", str(path), "--out", str(tmp_path / "r"),
            "--no-plots", "--jobs", "1", "--quiet"]  # fmt: skip

    def run(*extra: str, **more_env: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120,
                              env={**env, **more_env})  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    plain = run().stderr
    assert "checks loaded: False" in plain
    assert "figures loaded: False" in plain  # --no-plots: report/figures.py is not imported
    assert "checks loaded: True" in run("--format", "json").stderr
    summary = tmp_path / "summary.md"
    assert "checks loaded: True" in run(GITHUB_STEP_SUMMARY=str(summary)).stderr
    assert summary.read_text().startswith("## lrbench")
    path.write_text(yaml.safe_dump({"name": "plain", **CONFIG, "expect": [PASS]}))
    assert "checks loaded: True" in run().stderr
