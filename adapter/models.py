"""Typed form of a Tasker task template, after the environment overlay is applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter.errors import ConfigWarning
from models.plan import Backoff, InterventionTimeoutAction, OnExhausted

DEFAULT_RETRY_LIMIT = 3
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class RetryStrategy:
    """``retry_strategies.<error_type>``: the attempt limit and delay curve for one error type."""

    error_type: str
    retry_limit: int
    backoff: Backoff
    base_delay: float
    max_delay: float | None
    max_elapsed_seconds: float | None = None
    """Extension: the time budget from the step's first attempt; past it, no more retries."""
    error_types: tuple[str, ...] = ()
    """Extension: the activity error types this strategy covers (default: its own name)."""
    steps: tuple[str, ...] = ()
    """Extension: the steps it applies to (default: every step)."""

    @property
    def matched_types(self) -> tuple[str, ...]:
        return self.error_types or (self.error_type,)

    def applies_to(self, step: str) -> bool:
        return not self.steps or step in self.steps


@dataclass(frozen=True)
class StepOverride:
    """What a context override changes in one step."""

    timeout_seconds: float | None = None
    retry_limit: int | None = None


@dataclass(frozen=True)
class ContextOverride:
    """Extension ``context_overrides[]``: when the input matches ``when`` (dotted paths to
    values), tighten some steps and/or mark the saga high priority."""

    name: str
    when: dict[str, Any]
    steps: dict[str, StepOverride]
    high_priority: bool = False


@dataclass(frozen=True)
class StepSagaPolicy:
    """The ``saga`` extension of a step: what terminal failure means, and what undoes it."""

    on_exhausted: OnExhausted = OnExhausted.FAIL
    compensation: str | None = None


@dataclass(frozen=True)
class StepTemplate:
    name: str
    description: str
    handler_class: str
    depends_on: tuple[str, ...]
    retryable: bool
    retry_limit: int
    skippable: bool
    handler_config: dict[str, Any]
    saga: StepSagaPolicy

    @property
    def timeout_seconds(self) -> float:
        value = self.handler_config.get("timeout_seconds")
        return float(value) if value is not None else DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class SagaPolicy:
    """The top-level ``saga`` extension."""

    intervention_timeout_seconds: float = 24 * 3600.0
    on_intervention_timeout: InterventionTimeoutAction = InterventionTimeoutAction.FAIL


@dataclass(frozen=True)
class TaskTemplate:
    path: str
    name: str
    namespace_name: str
    version: str
    description: str
    environment: str
    schema: dict[str, Any]
    steps: tuple[StepTemplate, ...]
    task_handler_class: str = ""
    module_namespace: str = ""
    default_dependent_system: str = ""
    concurrent: bool = True
    custom_events: tuple[dict[str, Any], ...] = ()
    environments: tuple[str, ...] = ()
    retry_strategies: dict[str, RetryStrategy] = field(default_factory=dict)
    monitoring: dict[str, Any] = field(default_factory=dict)
    saga: SagaPolicy = SagaPolicy()
    context_overrides: tuple[ContextOverride, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()

    def step(self, name: str) -> StepTemplate:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)
