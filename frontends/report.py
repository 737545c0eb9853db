"""Human-readable renderings for the CLI: a status document and a list of sagas (``--json``
prints the documents themselves), and the shape of a step's result for the help."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from models.status import SagaStatus, StepStatus
from sagas.operations import SagaSummary

SHAPE_WIDTH = 88
"""Objects narrower than this stay on one line in a result's shape."""


def render_status(status: SagaStatus) -> str:
    lines = [
        f"{status.workflow_id}  [{status.workflow}]  state: {status.state.value}",
        f"  correlation id: {status.correlation_id}",
    ]
    if status.overrides:
        lines.append(f"  overrides: {'; '.join(status.overrides)}")
    lines.append(f"  {'step':<24}{'state':<20}{'attempts':>8}  detail")
    for name, step in status.steps.items():
        detail = _step_detail(step)
        lines.append(f"  {name:<24}{step.state.value:<20}{step.attempts:>8}  {detail}")
    for undo in status.compensations:
        detail = undo.error.type if undo.error else (undo.result or {}).get("status", "")
        lines.append(f"  ↩ {undo.activity:<22}{undo.state.value:<20}{undo.attempts:>8}  {detail}")
    if status.intervention and status.state.value == "awaiting_intervention":
        allowed = ", ".join(a.value for a in status.intervention.allowed)
        lines.append(f"  awaiting intervention on {status.intervention.step}: {allowed}")
    if status.result:
        summary = ", ".join(f"{k}={v}" for k, v in status.result.items() if v is not None)
        lines.append(f"  result: {summary}")
    return "\n".join(lines)


def _step_detail(step: StepStatus) -> str:
    """The step's error, or the one it had before it completed, marked as earlier."""
    if step.error:
        return f"{step.error.type}: {step.error.message}"
    if step.earlier_error:
        return f"(earlier: {step.earlier_error.type}: {step.earlier_error.message})"
    return ""


def render_sagas(sagas: Sequence[SagaSummary]) -> str:
    """One line per saga, newest first, as ``starter.py list`` prints them."""
    if not sagas:
        return "no sagas match"
    header = ("workflow id", "saga", "state", "current step", "correlation id", "started (UTC)")
    rows = [header] + [
        (
            saga.workflow_id,
            saga.saga,
            saga.state,
            saga.current_step or "-",
            saga.correlation_id or "-",
            saga.started_at.strftime("%Y-%m-%d %H:%M:%S") if saga.started_at else "-",
        )
        for saga in sagas
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def model_shape(model: type[BaseModel]) -> str:
    """What a document of ``model`` looks like, from its JSON Schema: keys with their types,
    ``?`` after an optional key, objects wider than SHAPE_WIDTH broken one key a line."""
    schema = model.model_json_schema()
    return _shape(schema, schema.get("$defs", {}), 0)


def _shape(schema: dict[str, Any], defs: dict[str, Any], indent: int) -> str:
    if "$ref" in schema:
        return _shape(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, indent)
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_shape(option, defs, indent) for option in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"[{_shape(schema.get('items', {}), defs, indent)}, …]"
    if kind != "object":
        return str(schema.get("format", kind))
    properties: dict[str, Any] = schema.get("properties", {})
    if not properties:
        return "{…}"
    required = set(schema.get("required", ()))
    pad = " " * (indent + 2)
    fields = [
        f"{json.dumps(key)}{'' if key in required else '?'}: {_shape(value, defs, indent + 2)}"
        for key, value in properties.items()
    ]
    flat = "{" + ", ".join(fields) + "}"
    if indent + len(flat) <= SHAPE_WIDTH and "\n" not in flat:
        return flat
    return "{\n" + ",\n".join(pad + field for field in fields) + "\n" + " " * indent + "}"
