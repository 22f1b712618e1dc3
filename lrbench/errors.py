"""The one exception type users see: bad input, reported as a single line by the CLI."""

from __future__ import annotations


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
        super().__init__(text)


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
