"""The status document: one model for the ``status`` query, ``starter.py --json`` and the API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class StepState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    ERROR = "error"
    RESOLVED_MANUALLY = "resolved_manually"
    SKIPPED = "skipped"
    COMPENSATED = "compensated"


class SagaState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"
    COMPENSATED = "compensated"
    AWAITING_INTERVENTION = "awaiting_intervention"


class StepError(BaseModel):
    type: str
    message: str
    non_retryable: bool


class StepStatus(BaseModel):
    state: StepState = StepState.PENDING
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: StepError | None = None
    """The step's current failure; cleared when the step completes or is resolved."""
    earlier_error: StepError | None = None
    """The last failure before the step completed or was resolved (an operator's retry or
    resolve): kept for the record, shown as earlier, never as the step's state."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result_in_history: bool = False
    """Set in a finished saga's stored document only: ``result`` is the step activity's
    result, left out because the history holds it already (readers put it back)."""


class CompensationStatus(BaseModel):
    """One undo action, in the order it ran."""

    activity: str
    for_step: str
    state: StepState = StepState.PENDING
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: StepError | None = None


class InterventionAction(StrEnum):
    RETRY = "retry"
    RESOLVE = "resolve"
    COMPENSATE = "compensate"
    FAIL = "fail"


class InterventionRefusal(StrEnum):
    """Why the ``intervene`` update refused an answer (the refusal's error type): the first
    two are about the saga's state (HTTP 409), the last two about the answer (HTTP 422)."""

    NOT_AWAITING = "NotAwaitingIntervention"
    NOT_ALLOWED = "ActionNotAllowed"
    RESULT_REQUIRED = "ResultRequired"
    RESULT_INVALID = "ResultInvalid"


class InterventionRequest(BaseModel):
    """An operator's answer to a saga in ``awaiting_intervention`` (a Temporal update)."""

    action: InterventionAction
    result: dict[str, Any] | None = None
    reason: str = ""
    operator: str = "operator"


class Intervention(BaseModel):
    step: str
    error: StepError | None
    allowed: list[InterventionAction]
    deadline: datetime
    decision: InterventionRequest | None = None


class SagaStatus(BaseModel):
    workflow_id: str
    workflow: str
    state: SagaState = SagaState.IN_PROGRESS
    correlation_id: str
    current_step: str | None = None
    failed_steps: list[str] = Field(default_factory=list)
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    compensations: list[CompensationStatus] = Field(default_factory=list)
    intervention: Intervention | None = None
    overrides: list[str] = Field(default_factory=list)
    result: dict[str, Any] = Field(default_factory=dict)
