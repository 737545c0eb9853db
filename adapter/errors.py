"""Errors and warnings that name the file, the step and the key, never a stack trace."""

from __future__ import annotations

from dataclasses import dataclass


def _where(file: str, step: str | None, key: str | None) -> str:
    parts = [file]
    if step:
        parts.append(f"step '{step}'")
    if key:
        parts.append(f"key '{key}'")
    return ": ".join(parts)


class ConfigError(Exception):
    """A config that cannot be used. ``str()`` is the one-line message shown to users."""

    def __init__(
        self, file: str, message: str, *, step: str | None = None, key: str | None = None
    ) -> None:
        self.file = file
        self.step = step
        self.key = key
        self.message = message
        super().__init__(f"{_where(file, step, key)}: {message}")


class ConfigErrors(ConfigError):
    """Several independent problems in one file; ``str()`` lists them, one per line."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.file, first.message, step=first.step, key=first.key)
        self.errors = errors
        self.args = ("\n".join(str(error) for error in errors),)


def problems_of(error: ConfigError) -> list[ConfigError]:
    """Every problem an error stands for (one, or each of a :class:`ConfigErrors`)."""
    return list(error.errors) if isinstance(error, ConfigErrors) else [error]


@dataclass(frozen=True)
class ConfigWarning:
    """Something in a config that is read but not applied (for example an unknown key)."""

    file: str
    message: str
    step: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        return f"{_where(self.file, self.step, self.key)}: {self.message}"
