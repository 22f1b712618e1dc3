"""Hyperparameters declared as data, checked in one place.

Every registry (optimizers, schedules, models, datasets) describes its hyperparameters with
:class:`Param`. The same declarations drive config validation (messages that name the key path,
the value and what is allowed), ``lrbench list`` and grid expansion (a list where one value is
expected becomes a grid axis).

Durations (milestones, ``T_max``, ``warmup``, ...) are an integer number of steps or a fraction of
the run given as a float in ``(0, 1]``: ``100`` means 100 steps, ``0.5`` means half of the steps.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lrbench.errors import ConfigError

KINDS = ("float", "int", "bool", "choice", "duration", "durations", "floats", "ints", "str")
LIST_KINDS = ("durations", "floats", "ints")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its name, default, type and allowed range.

    ``kind`` is one of ``float``, ``int``, ``bool``, ``choice``, ``duration`` (int steps or a
    fraction of the run), ``durations`` (a list of them), ``floats``/``ints`` (lists; ``length``
    fixes the length), ``str``. ``low``/``high`` bound numbers (and list items);
    ``low_open``/``high_open`` make the bound strict. ``nullable`` allows ``null``. ``odd``
    allows only odd integers (a centred window).
    """

    name: str
    default: Any
    kind: str = "float"
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    length: int | None = None
    nullable: bool = False
    odd: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown Param kind {self.kind!r}")

    @property
    def is_list(self) -> bool:
        return self.kind in LIST_KINDS

    def allowed(self) -> str:
        """What is allowed, in words, for error messages and ``lrbench list``."""
        rng = _range_text(self)
        if self.kind == "float":
            text = "a number" + rng
        elif self.kind == "int":
            text = ("an odd integer" if self.odd else "an integer") + rng
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "duration":
            text = "a number of steps (integer >= 0) or a fraction of the run in (0, 1]"
        elif self.kind == "durations":
            text = "a list of step counts (integers) or fractions of the run in (0, 1]"
        elif self.kind == "str":
            text = "a string"
        else:
            item = "numbers" if self.kind == "floats" else "integers"
            count = f"{self.length} " if self.length else "a list of "
            text = f"{count}{item}{rng}"
        if self.nullable:
            text += " or null"
        return text

    def check(self, value: Any, path: str) -> Any:
        """Return ``value`` normalised (lists become tuples), or raise :class:`ConfigError`."""
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(path, value, self.allowed())
        kind = self.kind
        if kind == "float":
            return self._number(value, path, integer=False)
        if kind == "int":
            return self._number(value, path, integer=True)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ConfigError(path, value, self.allowed())
        if kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ConfigError(path, value, self.allowed(), did_you_mean(value, self.choices))
        if kind == "str":
            if isinstance(value, str):
                return value
            raise ConfigError(path, value, self.allowed())
        if kind == "duration":
            return check_duration(value, path, self.allowed())
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, value, self.allowed())
        if self.length is not None and len(value) != self.length:
            raise ConfigError(path, list(value), self.allowed())
        if kind == "durations":
            return tuple(
                check_duration(v, f"{path}[{i}]", self.allowed()) for i, v in enumerate(value)
            )
        integer = kind == "ints"
        items = []
        for i, v in enumerate(value):
            try:
                items.append(self._number(v, f"{path}[{i}]", integer=integer))
            except ConfigError:
                raise ConfigError(path, list(value), self.allowed()) from None
        return tuple(items)

    def _number(self, value: Any, path: str, *, integer: bool) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, value, self.allowed())
        if integer:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ConfigError(path, value, self.allowed())
                value = int(value)
            if self.odd and value % 2 == 0:
                raise ConfigError(path, value, self.allowed())
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ConfigError(path, value, self.allowed())
        low, high = self.low, self.high
        if low is not None and (value < low or (self.low_open and value == low)):
            raise ConfigError(path, value, self.allowed())
        if high is not None and (value > high or (self.high_open and value == high)):
            raise ConfigError(path, value, self.allowed())
        return value


def _range_text(p: Param) -> str:
    lo, hi = p.low, p.high
    if lo is not None and hi is not None:
        left = "(" if p.low_open else "["
        right = ")" if p.high_open else "]"
        return f" in {left}{_num(lo)}, {_num(hi)}{right}"
    if lo is not None:
        return f" {'>' if p.low_open else '>='} {_num(lo)}"
    if hi is not None:
        return f" {'<' if p.high_open else '<='} {_num(hi)}"
    return ""


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def check_duration(value: Any, path: str, allowed: str = "") -> int | float:
    """A duration: an int >= 0 (steps) or a float in (0, 1] (fraction of the run)."""
    allowed = allowed or Param("d", 0, "duration").allowed()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(path, value, allowed)
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(path, value, allowed)
        return value
    if not (0.0 < value <= 1.0):
        hint = "write whole step counts without a decimal point" if value > 1 else ""
        raise ConfigError(path, value, allowed, hint)
    return float(value)


def to_steps(value: int | float, total: int) -> int:
    """Resolve a duration against a run of ``total`` steps (fractions round to nearest)."""
    if isinstance(value, float):
        return int(round(value * total))
    return int(value)


def did_you_mean(word: object, options: Sequence[str]) -> str:
    """``"did you mean 'cosine'?"`` for a near miss, else ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def flag(name: str) -> str:
    """The command-line flag of a parameter: ``start_lr`` -> ``--start-lr``."""
    return "--" + name.replace("_", "-")


def resolve(
    params: Sequence[Param], given: Mapping[str, Any] | None, path: str | Callable[[str], str]
) -> dict[str, Any]:
    """Check ``given`` against ``params`` and fill in defaults.

    Unknown keys are rejected with a "did you mean" hint; values are normalised by
    :meth:`Param.check`. The result has every declared key, in declaration order. ``path`` names
    a key in messages: a prefix (``train`` gives ``train.epochs``) or a function of the key
    (:func:`flag` gives ``--start-lr``).
    """
    where = path if callable(path) else lambda key: f"{path}.{key}"
    given = dict(given or {})
    names = [p.name for p in params]
    for key in given:
        if key not in names:
            allowed = ", ".join(names) if names else "no parameters"
            raise ConfigError(
                where(key), given[key], f"a known key: {allowed}", did_you_mean(key, names)
            )
    out: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            out[p.name] = p.check(given[p.name], where(p.name))
        else:
            out[p.name] = p.default
    return out


@dataclass(frozen=True)
class Entry:
    """A registry entry: a name, a one-line description and its hyperparameters."""

    name: str
    doc: str
    params: tuple[Param, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)


def lookup(registry: Mapping[str, Any], name: object, path: str, what: str) -> Any:
    """``registry[name]`` or a :class:`ConfigError` listing the valid names."""
    if isinstance(name, str) and name in registry:
        return registry[name]
    options = sorted(registry)
    article = "an" if what[:1] in "aeiou" else "a"
    raise ConfigError(
        path, name, f"{article} {what}: {', '.join(options)}", did_you_mean(name, options)
    )


def is_axis(value: Any, param: Param | None) -> bool:
    """Whether ``value`` is a grid axis for ``param``: a non-empty list where one value is
    expected, or a non-empty list of lists for a list parameter (``None``: an unknown key)."""
    if not isinstance(value, list) or not value:
        return False
    if param is not None and param.is_list:
        return all(isinstance(x, list) for x in value)
    return True


def check_each(
    params: Sequence[Param], given: Mapping[str, Any] | None, path: str
) -> list[ConfigError]:
    """Every problem of ``given`` at once, where :func:`resolve` stops at the first: unknown
    keys (with a "did you mean" hint) and values :meth:`Param.check` refuses, each item of a
    grid axis (:func:`is_axis`) checked on its own. Cross-parameter rules are not checked."""
    problems: list[ConfigError] = []
    names = [p.name for p in params]
    by_name = {p.name: p for p in params}
    for key, value in (given or {}).items():
        p = by_name.get(key)
        if p is None:
            allowed = ", ".join(names) if names else "no parameters"
            problems.append(
                ConfigError(
                    f"{path}.{key}", value, f"a known key: {allowed}", did_you_mean(key, names)
                )
            )
            continue
        for v in value if is_axis(value, p) else [value]:
            try:
                p.check(v, f"{path}.{key}")
            except ConfigError as error:
                problems.append(error)
                break  # one line a key: the first bad item of an axis
    return problems
