"""The resolved plan: plain, JSON-serialisable data handed to a workflow.

This module is imported inside the workflow sandbox, so it holds data and pure helpers
only (no I/O, no clock).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from temporalio.common import RetryPolicy


class OnExhausted(StrEnum):
    """What the saga does when a step fails terminally (the saga-policy extension)."""

    FAIL = "fail"
    COMPENSATE = "compensate"
    INTERVENE = "intervene"
    CONTINUE = "continue"


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
        return RetryPolicy(
            maximum_attempts=self.maximum_attempts,
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=self.backoff_coefficient,
            maximum_interval=timedelta(seconds=self.maximum_interval_seconds),
        )


class StepPlan(BaseModel):
    """Everything the step runner needs to run one step (one activity)."""

    model_config = ConfigDict(frozen=True)

    name: str
    activity: str
    depends_on: list[str] = Field(default_factory=list)
    start_to_close_seconds: float
    retry: RetryPlan
    on_exhausted: OnExhausted = OnExhausted.FAIL
    compensation: str | None = None

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

    def step(self, name: str) -> StepPlan:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"plan for {self.workflow} has no step {name!r}")
