"""Turn a :class:`TaskTemplate` into a :class:`SagaPlan`: Temporal options per step.

Tasker → Temporal:
- ``default_retry_limit: N`` → at most N executions (``default_retryable: false`` → 1);
- Tasker's default backoff ``min(2^attempt, 30)`` s → ``initial_interval=2s``,
  ``backoff_coefficient=2``, ``maximum_interval=30s``;
- ``retry_strategies.<type>`` → per-error-type limits and curves, enforced by the activity
  (``RetryRules``); ``maximum_attempts`` is the largest limit that can apply to the step;
- ``handler_config.timeout_seconds`` → ``start_to_close_timeout``;
- ``depends_on_step(s)`` → ``StepPlan.depends_on`` (the runner awaits them);
- ``context_overrides`` (extension) → tightened steps for requests that match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapter.models import ContextOverride, RetryStrategy, StepTemplate, TaskTemplate
from models.plan import RetryPlan, SagaPlan, StepPlan, StrategyPlan

DEFAULT_RETRY = RetryPlan(
    maximum_attempts=3,
    initial_interval_seconds=2.0,
    backoff_coefficient=2.0,
    maximum_interval_seconds=30.0,
)

_MISSING = object()


def _lookup(data: Mapping[str, Any], path: str, schema: Mapping[str, Any]) -> Any:
    """The value at a dotted path of the input, or the schema's default for it."""
    value: Any = data
    node: Any = schema
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part, {}) if isinstance(node, Mapping) else {}
        value = value[part] if isinstance(value, Mapping) and part in value else _MISSING
    if value is _MISSING:
        return node.get("default", _MISSING) if isinstance(node, Mapping) else _MISSING
    return value


def matching_overrides(template: TaskTemplate, data: Mapping[str, Any]) -> list[ContextOverride]:
    """The context overrides whose every ``when`` entry equals the input's value."""
    return [
        rule
        for rule in template.context_overrides
        if all(_lookup(data, path, template.schema) == want for path, want in rule.when.items())
    ]


def _strategy_plan(strategy: RetryStrategy, cap: int | None) -> StrategyPlan:
    limit = strategy.retry_limit if cap is None else min(cap, strategy.retry_limit)
    return StrategyPlan(
        name=strategy.error_type,
        error_types=list(strategy.matched_types),
        retry_limit=limit,
        backoff=strategy.backoff,
        base_delay=strategy.base_delay,
        max_delay=strategy.max_delay,
        max_elapsed_seconds=strategy.max_elapsed_seconds,
    )


def step_plan(
    template: TaskTemplate,
    step: StepTemplate,
    rules: list[ContextOverride] | None = None,
    activity: str | None = None,
) -> StepPlan:
    """One step's resolved options, after the context overrides that apply to it;
    ``activity`` is the step's activity name when the code declares one (default: the
    step's name)."""
    limit = step.retry_limit if step.retryable else 1
    timeout = step.timeout_seconds
    cap: int | None = None if step.retryable else 1
    for rule in rules or []:
        change = rule.steps.get(step.name)
        if change is None:
            continue
        if change.retry_limit is not None:
            limit = change.retry_limit
            cap = change.retry_limit if cap is None else min(cap, change.retry_limit)
        if change.timeout_seconds is not None:
            timeout = change.timeout_seconds
    strategies = [
        _strategy_plan(strategy, cap)
        for strategy in template.retry_strategies.values()
        if strategy.applies_to(step.name)
    ]
    maximum = max([limit, *(s.retry_limit for s in strategies)])
    return StepPlan(
        name=step.name,
        activity=activity or step.name,
        description=step.description,
        depends_on=list(step.depends_on),
        start_to_close_seconds=timeout,
        retry=DEFAULT_RETRY.model_copy(update={"maximum_attempts": maximum}),
        on_exhausted=step.saga.on_exhausted,
        compensation=step.saga.compensation,
        attempt_limit=limit,
        strategies=strategies,
    )


def _describe(rule: ContextOverride) -> str:
    changes = []
    for step, change in rule.steps.items():
        parts = []
        if change.timeout_seconds is not None:
            parts.append(f"timeout {change.timeout_seconds:g}s")
        if change.retry_limit is not None:
            word = "attempt" if change.retry_limit == 1 else "attempts"
            parts.append(f"{change.retry_limit} {word}")
        changes.append(f"{step} {', '.join(parts)}")
    if rule.high_priority:
        changes.append("high priority")
    return f"{rule.name}: {'; '.join(changes)}"


def build_plan(
    template: TaskTemplate,
    data: Mapping[str, Any] | None = None,
    activities: Mapping[str, str] | None = None,
) -> SagaPlan:
    """Resolve the template (overlay already applied) for one request's input ``data``;
    ``activities``: the activity name of each step, as the saga's code declares them."""
    rules = matching_overrides(template, data or {})
    activities = activities or {}
    return SagaPlan(
        workflow=template.name,
        version=template.version,
        environment=template.environment,
        steps=[
            step_plan(template, step, rules, activities.get(step.name)) for step in template.steps
        ],
        intervention_timeout_seconds=template.saga.intervention_timeout_seconds,
        on_intervention_timeout=template.saga.on_intervention_timeout,
        overrides=[_describe(rule) for rule in rules],
        high_priority=any(rule.high_priority for rule in rules),
        concurrent=template.concurrent,
    )
