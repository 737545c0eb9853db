"""Human-readable renderings for the CLI: a status document and a list of sagas (``--json``
prints the documents themselves), and the shape of a step's result for the help."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from models.status import SagaState, SagaStatus, StepStatus
from models.times import span, stamp
from sagas.operations import SagaSummary
from sagas.progress import answer_text, attempt_line, intervention_lines

SHAPE_WIDTH = 88
"""Objects narrower than this stay on one line in a result's shape."""


def render_status(status: SagaStatus, now: datetime | None = None) -> str:
    """The status document as an operator reads it: state, times, links, each step, the
    compensations, what an operator is asked or answered, the attempts under way."""
    lines = [
        f"{status.workflow_id}  [{status.workflow}]  state: {status.state.value}",
        f"  correlation id: {status.correlation_id}",
    ]
    if status.rerun_of:
        lines.append(f"  rerun of: {status.rerun_of}")
    if status.started_at:
        ended = f", ended {stamp(status.ended_at)}" if status.ended_at else ""
        took = status.duration_seconds
        lines.append(
            f"  started {stamp(status.started_at)}{ended}"
            + (f" ({span(took)})" if took is not None else "")
        )
    if status.overrides:
        lines.append(f"  overrides: {'; '.join(status.overrides)}")
    lines.append(f"  {'step':<24}{'state':<20}{'attempts':>8}  detail")
    for name, step in status.steps.items():
        detail = _step_detail(step)
        lines.append(f"  {name:<24}{step.state.value:<20}{step.attempts:>8}  {detail}")
    for undo in status.compensations:
        detail = undo.error.type if undo.error else (undo.result or {}).get("status", "")
        lines.append(f"  ↩ {undo.activity:<22}{undo.state.value:<20}{undo.attempts:>8}  {detail}")
    intervention = status.intervention
    if intervention and status.state is SagaState.AWAITING_INTERVENTION:
        lines.append(f"  awaiting an operator on {intervention.step}:")
        lines += [f"    {line}" for line in intervention_lines(status.workflow_id, intervention)]
    elif intervention and intervention.decision:
        at = f" at {stamp(intervention.answered_at)}" if intervention.answered_at else ""
        lines.append(f"  {intervention.step}: {answer_text(intervention.decision)}{at}")
    moment = now or datetime.now(UTC)
    lines += [f"  now: {attempt_line(status, attempt, moment)}" for attempt in status.attempts_now]
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
    header = ("workflow id", "saga", "state", "current step", "correlation id", "started")
    rows = [header] + [
        (
            saga.workflow_id,
            saga.saga,
            saga.state,
            saga.current_step or "-",
            saga.correlation_id or "-",
            stamp(saga.started_at) if saga.started_at else "-",
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
