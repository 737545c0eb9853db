"""The saga's lifecycle events, one log line each on the worker (JSON with
``SAGA_LOG_FORMAT=json``): the saga's start, each step starting, completing, failing and
exhausting its retries, an operator awaited and answered, each compensation, and the end.

Names follow Tasker's lifecycle events (``task.*`` for the saga, ``step.*``). Every line
carries the event in ``saga_event`` with the workflow id and the correlation id; the SDK
adds ``temporal_workflow``. The workflow logger is silent while a workflow replays, so a
saga resumed by another worker does not repeat its story. Each attempt's own failure is the
activity's ``step_failed`` line (with its attempt and next delay).
"""

from __future__ import annotations

from typing import Any, Final

from temporalio import workflow

from models.status import SagaStatus

TASK_STARTED: Final = "task.started"
TASK_COMPLETED: Final = "task.completed"
TASK_FAILED: Final = "task.failed"
AWAITING_INTERVENTION: Final = "task.awaiting_intervention"
INTERVENTION_ANSWERED: Final = "task.intervention_answered"
STEP_STARTED: Final = "step.started"
STEP_COMPLETED: Final = "step.completed"
STEP_FAILED: Final = "step.failed"
STEP_RETRIED: Final = "step.retried"
STEP_MAX_RETRIES: Final = "step.max_retries_reached"
COMPENSATION: Final = "step.compensation"


def emit(event: str, status: SagaStatus, **fields: Any) -> None:
    """Log ``event`` for the saga ``status`` describes (never while replaying)."""
    details = {
        "event": event,
        "workflow_id": status.workflow_id,
        "correlation_id": status.correlation_id,
        **{name: value for name, value in fields.items() if value is not None},
    }
    workflow.logger.info(event, extra={"saga_event": details})


def elapsed_seconds() -> float:
    """Seconds since the saga's workflow started, in workflow time."""
    return round((workflow.now() - workflow.info().start_time).total_seconds(), 3)
