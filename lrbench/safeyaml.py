"""Reading YAML that cannot hurt: plain values only, bounded size, depth and alias expansion.

PyYAML's safe loader already refuses tags that build Python objects (``!!python/object``), but
three things in a hostile or broken document still reach the user as a traceback or a hang:

- nesting: the composer recurses once per level, so ``[[[[...]]]]`` a few hundred levels deep
  ends in ``RecursionError``; documents are refused past :data:`MAX_DEPTH` levels, counted while
  composing, before Python's recursion limit is near;
- aliases: ``&a [x, x]``, ``&b [*a, *a]``, ... ("billion laughs") are stored as shared nodes, so
  loading is cheap, but every later walk (validation, a copy, an error message) expands them.
  The composed node graph is measured before any value is built: its size with every alias
  expanded (at most :data:`MAX_VALUES` values), its depth with aliases expanded, and an alias
  inside its own anchor (a structure that contains itself) is refused;
- bytes: a file over :data:`MAX_BYTES`, text that is not UTF-8 (or UTF-16 with a byte-order
  mark), control characters, and integers too long to convert (Python's 4300-digit limit).

Every problem is one :class:`lrbench.errors.LrbenchError` naming the file (or flag) and, where
the YAML reader knows it, the line and column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, SequenceNode

from lrbench.errors import LrbenchError

MAX_BYTES = 1 << 20  # a config is a few hundred bytes; 1 MiB leaves room for long grids
MAX_DEPTH = 32  # nesting of mappings and lists (a config needs about 6)
MAX_VALUES = 100_000  # values (mappings, lists, scalars) with every alias expanded


class YamlProblem(LrbenchError):
    """A document that cannot be read: ``str()`` is ``"{source}: {reason}"``."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class _Loader(yaml.SafeLoader):
    """The safe loader with the depth, alias and size checks of this module."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None:  # PyYAML's types allow None (no document); its code never returns it
            _check_expansion(node)
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Size and depth of the document with every alias expanded, from the node graph (each
    shared node measured once): ``size(n) = 1 + sum(size(c))``, ``depth(n) = 1 +
    max(depth(c))``. A node met again while its own children are being measured is an alias
    inside its anchor."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in kids)
            depth[key] = 1 + max((depth[id(c)] for c in kids), default=0)
            open_.discard(key)
            if size[key] > MAX_VALUES:
                raise ComposerError(
                    None,
                    None,
                    f"its aliases expand to more than {MAX_VALUES} values",
                    node.start_mark,
                )
            if depth[key] > MAX_DEPTH:
                raise ComposerError(
                    None,
                    None,
                    f"its aliases nest values more than {MAX_DEPTH} levels deep",
                    node.start_mark,
                )
            continue
        if key in size:
            continue
        if key in open_:
            raise ComposerError(
                None, None, "an alias refers to its own anchor (a value containing itself)",
                node.start_mark,
            )  # fmt: skip
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def loads(text: str | bytes, source: str) -> Any:
    """Parse one YAML document (plain values only) or raise a one-line :class:`YamlProblem`
    that starts with ``source`` (a file name, or ``--set key``)."""
    if len(text) > MAX_BYTES:
        raise YamlProblem(source, f"{len(text)} bytes; expected at most {MAX_BYTES}")
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.reader.ReaderError as exc:
        raise YamlProblem(source, _reader_problem(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(source, _yaml_problem(exc)) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # int("9" * 5000) (Python's digit limit) and dates like 2001-13-45 fail in the
        # constructor with plain exceptions; RecursionError is a guard (the depth check comes first)
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "integer string conversion" in text:
            text = "an integer with more than 4300 digits"
        raise YamlProblem(source, f"a value YAML cannot build ({text})") from None


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file (see :func:`loads`): a clear error for a missing, unreadable,
    oversized or broken file."""
    p = Path(path)
    if not p.is_file():
        raise LrbenchError(f"config file not found: {p}")
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise LrbenchError(f"{p}: {size} bytes; expected a config of at most {MAX_BYTES}")
        data = p.read_bytes()
    except OSError as exc:
        raise LrbenchError(f"cannot read {p}: {exc.strerror or exc}") from None
    return loads(data, str(p))


def _where(mark: Any) -> str:
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or "invalid YAML"
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):  # "expected a single document..., but found..."
        problem = f"{context}, {problem}"
    if problem.startswith("could not determine a constructor for the tag"):
        tag = problem.rsplit(" ", 1)[-1].strip("'")
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        problem = f"the tag {tag} is not allowed (a config holds plain YAML values, no tags)"
    return problem + _where(getattr(exc, "problem_mark", None))


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    """``ReaderError`` prints on two lines; this is one."""
    if exc.encoding != "unicode":  # a decoding error: character is the offending byte
        byte = exc.character[0] if isinstance(exc.character, bytes) else int(exc.character)
        return f"not {exc.encoding.upper()} text: byte 0x{byte:02x} at offset {exc.position} ({exc.reason})"
    return (
        f"a control character #x{exc.character:04x} at offset {exc.position}; "
        "expected printable text"
    )
