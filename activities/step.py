"""The wrapper every step activity goes through: log context, attempt envelope, error shape."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapter.backoff import strategy_delay
from models.envelope import StepOutput
from models.plan import STEP_LIMIT, RetryRules
from models.steps import Step

log = structlog.get_logger("activities.step")


class HasCorrelation(Protocol):
    correlation_id: str


S = TypeVar("S")
I = TypeVar("I", bound=HasCorrelation)  # noqa: E741


_STEP: contextvars.ContextVar[str] = contextvars.ContextVar("saga_step")


def current_step() -> str:
    """The step this activity runs (its declared name, whatever the activity's name), or
    the compensation's activity name: what its service URL and idempotency key go by."""
    return _STEP.get(activity.info().activity_type)


def current_workflow_id() -> str:
    """The workflow this activity runs for: the root of every idempotency key."""
    return activity.info().workflow_id or "standalone"


def _with_attempt(
    err: ApplicationError,
    attempt: int,
    *,
    non_retryable: bool | None = None,
    delay: timedelta | None = None,
    exhausted: str | None = None,
) -> ApplicationError:
    details: dict[str, Any] = {"attempt": attempt}
    if exhausted:
        details["exhausted"] = exhausted
    return ApplicationError(
        err.message,
        details,
        type=err.type,
        non_retryable=err.non_retryable if non_retryable is None else non_retryable,
        next_retry_delay=delay or err.next_retry_delay,
    )


def failure_class(err: ApplicationError, rules: RetryRules) -> str:
    """Which limit a failure counts against: its strategy's (by name), or the step's."""
    strategy = rules.strategy_for(err.type)
    return strategy.name if strategy else STEP_LIMIT


def apply_rules(
    err: ApplicationError,
    attempt: int,
    rules: RetryRules | None,
    elapsed: float = 0.0,
    failures: int | None = None,
) -> ApplicationError:
    """The error to raise after failed attempt ``attempt``, ``elapsed`` seconds after the
    step's first attempt was scheduled, under the step's retry rules; ``failures`` is how
    many attempts, this one included, failed with this error's class (default: all).

    A strategy matching the error type sets its own limit, time budget and delay curve (the
    server's ``Retry-After`` still wins over the curve); other retryable errors keep the
    step's limit and Temporal's default exponential backoff. Each limit counts the failures
    of its own class, so an outage ridden out does not use up the step's limit. Past its
    limit or budget the error becomes non-retryable, since Temporal's ``maximum_attempts``
    allows the largest limit.
    """
    if err.non_retryable or rules is None or rules.maximum_attempts == 0:
        return _with_attempt(err, attempt)  # unlimited: Temporal's policy alone decides
    strategy = rules.strategy_for(err.type)
    limit = rules.limit_for(err.type)
    failed = attempt if failures is None else failures
    if failed >= limit:
        reason = f"strategy {strategy.name}" if strategy else "step limit"
        # At Temporal's own maximum it stops by itself; below it, only a non-retryable stops.
        return _with_attempt(
            err,
            attempt,
            non_retryable=limit < rules.maximum_attempts,
            exhausted=f"{reason}: {limit} attempts",
        )
    if strategy is None:
        return _with_attempt(err, attempt)
    delay = err.next_retry_delay or timedelta(seconds=strategy_delay(strategy, failed))
    budget = strategy.max_elapsed_seconds
    if budget is not None and elapsed + delay.total_seconds() > budget:
        return _with_attempt(
            err,
            attempt,
            non_retryable=True,
            exhausted=f"strategy {strategy.name}: {budget:g} s budget, {attempt} attempts",
        )
    return _with_attempt(err, attempt, delay=delay)


def elapsed_since_first_attempt(info: activity.Info) -> float:
    """Seconds from the step's first scheduling to now: to this attempt's start in the
    server's clock (a test server skipping time counts the skipped time; a retry's
    scheduled time is not used, the test server reports it before the backoff), plus how
    long this attempt has run."""
    waited = (info.started_time - info.scheduled_time).total_seconds()
    running = (datetime.now(UTC) - info.started_time).total_seconds()
    return max(0.0, waited) + max(0.0, running)


HEARTBEAT_DELAY = 1.0
"""Seconds before a step's first heartbeat: most steps end sooner and never send one."""


def earlier_failures(info: activity.Info) -> dict[str, int]:
    """Failed attempts of this step so far by failure class, as the previous attempt left
    them in its heartbeat details (Temporal hands the last ones to the next attempt)."""
    details = info.heartbeat_details[0] if info.heartbeat_details else None
    if not isinstance(details, dict):
        return {}
    return {str(kind): count for kind, count in details.items() if isinstance(count, int)}


def _counted_failure(
    err: ApplicationError, info: activity.Info, rules: RetryRules | None, failures: dict[str, int]
) -> ApplicationError:
    """Count the failure in its class, leave the counts for the next attempt, apply the rules."""
    if err.non_retryable or rules is None:
        return apply_rules(err, info.attempt, rules)
    kind = failure_class(err, rules)
    failures[kind] = failures.get(kind, 0) + 1
    activity.heartbeat(failures)
    elapsed = elapsed_since_first_attempt(info)
    return apply_rules(err, info.attempt, rules, elapsed, failures[kind])


@contextlib.asynccontextmanager
async def _heartbeating(failures: dict[str, int]) -> AsyncIterator[None]:
    """Heartbeat while the step runs (after :data:`HEARTBEAT_DELAY`), so a worker that died
    is noticed within the heartbeat timeout, and a cancellation reaches the step: the
    workflow then waits for it to stop before it compensates. Each beat carries the
    earlier failures on (the last heartbeat's details are what the next attempt sees)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_DELAY)
            activity.heartbeat(*([failures] if failures else []))

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()


def step_activity(
    step: Step[Any] | str,
) -> Callable[[Callable[[S, I], Awaitable[BaseModel]]], Callable[..., Awaitable[StepOutput]]]:
    """Make ``fn`` the activity of ``step`` (a declared step) or of a compensation (its
    activity name). Bind workflow id, step, attempt and correlation id to every log line;
    return the result with the attempt number; give any failure a type and the attempt,
    and apply the step's retry rules (the optional second activity argument). A step's
    activity must return the step's declared result model."""
    name = step if isinstance(step, str) else step.activity

    def decorate(
        fn: Callable[[S, I], Awaitable[BaseModel]],
    ) -> Callable[..., Awaitable[StepOutput]]:
        run = _enveloped(fn, step if isinstance(step, str) else step.name)
        result_model = getattr(run, STEP_RESULT_ATTRIBUTE)
        if isinstance(step, Step) and result_model is not step.result:
            raise TypeError(
                f"{fn.__qualname__} returns {result_model.__name__}; step {step.name} is"
                f" declared with {step.result.__name__}"
            )
        setattr(run, ACTIVITY_NAME_ATTRIBUTE, name)
        return activity.defn(name=name)(run)

    return decorate


def _enveloped(
    fn: Callable[[S, I], Awaitable[BaseModel]], step_name: str
) -> Callable[..., Awaitable[StepOutput]]:
    """The activity around ``fn`` for ``step_name``: log context, attempt envelope, error
    shape, retry rules."""
    annotations: dict[str, Any] = typing.get_type_hints(fn)
    input_model: type[BaseModel] = annotations["arg"]

    @functools.wraps(fn)
    async def run(self: S, arg: I | dict[str, Any], rules: RetryRules | None = None) -> StepOutput:
        info = activity.info()
        if isinstance(arg, dict):
            # Sent alone (the step has no rules), the input arrives undecoded: Temporal
            # types arguments only when every parameter has one.
            arg = typing.cast(I, input_model.model_validate(arg))
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            step=info.activity_type,
            attempt=info.attempt,
            correlation_id=arg.correlation_id,
        ):
            failures = earlier_failures(info)
            _STEP.set(step_name)  # the activity runs in a task of its own: no reset needed
            try:
                async with _heartbeating(failures):
                    result = await fn(self, arg)
            except ApplicationError as err:
                raised = _counted_failure(err, info, rules, failures)
                log.warning(
                    "step_failed", error_type=err.type, error=err.message,
                    non_retryable=raised.non_retryable,
                    next_retry_delay=raised.next_retry_delay,
                )  # fmt: skip
                raise raised from err
            except Exception as err:
                log.exception("step_crashed")
                crash = ApplicationError(str(err) or type(err).__name__, type=type(err).__name__)
                raise _counted_failure(crash, info, rules, failures) from err
            log.info("step_completed")
            return StepOutput(attempt=info.attempt, result=result.model_dump(mode="json"))

    # Temporal decodes arguments from the signature and resolved annotations: show the real
    # parameters (not the wrapped function's) with plain classes, not strings or unions.
    del run.__wrapped__
    annotations["rules"] = RetryRules | None
    result_model = annotations["return"]
    annotations["return"] = StepOutput
    run.__annotations__ = annotations
    setattr(run, STEP_RESULT_ATTRIBUTE, result_model)
    return run


STEP_RESULT_ATTRIBUTE = "__step_result_model__"
ACTIVITY_NAME_ATTRIBUTE = "__saga_activity_name__"
