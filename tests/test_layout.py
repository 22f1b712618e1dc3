"""The package's rooms and the one-way rule for imports (README, Architecture).

Every ``import lrbench...`` in the package, at the top of a module or inside a function, is read
with :mod:`ast`; each module belongs to a room, and a room may import only from rooms below it:

    vocabulary (errors, params, spec, files) < core < config < sweep, finder < report < cli

``sweep`` and ``finder`` are siblings and import neither each other. ``report`` never imports the
engine. Nothing imports ``cli``. The module graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lrbench"

RANK = {"vocabulary": 0, "core": 1, "config": 2, "sweep": 3, "finder": 3, "report": 4, "cli": 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "vocabulary"
    if parts[1] in ("core", "sweep", "finder", "report", "cli", "config"):
        return parts[1]
    if parts[1] == "__main__":
        return "cli"
    return "vocabulary"


def lrbench_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every lrbench import in the file, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("lrbench")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lrbench":  # from lrbench import x: x may be a module
                found += [(node.lineno, f"lrbench.{a.name}") for a in node.names]
            elif node.module.startswith("lrbench"):
                found.append((node.lineno, node.module))
    return found


def graph() -> dict[str, list[tuple[int, str]]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = []
        for line, target in lrbench_imports(path):
            while target not in modules and "." in target:  # lrbench.x.attr -> lrbench.x
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                targets.append((line, target))
        edges[name] = targets
    return edges


def test_rooms_import_one_way():
    wrong = []
    for source, targets in graph().items():
        for line, target in targets:
            a, b = room(source), room(target)
            if a == b or target == "lrbench":
                continue
            if RANK[b] >= RANK[a] or {a, b} == {"sweep", "finder"}:
                wrong.append(f"{source}:{line} ({a}) imports {target} ({b})")
    assert not wrong, "imports that run back up:\n" + "\n".join(wrong)


def test_report_never_imports_the_engine_and_nothing_imports_cli():
    edges = graph()
    for source, targets in edges.items():
        names = {t for _, t in targets}
        if room(source) == "report":
            assert "lrbench.core.engine" not in names, source
        if room(source) != "cli":
            assert not any(room(t) == "cli" for t in names), source


def test_no_import_cycle():
    edges = {k: [t for _, t in v] for k, v in graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [])


def test_the_rule_is_checked_on_a_planted_violation(tmp_path: Path):
    """The reader sees imports inside functions too (a rule that cannot fail checks nothing)."""
    planted = tmp_path / "x.py"
    planted.write_text(
        "def f():\n    from lrbench.cli.main import app\n    import lrbench.core.engine\n"
    )
    assert lrbench_imports(planted) == [(2, "lrbench.cli.main"), (3, "lrbench.core.engine")]
