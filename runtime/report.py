"""Human-readable rendering of a status document (``--json`` prints the document itself)."""

from __future__ import annotations

from models.status import SagaStatus


def render_status(status: SagaStatus) -> str:
    lines = [
        f"{status.workflow_id}  [{status.workflow}]  state: {status.state.value}",
        f"  correlation id: {status.correlation_id}",
    ]
    if status.overrides:
        lines.append(f"  overrides: {'; '.join(status.overrides)}")
    lines.append(f"  {'step':<24}{'state':<20}{'attempts':>8}  detail")
    for name, step in status.steps.items():
        detail = ""
        if step.error:
            detail = f"{step.error.type}: {step.error.message}"
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
