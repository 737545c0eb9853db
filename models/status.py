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
    """Every attempt, in every round."""
    attempt_limit: int = 0
    """The step's own limit (its config's retry limit; 0: none). An outage strategy may
    allow its own errors more attempts: progress shows that budget separately."""
    round: int = 1
    """1, and one more for each operator's ``retry``: Temporal's attempt number restarts
    with each round, ``attempts`` goes on counting."""
    result: dict[str, Any] | None = None
    error: StepError | None = None
    """The step's current failure; cleared when the step completes, is resolved, or an
    operator's retry starts a new round."""
    earlier_error: StepError | None = None
    """The last failure before the step completed, was resolved or was retried by an
    operator: kept for the record, shown as earlier, never as the step's state."""
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
    on_timeout: InterventionAction | None = None
    """What the saga does by itself at the deadline, unanswered (compensate or fail)."""
    decision: InterventionRequest | None = None
    """The answer: what, who (``operator``) and why (``reason``)."""
    answered_at: datetime | None = None


class AttemptNow(BaseModel):
    """An activity under way, as Temporal holds it: the attempt running or due next."""

    activity: str
    attempt: int
    """Temporal's attempt number: it restarts with each round (an operator's retry)."""
    maximum_attempts: int
    """Temporal's own maximum: the step's limit, or an outage strategy's when it allows
    more (0: none, as compensations retry until they succeed)."""
    running: bool
    last_failure: str | None = None
    next_attempt_at: datetime | None = None
    started_at: datetime | None = None
    failures: dict[str, int] = Field(default_factory=dict)
    """Failed attempts by class, as the step's activity counts them: ``step`` against the
    step's own limit, a strategy's name (``infrastructure``) against its outage budget."""


class SagaStatus(BaseModel):
    workflow_id: str
    workflow: str
    state: SagaState = SagaState.IN_PROGRESS
    correlation_id: str
    rerun_of: str | None = None
    """The saga (its workflow id) this one reruns, when it is a rerun."""
    current_step: str | None = None
    failed_steps: list[str] = Field(default_factory=list)
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    compensations: list[CompensationStatus] = Field(default_factory=list)
    intervention: Intervention | None = None
    overrides: list[str] = Field(default_factory=list)
    result: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    """When the saga's workflow started and closed, as Temporal holds them (set by whoever
    reads the document: the workflow itself leaves them out)."""
    attempts_now: list[AttemptNow] = Field(default_factory=list)
    """A running saga's activities under way: the attempt running or due next (set by
    whoever reads the document, from Temporal's pending activities)."""

    duration_seconds: float | None = None
    """From start to end, once it has ended (set with them)."""
