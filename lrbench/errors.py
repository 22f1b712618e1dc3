"""The one exception type users see: bad input, reported as one line a problem by the CLI."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# A config with many mistakes is reported this far; the rest are counted ("and 7 more").
MAX_REPORTED = 20
# Values in messages are cut to about this many characters (a 1 MB list stays one short line).
MAX_SHOWN = 120


class LrbenchError(Exception):
    """Bad input from the user (config, flag, file). The CLI prints it on one line, exit 2."""


class ConfigError(LrbenchError):
    """A config value that is not allowed.

    The message names the key path, the value and what is allowed, e.g.
    ``optimizers[1].adam.betas: got [0.9, 1.5]; expected two numbers in [0, 1)``.
    """

    def __init__(self, path: str, value: object, allowed: str, hint: str = "") -> None:
        self.path = path
        self.value = value
        self.allowed = allowed
        self.hint = hint
        text = f"{path}: got {_show(value)}; expected {allowed}"
        if hint:
            text += f" ({hint})"
        super().__init__(one_line(text))


class ConfigErrors(ConfigError):
    """Several config problems found in one pass, one line each.

    ``str()`` joins the lines with newlines: the first :data:`MAX_REPORTED` problems, then
    ``and N more``. It is a :class:`ConfigError` whose ``path``, ``value`` and ``allowed`` are
    those of the first problem, so code that handles one error handles several.
    """

    errors: tuple[ConfigError, ...]

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        flat: list[ConfigError] = []
        for e in errors:
            flat.extend(e.errors if isinstance(e, ConfigErrors) else (e,))
        if not flat:
            raise ValueError("ConfigErrors needs at least one error")
        self.errors = tuple(flat)
        first = flat[0]
        self.path, self.value, self.allowed, self.hint = (
            first.path,
            first.value,
            first.allowed,
            first.hint,
        )
        LrbenchError.__init__(self, "\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        """One line a problem, capped at :data:`MAX_REPORTED` and a count of the rest."""
        shown = [str(e) for e in self.errors[:MAX_REPORTED]]
        rest = len(self.errors) - len(shown)
        if rest:
            shown.append(f"and {rest} more")
        return shown


class ErrorList:
    """Collects :class:`ConfigError` s so that one pass over a config reports every problem.

    ``attempt(check, *args)`` returns ``check(*args)``, or :data:`FAILED` after recording the
    error it raised; ``raise_if_any()`` raises the one error, or a :class:`ConfigErrors` of all.
    """

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self._seen: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.errors)

    def add(self, error: ConfigError) -> None:
        """Record ``error`` (each of a :class:`ConfigErrors`), once: grid cases that share a
        bad value give one line, not one a case."""
        for e in error.errors if isinstance(error, ConfigErrors) else (error,):
            if str(e) not in self._seen:
                self._seen.add(str(e))
                self.errors.append(e)

    def attempt(self, check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ConfigError as error:
            self.add(error)
            return FAILED

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)


class _Failed:
    """What :meth:`ErrorList.attempt` returns for a check that failed (falsy)."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "FAILED"


FAILED: Any = _Failed()


def one_line(text: str) -> str:
    """``text`` with every character that could end or hide a line (newlines, ``\\r``, other
    control characters, Unicode line and paragraph separators) written as its escape: a key or
    a file name taken from the user cannot split one problem's line in two."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _show(value: object) -> str:
    if isinstance(value, str):
        return _cut(repr(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple, Mapping)):
        return brief(value)
    return _cut(str(value))


def _cut(text: str, limit: int = MAX_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def brief(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` for lists, tuples and mappings (``str`` of a list), cut to ``limit``
    characters without ever building the whole text: a value made of YAML aliases can stand
    for 10**9 items in a few hundred bytes, and a value can refer to itself. Every expanded
    container adds at least one character, so the walk stops after about ``limit`` steps."""
    parts: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, (list, tuple, Mapping)):
            stack.extend(reversed(_pieces(item, limit)))
            continue
        text = item.text if isinstance(item, _Text) else repr(item)
        parts.append(text)
        size += len(text)
    return _cut("".join(parts), limit)


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _pieces(item: Any, most: int) -> list[Any]:
    """The tokens of ``repr(item)`` one level down: brackets, separators and the first ``most``
    children (each child shows as at least one character)."""
    if isinstance(item, Mapping):
        out: list[Any] = [_Text("{")]
        for i, (k, v) in enumerate(itertools.islice(item.items(), most)):
            out += [_Text(", ")] if i else []
            out += [k, _Text(": "), v]
        return out + [_Text("}")]
    open_, close = ("(", ")") if isinstance(item, tuple) else ("[", "]")
    out = [_Text(open_)]
    for i, v in enumerate(itertools.islice(item, most)):
        out += [_Text(", ")] if i else []
        out.append(v)
    if isinstance(item, tuple) and len(item) == 1:
        out.append(_Text(","))
    return out + [_Text(close)]
