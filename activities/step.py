"""The wrapper every step activity goes through: log context, attempt envelope, error shape."""

from __future__ import annotations

import functools
import typing
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.envelope import StepOutput

log = structlog.get_logger("activities.step")


class HasCorrelation(Protocol):
    correlation_id: str


S = TypeVar("S")
I = TypeVar("I", bound=HasCorrelation)  # noqa: E741


def current_workflow_id() -> str:
    """The workflow this activity runs for: the root of every idempotency key."""
    return activity.info().workflow_id or "standalone"


def _with_attempt(err: ApplicationError, attempt: int) -> ApplicationError:
    return ApplicationError(
        err.message,
        {"attempt": attempt},
        type=err.type,
        non_retryable=err.non_retryable,
        next_retry_delay=err.next_retry_delay,
    )


def step_activity(
    fn: Callable[[S, I], Awaitable[BaseModel]],
) -> Callable[[S, I], Awaitable[StepOutput]]:
    """Bind workflow id, step, attempt and correlation id to every log line of the step;
    return its result with the attempt number; give any failure a type and the attempt."""

    @functools.wraps(fn)
    async def run(self: S, arg: I) -> StepOutput:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            step=info.activity_type,
            attempt=info.attempt,
            correlation_id=arg.correlation_id,
        ):
            try:
                result = await fn(self, arg)
            except ApplicationError as err:
                log.warning(
                    "step_failed", error_type=err.type, error=err.message,
                    non_retryable=err.non_retryable,
                )  # fmt: skip
                raise _with_attempt(err, info.attempt) from err
            except Exception as err:
                log.exception("step_crashed")
                crash = ApplicationError(str(err) or type(err).__name__, type=type(err).__name__)
                raise _with_attempt(crash, info.attempt) from err
            log.info("step_completed")
            return StepOutput(attempt=info.attempt, result=result.model_dump(mode="json"))

    # Resolved types (not strings): Temporal reads them to decode the activity's argument.
    annotations: dict[str, Any] = typing.get_type_hints(fn)
    annotations["return"] = StepOutput
    run.__annotations__ = annotations
    return run
