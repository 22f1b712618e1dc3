"""``report.html``: one self-contained page per results folder (inline CSS and SVG; no script,
no font, no image or style sheet fetched from anywhere), to open from disk or a CI artifact.

A sweep's page: what ran (the status counts, and how many runs are missing from a partly
finished sweep), then per task the heatmap as an HTML table with the terminal's marks and
colours (:data:`CELL_CSS`), the best lr and good band of each row, and the task's figures; then
the best configurations, the sweep-wide figures (the schedules), the run statuses and what each
means, the config and the manifest (versions, machine, command). A find-lr page: per task x
optimizer the suggestions with their notes, the figure, the next sweep command, the settings
and the config. Tables come from :mod:`lrbench.report.table_model` (the same models as the
terminal, unfitted: a page scrolls sideways when it must).
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lrbench.report import tables
from lrbench.report.table_model import Column, Entry, TableModel

if TYPE_CHECKING:
    from lrbench.report.plots import Figure
    from lrbench.report.results import FindLrFolder, SweepFolder

#: How each cell style (:data:`lrbench.report.table_model.STYLES`) looks on the page: the
#: terminal's colours (bold black on green for the best cell, green, red, yellow, dim, bold),
#: yellow darkened to be read on white.
CELL_CSS = {
    "best": "font-weight:bold;color:#000;background:#3cb043",
    "good": "color:#1a7f37",
    "bad": "color:#c62828",
    "warn": "color:#9a6700",
    "dim": "color:#8c8c8c",
    "strong": "font-weight:bold",
}

#: What each run status means (README "Run outcomes"), best to worst; the HTML report shows it.
STATUS_DEFINITIONS = (
    ("ok", "none of the below"),
    (
        "slow",
        "stable, at a learning rate below the best of its row, and it closed less than 75 % of "
        "the gap between the initial metric and the best run's metric (compared within the "
        "same seed)",
    ),
    (
        "unstable",
        "finished, but its full training loss (at evaluation points) spiked, some point "
        "exceeding 1.5 x the lowest value before it (by more than 0.1 % of the initial loss), "
        "or oscillated, changing direction at least 3 times with moves larger than 20 % of "
        "the loss",
    ),
    (
        "diverged",
        "the minibatch loss became non-finite, or exceeded divergence_factor (default 1000) x "
        "the initial full training loss, or an evaluation loss became non-finite; the run "
        "stopped there (a result with the step where it diverged)",
    ),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;
background:#fff;line-height:1.45}
main{max-width:1500px;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.3rem;margin:2rem 0 .5rem;
border-bottom:1px solid #d0d7de}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
p{margin:.4rem 0}.note{color:#59636e;font-size:.9rem}.missing{color:#9a6700;font-weight:bold}
.scroll{overflow-x:auto}
table{border-collapse:collapse;margin:.4rem 0;font-size:.9rem}
caption{text-align:left;font-weight:bold;padding:.2rem 0}
th,td{border:1px solid #d0d7de;padding:.2rem .5rem;vertical-align:top}
th{background:#f6f8fa}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}td.key,th.key{white-space:nowrap}td.pre{white-space:pre-wrap}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto;display:block}
figcaption{color:#59636e;font-size:.9rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.85rem}
nav ul{margin:.2rem 0;padding-left:1.2rem}code{font-size:.9em}
"""
CSS += "".join(f"td.{k}{{{v}}}" for k, v in CELL_CSS.items())


def esc(text: Any) -> str:
    """``text`` as HTML character data or attribute value."""
    return html.escape(str(text), quote=True)


def anchor(text: str) -> str:
    """An id for a section: ``digits/mlp[32]`` -> ``digits-mlp-32``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "section"


# ------------------------------------------------------------------------------ building blocks


def table_html(model: TableModel, notes: bool = True) -> str:
    """A table model as an HTML table: its title as the caption, column marks after headers,
    one CSS class per cell style (:data:`CELL_CSS`), numbers right-aligned; then its notes."""
    kinds = ["num" if c.justify == "right" else ("key" if c.key else "") for c in model.columns]
    head = "".join(
        f'<th class="{k}">{esc(c.label)}</th>' if k else f"<th>{esc(c.label)}</th>"
        for c, k in zip(model.columns, kinds)
    )
    body = []
    for row in model.rows:
        cells = []
        for kind, e in zip(kinds, row):
            classes = " ".join(x for x in (kind, e.style, "pre" * ("\n" in e.text)) if x)
            attr = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attr}>{esc(e.text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = [
        '<div class="scroll"><table>',
        f"<caption>{esc(model.title)}</caption>" if model.title else "",
        f"<thead><tr>{head}</tr></thead>",
        "<tbody>" + "\n".join(body) + "</tbody></table></div>",
    ]
    if notes:
        out += [f'<p class="note">{esc(n)}</p>' for n in model.notes]
    return "\n".join(x for x in out if x)


def figure_html(svg: str, caption: str, prefix: str) -> str:
    """An inline SVG figure; its element ids (``clipPath``) prefixed so that several figures
    in one page never share an id."""
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    return f"<figure>\n{svg}<figcaption>{esc(caption)}</figcaption>\n</figure>"


def key_values(title: str, items: Iterable[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return f'<div class="scroll"><table><caption>{esc(title)}</caption>{rows}</table></div>'


def page(title: str, body: Sequence[str]) -> str:
    """The whole document: head with the inline style sheet, then ``body`` in ``<main>``."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def manifest_items(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``manifest.json`` as rows: nested keys joined by dots, the command as one shell line."""
    out: list[tuple[str, str]] = []
    for key, value in manifest.items():
        if key == "command" and isinstance(value, list):
            out.append((key, shlex.join(str(v) for v in value)))
        elif isinstance(value, dict):
            if key in ("statuses", "stability_bounds"):
                out.append((key, ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"))
            else:
                out += [(f"{key}.{k}", str(v)) for k, v in value.items()]
        else:
            out.append((key, str(value)))
    return out


# ------------------------------------------------------------------------------ a sweep


def missing_line(folder: SweepFolder) -> str:
    """What a report of a partly finished sweep says ("" when every run is there)."""
    if folder.missing <= 0:
        return ""
    out = folder.outcome.out_dir
    return (
        f"{folder.missing} of {folder.expected} runs are missing: the sweep is not finished. "
        f"`lrbench sweep {out}/config.yaml --out {out}` trains the missing runs."
    )


def counts_line(folder: SweepFolder) -> str:
    """``252 runs: 168 ok, 44 slow, 31 unstable, 9 diverged``."""
    counts = folder.outcome.analysis.statuses.as_dict(nonzero=True)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    n = len(folder.outcome.results)
    return f"{n} run{'s' * (n != 1)}" + (f": {parts}" if parts else "")


def sweep_html(folder: SweepFolder, figures: Sequence[Figure]) -> str:
    """The page of a sweep's results folder (see the module docstring)."""
    outcome = folder.outcome
    name = outcome.config.name
    by_task: dict[str | None, list[Figure]] = {}
    for f in figures:
        by_task.setdefault(f.task, []).append(f)
    tasks = outcome.analysis.tasks
    profile = tables.profile_model(outcome)  # with a target and two or more tasks
    body = [f"<h1>lrbench sweep: {esc(name)}</h1>", f"<p>{esc(counts_line(folder))}</p>"]
    if folder.missing:
        body.append(f'<p class="missing">{esc(missing_line(folder))}</p>')
    sections = [(t, f"task-{anchor(t)}") for t in tasks] + [
        ("best configurations", "best"),
        *([("performance profile across tasks", "profile")] if profile else []),
        ("figures of the whole sweep", "sweep-figures"),
        ("run statuses", "statuses"), ("config", "config"), ("manifest", "manifest"),
    ]  # fmt: skip
    body.append(
        "<nav><ul>" + "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for t, a in sections)
        + "</ul></nav>"
    )  # fmt: skip
    k = 0
    for task in tasks:
        body.append(f'<h2 id="task-{anchor(task)}">{esc(task)}</h2>')
        body.append(table_html(tables.heatmap_model(outcome, task)))
        for f in by_task.get(task, []):
            k += 1
            body.append(figure_html(f.svg, f"{f.caption} (plots/{f.name})", f"f{k}"))
    body += ['<h2 id="best">best configurations</h2>', table_html(tables.best_model(outcome))]
    if profile is not None:
        body += ['<h2 id="profile">performance profile across tasks</h2>', table_html(profile)]
    body.append('<h2 id="sweep-figures">figures of the whole sweep</h2>')
    for f in by_task.get(None, []):
        k += 1
        body.append(figure_html(f.svg, f"{f.caption} (plots/{f.name})", f"f{k}"))
    body += ['<h2 id="statuses">run statuses</h2>', table_html(status_model(folder), notes=False)]
    body += ['<h2 id="config">config</h2>', f"<pre>{esc(folder.config_text)}</pre>"]
    body.append('<h2 id="manifest">manifest</h2>')
    if folder.manifest:
        body.append(key_values("manifest.json", manifest_items(folder.manifest)))
    else:
        body.append("<p>No manifest.json yet: the sweep has not finished once.</p>")
    return page(f"lrbench sweep: {name}", body)


def status_model(folder: SweepFolder) -> TableModel:
    """Each run status, how many runs have it, and what it means."""
    counts = folder.outcome.analysis.statuses.as_dict()
    style = {"ok": "", "slow": "dim", "unstable": "warn", "diverged": "bad"}
    rows = tuple(
        (Entry(s, style[s]), Entry(str(counts.get(s, 0))), Entry(text))
        for s, text in STATUS_DEFINITIONS
    )
    columns = (Column("status"), Column("runs", "right"), Column("definition"))
    return TableModel("run statuses, best to worst", columns, rows)


# ------------------------------------------------------------------------------ find-lr


def findlr_html(folder: FindLrFolder) -> str:
    """The page of a find-lr results folder (see the module docstring)."""
    from lrbench.report.findlr_tables import suggestion_model  # find-lr only: sweep pages skip it

    s = folder.summary
    name = s.get("name", "find-lr")
    body = [f"<h1>lrbench find-lr: {esc(name)}</h1>"]
    body += [f'<p class="missing">warning: {esc(w)}</p>' for w in s.get("warnings", [])]
    for pair in s["results"]:
        model = suggestion_model(pair, s["settings"])
        body.append(f'<h2 id="{anchor(pair["task"] + "-" + pair["optimizer_label"])}">'
                    f"{esc(pair['task'])} / {esc(pair['optimizer_label'])}</h2>")  # fmt: skip
        body.append(table_html(model))
    body.append("<h2>figure</h2>")
    if folder.figure is not None:
        caption = (
            "loss against the learning rate: each seed faint, the smoothed mean bold, every "
            "method's suggestion and 2/L as vertical lines (plot.svg)"
        )
        body.append(figure_html(folder.figure, caption, "f1"))
    else:
        body.append("<p>No plot.svg: the test ran with --no-plot.</p>")
    body.append("<h2>next</h2>")
    command = s.get("sweep_command")
    body.append(
        f"<pre>{esc(command)}</pre>" if command else "<p>No recommendation: no sweep to run.</p>"
    )
    settings = [(k, str(v)) for k, v in s["settings"].items()]
    body += ["<h2>settings</h2>", key_values("range-test settings", settings)]
    body += ["<h2>config</h2>", f"<pre>{esc(folder.config_text)}</pre>"]
    return page(f"lrbench find-lr: {name}", body)
