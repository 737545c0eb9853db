"""Turn a :class:`TaskTemplate` into a :class:`SagaPlan`: Temporal options per step.

Tasker → Temporal:
- ``default_retry_limit: N`` → ``maximum_attempts=N`` (the limit counts executions);
  ``default_retryable: false`` → ``maximum_attempts=1``.
- Tasker's default backoff ``min(2^attempt, 30)`` s → ``initial_interval=2s``,
  ``backoff_coefficient=2``, ``maximum_interval=30s``.
- ``handler_config.timeout_seconds`` → ``start_to_close_timeout``.
- ``depends_on_step(s)`` → ``StepPlan.depends_on`` (the runner awaits them).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.models import TaskTemplate
from adapter.plan import RetryPlan, SagaPlan, StepPlan

DEFAULT_RETRY = RetryPlan(
    maximum_attempts=3,
    initial_interval_seconds=2.0,
    backoff_coefficient=2.0,
    maximum_interval_seconds=30.0,
)


@dataclass(frozen=True)
class RunContext:
    """Facts about one request that may tighten its policies (express, premium)."""

    priority: str = "standard"
    tier: str | None = None


def _express(steps: dict[str, StepPlan]) -> list[str]:
    """Express orders: a fast payment attempt, fewer email retries (Tasker's handler rule)."""
    applied = []
    if "process_payment" in steps:
        steps["process_payment"] = steps["process_payment"].model_copy(
            update={
                "start_to_close_seconds": 15.0,
                "retry": steps["process_payment"].retry.model_copy(update={"maximum_attempts": 1}),
            }
        )
        applied.append("express: process_payment timeout 15s, 1 attempt")
    if "send_confirmation" in steps:
        steps["send_confirmation"] = steps["send_confirmation"].model_copy(
            update={
                "retry": steps["send_confirmation"].retry.model_copy(update={"maximum_attempts": 2})
            }
        )
        applied.append("express: send_confirmation 2 attempts")
    return applied


def build_plan(template: TaskTemplate, context: RunContext | None = None) -> SagaPlan:
    """Resolve the template (overlay already applied) and the request context into a plan."""
    context = context or RunContext()
    steps = {
        step.name: StepPlan(
            name=step.name,
            activity=step.name,
            depends_on=list(step.depends_on),
            start_to_close_seconds=step.timeout_seconds,
            retry=DEFAULT_RETRY.model_copy(
                update={"maximum_attempts": step.retry_limit if step.retryable else 1}
            ),
            on_exhausted=step.saga.on_exhausted,
            compensation=step.saga.compensation,
        )
        for step in template.steps
    }
    overrides: list[str] = []
    if context.priority == "express":
        overrides += _express(steps)
    high_priority = context.tier == "premium" or context.priority in {"express", "overnight"}
    if context.tier == "premium":
        overrides.append("premium: recorded as high priority")
    return SagaPlan(
        workflow=template.name,
        version=template.version,
        environment=template.environment,
        steps=list(steps.values()),
        intervention_timeout_seconds=template.saga.intervention_timeout_seconds,
        on_intervention_timeout=template.saga.on_intervention_timeout,
        overrides=overrides,
        high_priority=high_priority,
    )
