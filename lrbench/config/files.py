"""Config text in and out: YAML files, ``--set`` overrides and the bundled configs.

Files are read with the limits of :mod:`lrbench.safeyaml`; an override ``key.path=value`` is
parsed as YAML and set on a copy of the raw mapping, before validation (:func:`validate`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lrbench import safeyaml
from lrbench.errors import ConfigError, ErrorList


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping with the safe loader and the limits of :mod:`lrbench.safeyaml`
    (size, nesting, alias expansion); a clear one-line error for a missing or bad file."""
    data = safeyaml.load_file(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("(top level)", type(data).__name__, "a mapping of config keys")
    return data


def parse_value(text: str, source: str) -> Any:
    """A ``--set`` value: YAML with the limits of :mod:`lrbench.safeyaml`; empty text is null."""
    return safeyaml.loads(text, source) if text.strip() else None


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set key.path=value`` overrides (values parsed as YAML) to a copy of ``raw``.

    Path parts are mapping keys or list indices: ``train.epochs=5``, ``lr=[0.1,0.3]``,
    ``tasks.0.hidden=[32]``. Every bad override is reported (one :class:`ConfigErrors`).
    """
    errors = ErrorList()
    out = copy.deepcopy(raw)
    for item in overrides:
        errors.attempt(_override, out, item)
    errors.raise_if_any()
    return out


def _override(out: dict[str, Any], item: str) -> None:
    """Apply one ``key.path=value`` to ``out`` in place."""
    if "=" not in item:
        raise ConfigError("--set", item, "key.path=value, e.g. train.epochs=5")
    path, text = item.split("=", 1)
    parts = [p for p in path.strip().split(".") if p]
    if not parts:
        raise ConfigError("--set", item, "key.path=value with a key path before '='")
    try:
        value = parse_value(text, f"--set {path.strip()}")
    except safeyaml.YamlProblem as problem:
        raise ConfigError(f"--set {path.strip()}", text, "a YAML value", problem.reason) from None
    node: Any = out
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {here}", part, f"a list index 0..{len(node) - 1}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {here}", node, "a mapping or list to descend into")


def default_config_path() -> Path:
    """The bundled quick-start config."""
    return Path(__file__).parents[1] / "configs" / "quickstart.yaml"


def example_config() -> str:
    """The commented example config that ``lrbench init`` writes."""
    return (Path(__file__).parents[1] / "configs" / "example.yaml").read_text()
