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


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    required = error.validator_value
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [name for name in required if name not in error.instance]  # type: ignore[union-attr]
        if missing:
            path += f".{missing[0]}"
    return path


def validate_input(schema: Mapping[str, Any], data: Any) -> list[FieldError]:
    """Every violation of ``schema`` in ``data``, sorted by path; empty when valid."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors = [FieldError(_json_path(err), err.message) for err in validator.iter_errors(data)]
    return sorted(errors, key=lambda e: (e.path, e.message))
