"""Validation of a saga's input against the config's JSON Schema, before anything starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError


@dataclass(frozen=True)
class FieldError:
    """One violation, named by its JSON path (``$.cart_items[0].quantity``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _field_errors(error: ValidationError) -> list[FieldError]:
    """One error, named by its path; a missing property is named at its own path."""
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if error.validator == "required" and isinstance(error.instance, Mapping):
        # jsonschema reports each missing property separately, as "'<name>' is a required
        # property"; match the message to name the right one.
        for name in error.validator_value:  # type: ignore[union-attr]
            if name not in error.instance and error.message.startswith(f"{name!r} "):
                return [FieldError(f"{path}.{name}", error.message)]
    return [FieldError(path, error.message)]


def validate_input(schema: Mapping[str, Any], data: Any) -> list[FieldError]:
    """Every violation of ``schema`` in ``data``, sorted by path; empty when valid."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors = {fe for err in validator.iter_errors(data) for fe in _field_errors(err)}
    return sorted(errors, key=lambda e: (e.path, e.message))
