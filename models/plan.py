"""The resolved plan: plain, JSON-serialisable data handed to a workflow.

This module is imported inside the workflow sandbox, so it holds data and pure helpers
only (no I/O, no clock).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from temporalio.common import RetryPolicy

UNKNOWN_ACTIVITY = "NotFoundError"
"""The error type a Temporal worker fails an activity with when it has no such activity."""


class OnExhausted(StrEnum):
    """What the saga does when a step fails terminally (the saga-policy extension)."""

    FAIL = "fail"
    COMPENSATE = "compensate"
    INTERVENE = "intervene"
    CONTINUE = "continue"


class Backoff(StrEnum):
    EXPONENTIAL = "exponential"
    LINEAR = "linear"
    FIXED = "fixed"


class InterventionTimeoutAction(StrEnum):
    COMPENSATE = "compensate"
    FAIL = "fail"


class RetryPlan(BaseModel):
    """Temporal retry policy for one step, in seconds so it reads well in the history."""

    model_config = ConfigDict(frozen=True)

    maximum_attempts: int = Field(ge=0)
    initial_interval_seconds: float = 2.0
    backoff_coefficient: float = 2.0
    maximum_interval_seconds: float = 30.0

    def to_temporal(self) -> RetryPolicy:
        """An activity no worker has (a config naming one the code lacks) fails at once:
        retrying cannot make it appear."""
        return RetryPolicy(
            maximum_attempts=self.maximum_attempts,
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=timedelta(seconds=self.maximum_interval_seconds),
            non_retryable_error_types=[UNKNOWN_ACTIVITY],
        )


class StrategyPlan(BaseModel):
    """A ``retry_strategies`` entry as it applies to one step."""

    model_config = ConfigDict(frozen=True)

    name: str
    error_types: list[str]
    retry_limit: int = Field(ge=1)
    backoff: Backoff
    base_delay: float
    max_delay: float | None = None
    max_elapsed_seconds: float | None = None
    """No retry that would start later than this after the step's first attempt."""

    def matches(self, error_type: str | None) -> bool:
        return error_type is not None and error_type in self.error_types


class RetryRules(BaseModel):
    """What the activity itself enforces on a retryable failure (the second activity
    argument): Temporal has one exponential policy per activity, so per-error-type limits
    and linear/fixed curves are applied by the activity through ``next_retry_delay`` and by
    stopping early."""

    model_config = ConfigDict(frozen=True)

    attempt_limit: int = Field(ge=1)
    maximum_attempts: int = Field(ge=0)
    strategies: list[StrategyPlan] = Field(default_factory=list)

    def strategy_for(self, error_type: str | None) -> StrategyPlan | None:
        return next((s for s in self.strategies if s.matches(error_type)), None)

    def limit_for(self, error_type: str | None) -> int:
        strategy = self.strategy_for(error_type)
        return strategy.retry_limit if strategy else self.attempt_limit


STEP_LIMIT = "step"
"""The failure class of errors no strategy covers: they count against the step's limit."""


class StepPlan(BaseModel):
    """Everything the step runner needs to run one step (one activity)."""

    model_config = ConfigDict(frozen=True)

    name: str
    activity: str
    description: str = ""
    """What the step does (the config's ``description``): the UI's activity summaries and
    the saga's current details say it."""
    depends_on: list[str] = Field(default_factory=list)
    start_to_close_seconds: float
    retry: RetryPlan
    on_exhausted: OnExhausted = OnExhausted.FAIL
    compensation: str | None = None
    attempt_limit: int = Field(default=0, ge=0)
    """The step's own limit (``default_retry_limit``); 0 means ``retry.maximum_attempts``."""
    strategies: list[StrategyPlan] = Field(default_factory=list)

    def rules(self) -> RetryRules | None:
        """What the activity must be told beyond its retry policy; None when nothing (the
        activity then reads its limit from the policy, and the history stays smaller)."""
        limit = self.attempt_limit or self.retry.maximum_attempts
        if not self.strategies and limit == self.retry.maximum_attempts:
            return None
        return RetryRules(
            attempt_limit=limit,
            maximum_attempts=self.retry.maximum_attempts,
            strategies=self.strategies,
        )

    @property
    def start_to_close(self) -> timedelta:
        return timedelta(seconds=self.start_to_close_seconds)


class SagaPlan(BaseModel):
    """A whole saga's resolved configuration, as it ran."""

    model_config = ConfigDict(frozen=True)

    workflow: str
    version: str
    environment: str
    steps: list[StepPlan]
    compensation_retry: RetryPlan = RetryPlan(maximum_attempts=0)
    compensation_timeout_seconds: float = 30.0
    intervention_timeout_seconds: float = 24 * 3600.0
    on_intervention_timeout: InterventionTimeoutAction = InterventionTimeoutAction.FAIL
    overrides: list[str] = Field(default_factory=list)
    high_priority: bool = False
    concurrent: bool = True
    """Tasker's ``concurrent: false``: one step at a time, in declaration order."""
    rerun_of: str | None = None
    """The saga (its workflow id) this one reruns: set by a rerun, kept with the rest of
    what the saga runs with, so the saga itself can say so."""

    def step(self, name: str) -> StepPlan:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"plan for {self.workflow} has no step {name!r}")
