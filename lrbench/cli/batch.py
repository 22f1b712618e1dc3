"""``lrbench batch`` and ``lrbench compare``, and the CI checks that ``lrbench sweep`` shares
with ``batch``: ``--check``, ``--baseline``, ``--tolerance``, ``--junit`` and the GitHub job
summary.

Exit codes (:mod:`lrbench.cli.common`): 130 interrupted; 2 bad input (a config, a flag, a
baseline of another config); 1 with ``--check`` when an expectation failed or a baseline
comparison found a regression; 0 otherwise. Without ``--check`` the checks are shown and the
exit code is 0. Heavy modules are imported inside the commands (``lrbench --help`` stays fast).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from lrbench.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_EXPECTATIONS,
    Format,
    FormatOpt,
    JobsOpt,
    NoResumeOpt,
    PlotsOpt,
    QuietOpt,
    SetOpt,
    stderr,
    stdout,
    user_errors,
    write_report,
)
from lrbench.errors import LrbenchError
from lrbench.files import atomic_write

CheckOpt = Annotated[
    bool,
    typer.Option("--check", help="Exit 1 when an expectation fails or the baseline regressed."),
]
BaselineOpt = Annotated[
    Path | None,  # noqa: UP007 - typer needs Optional here on 3.10
    typer.Option(
        "--baseline",
        help="Compare with baseline results after training (sweep: a results folder; batch: a "
        "folder holding one results folder per config name).",
    ),
]
JunitOpt = Annotated[
    Path | None,  # noqa: UP007
    typer.Option("--junit", help="Write JUnit XML (a test case per expectation) to this file."),
]
ToleranceOpt = Annotated[
    str | None,  # noqa: UP007
    typer.Option(
        "--tolerance",
        help="How much worse a best metric may get: 5% (relative), 0.002 (absolute) or "
        "5%,0.002 (the larger). Default: max(5% of |baseline|, 0.001) for losses, 0.01 for "
        "accuracies.",
        show_default=False,
    ),
]


class ExecutorKind(str, Enum):
    local = "local"
    dask = "dask"


ExecutorOpt = Annotated[
    ExecutorKind,
    typer.Option(
        "--executor",
        help="Where the chunks train: local worker processes, or a Dask cluster "
        "(pip install 'lrbench\\[dask]').",
    ),
]
AddressOpt = Annotated[
    str | None,  # noqa: UP007
    typer.Option(
        "--address",
        help="Dask scheduler to use with --executor dask, e.g. tcp://HOST:8786 (default: a "
        "local cluster of --jobs worker processes).",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class CiOptions:
    """The CI flags of one command, checked before any training."""

    check: bool = False
    baseline: Path | None = None
    junit: Path | None = None
    tolerance: Any = None  # lrbench.sweep.compare.Tolerance

    def wanted(self, config: Any, fmt: Format) -> bool:
        """Whether a single sweep's checks are used: a CI flag, the config's ``expect:``, JSON
        output (its ``checks``) or a GitHub job summary. Otherwise the sweep skips them and
        their modules (expectations, comparison, JUnit: about 20 ms of a W1 sweep)."""
        return (
            self.check
            or self.baseline is not None
            or self.junit is not None
            or bool(config.expect)
            or fmt is Format.json
            or bool(os.environ.get("GITHUB_STEP_SUMMARY"))
        )

    def run_checks(self, outcome: Any, source: str) -> Any:
        """The finished sweep's :class:`lrbench.sweep.checks.SweepChecks`."""
        from lrbench.sweep.checks import check_sweep  # sweep: --help, list load none

        return check_sweep(outcome, source, self.baseline, self.tolerance)


def ci_options(
    check: bool,
    baseline: Path | None,
    junit: Path | None,
    tolerance: str | None,
    name: str | None = None,
) -> CiOptions:
    """Validate the CI flags; with ``name`` (a single sweep) the baseline must hold its results."""
    tol = None  # compare's default
    if tolerance is not None:
        from lrbench.sweep.compare import parse_tolerance  # with --tolerance only (see wanted)

        tol = parse_tolerance(tolerance)
    if baseline is not None:
        from lrbench.sweep.checks import baseline_folder  # with --baseline only (see wanted)

        if not baseline.is_dir():
            raise LrbenchError(f"--baseline {baseline}: no such folder")
        if name is not None and baseline_folder(baseline, name) is None:
            raise LrbenchError(
                f"--baseline {baseline}: no results of {name!r} there (runs.csv in the folder "
                f"or in {baseline / name})"
            )
    if junit is not None and junit.is_dir():
        raise LrbenchError(f"--junit {junit}: is a folder; give a file name")
    return CiOptions(check, baseline, junit, tol)


def ci_json(checks: Any) -> dict[str, Any]:
    """What ``sweep --format json`` adds to its summary: ``{"checks": ...}``."""
    return {"checks": checks.to_json()}


def show_checks(checks: Sequence[Any], fmt: Format, *, batch: bool = False) -> None:
    """Print the checks (table or Markdown; nothing for JSON, which carries them itself)."""
    from lrbench.report import checks as report  # report: --help loads none

    if fmt is Format.json:
        return
    if fmt is Format.markdown:
        from lrbench.report.ci import step_summary  # report: --help loads none

        if batch or any(c.expectations or c.comparison or c.baseline_note for c in checks):
            sys.stdout.write(step_summary(checks) + "\n")
        return
    console = stdout()
    if batch:
        console.print(report.rich_table(report.batch_model(checks)))
    if any(c.expectations for c in checks):
        console.print(report.rich_table(report.expectations_model(checks)))
    for c in checks:
        if c.comparison is not None:
            changed = [r for r in c.comparison.rows if r.changed or r.regression]
            if changed or not batch:
                rows = changed if batch else None
                console.print(report.rich_table(report.comparison_model(c.comparison, rows=rows)))
            for line in report.comparison_lines(c.comparison):
                console.print(f"{c.name}: {line}")
        if c.baseline_note:
            console.print(c.baseline_note)


def finish_checks(checks: Sequence[Any], opts: CiOptions, fmt: Format, *, batch: bool = False):
    """Show the checks, append the job summary, write the JUnit file, then exit 1 (``--check``
    and something failed), 2 (a baseline of another config) or return."""
    from lrbench.report.ci import junit_xml, step_summary  # report: --help loads none

    show_checks(checks, fmt, batch=batch)
    err = stderr()
    append_step_summary(lambda: step_summary(checks))
    if opts.junit is not None:
        atomic_write(opts.junit, junit_xml(checks))
        err.print(f"JUnit XML: {opts.junit}")
    if any(c.baseline_error for c in checks):
        raise typer.Exit(EXIT_BAD_INPUT)
    failed = [c for c in checks if not c.ok]
    if failed:
        n_exp = sum(len(c.failed) for c in failed)
        n_reg = sum(c.regressions for c in failed)
        err.print(
            f"checks: {n_exp} expectation(s) failed, {n_reg} regression(s) "
            + ("(exit 1: --check)" if opts.check else "(exit 0: run with --check to fail)"),
            soft_wrap=True,
        )
        if opts.check:
            raise typer.Exit(EXIT_EXPECTATIONS)


def append_step_summary(build) -> None:
    """Append ``build()`` to the file named by ``$GITHUB_STEP_SUMMARY``, when it is set."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(build())
    except OSError as exc:
        stderr().print(f"warning: could not write the job summary {path}: {exc}")


# ---------------------------------------------------------------- lrbench batch
def config_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given, folders as every ``*.yaml`` in them (sorted); duplicates once."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.yaml"))
            if not found:
                raise LrbenchError(f"{p}: no *.yaml config in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise LrbenchError(f"{p}: no such file or folder")
    return list(dict.fromkeys(out))


def load_all(files: Sequence[Path], overrides: Sequence[str]) -> list[Any]:
    """Load and validate every config before anything trains; names must differ (each names
    its results folder)."""
    from lrbench.config import load_config  # config+core: not for --help

    configs: list[Any] = []
    seen: dict[str, Path] = {}
    for f in files:
        try:
            config = load_config([f], overrides)
        except LrbenchError as exc:
            text = str(exc)
            raise LrbenchError(text if text.startswith(str(f)) else f"{f}: {text}") from None
        if config.name in seen:
            raise LrbenchError(
                f"{f}: config name {config.name!r} is also the name of {seen[config.name]} "
                "(each config writes to <out-root>/<name>/)"
            )
        seen[config.name] = f
        configs.append(config)
    return configs


def batch(
    paths: Annotated[
        list[Path], typer.Argument(help="Config files and/or folders (every *.yaml in them).")
    ],
    out_root: Annotated[
        Path, typer.Option("--out-root", help="Each config's results go to OUT_ROOT/<name>/.")
    ] = Path("results"),
    jobs: JobsOpt = None,
    set_: SetOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    no_resume: NoResumeOpt = False,
    plots: PlotsOpt = True,
    check: CheckOpt = False,
    baseline: BaselineOpt = None,
    junit: JunitOpt = None,
    tolerance: ToleranceOpt = None,
    executor: ExecutorOpt = ExecutorKind.local,
    address: AddressOpt = None,
) -> None:
    """Run several configs, each as its own sweep, then check them all (CI)."""
    from lrbench.cli.progress import SweepProgress  # rich.progress: only when progress is shown
    from lrbench.sweep import run as sweep_mod  # sweep: --help, list load none
    from lrbench.sweep.executor import default_jobs  # sweep: --help, list load none
    from lrbench.sweep.executors import open_executor  # sweep: --help, list load none

    err = stderr()
    # one executor (one Dask cluster) for every config of the batch
    with user_errors(), open_executor(executor.value, jobs or default_jobs(), address) as runner:
        files = config_files(paths)
        configs = load_all(files, set_ or ())
        opts = ci_options(check, baseline, junit, tolerance)
        n_jobs = jobs or default_jobs()
        checks = []
        for i, (path, config) in enumerate(zip(files, configs)):
            if not quiet:
                err.print(f"[{i + 1}/{len(configs)}] {config.name} ({path})")
            progress = None if quiet else SweepProgress(err)
            outcome = sweep_mod.run(
                config,
                out=out_root / config.name,
                jobs=n_jobs,
                resume=not no_resume,
                on_event=progress.event if progress else None,
                argv=sys.argv,
                executor=runner,
            )
            if progress:
                progress.close()
            if plots:
                outcome = write_report(outcome)
            checks.append(opts.run_checks(outcome, str(path)))
    if fmt is Format.json:
        sys.stdout.write(json.dumps(batch_json(checks), indent=2) + "\n")
    finish_checks(checks, opts, fmt, batch=True)


def batch_json(checks: Sequence[Any]) -> dict[str, Any]:
    """``lrbench batch --format json``."""
    return {
        "configs": [c.to_json() for c in checks],
        "passed": all(c.ok for c in checks),
        "failed_expectations": sum(len(c.failed) for c in checks),
        "regressions": sum(c.regressions for c in checks),
    }


# ---------------------------------------------------------------- lrbench compare
def compare(
    baseline: Annotated[Path, typer.Argument(help="Baseline results folder.")],
    new: Annotated[Path, typer.Argument(help="New results folder.")],
    tolerance: ToleranceOpt = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Output: table, json or markdown.")
    ] = Format.table,
) -> None:
    """Compare two results folders (runs.csv, manifest.json, summary.csv); exit 1 on a regression."""
    from lrbench.report import checks as report  # report: --help loads none
    from lrbench.report.ci import compare_summary  # report: --help loads none
    from lrbench.sweep.compare import compare as compare_results  # sweep: --help, list load none
    from lrbench.sweep.compare import parse_tolerance  # sweep: --help, list load none

    with user_errors():
        result = compare_results(baseline, new, parse_tolerance(tolerance))
    if fmt is Format.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    elif fmt is Format.markdown:
        sys.stdout.write(report.comparison_markdown(result) + "\n")
    else:
        console = stdout()
        console.print(report.rich_table(report.comparison_model(result)))
        for line in report.comparison_lines(result):
            console.print(line)
    append_step_summary(lambda: compare_summary(result))
    if result.regressions:
        raise typer.Exit(EXIT_EXPECTATIONS)
