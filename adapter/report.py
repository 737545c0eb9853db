"""``starter.py config show``: a config as the sagas will run it, one row per step."""

from __future__ import annotations

from adapter.models import TaskTemplate
from adapter.policy import build_plan
from models.events import EMITTED
from models.plan import Backoff, SagaPlan, StepPlan, StrategyPlan

HEADERS = ("step", "depends on", "attempts", "timeout", "backoff", "strategies", "saga")


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _strategy(strategy: StrategyPlan) -> str:
    if strategy.backoff is Backoff.FIXED:
        curve = f"fixed {_seconds(strategy.base_delay)}"
    else:
        curve = f"{strategy.backoff.value} {_seconds(strategy.base_delay)}"
    if strategy.max_delay is not None and strategy.backoff is not Backoff.FIXED:
        curve += f"..{_seconds(strategy.max_delay)}"
    if strategy.max_elapsed_seconds is not None:
        curve += f" within {_seconds(strategy.max_elapsed_seconds)}"
    types = "|".join(strategy.error_types)
    return f"{strategy.name}[{types}] x{strategy.retry_limit} {curve}"


def _saga(step: StepPlan) -> str:
    text = f"on_exhausted={step.on_exhausted.value}"
    if step.compensation:
        text += f" undo={step.compensation}"
    return text


def step_row(step: StepPlan) -> tuple[str, ...]:
    retry = step.retry
    attempts = str(step.attempt_limit or retry.maximum_attempts)
    if step.attempt_limit and retry.maximum_attempts != step.attempt_limit:
        attempts += f" (max {retry.maximum_attempts})"
    backoff = (
        f"{_seconds(retry.initial_interval_seconds)} x{retry.backoff_coefficient:g}"
        f" ≤{_seconds(retry.maximum_interval_seconds)}"
    )
    return (
        step.name,
        ", ".join(step.depends_on) or "-",
        attempts,
        _seconds(step.start_to_close_seconds),
        backoff,
        "; ".join(_strategy(s) for s in step.strategies) or "-",
        _saga(step),
    )


def render_plan(template: TaskTemplate, plan: SagaPlan | None = None) -> str:
    """The table, with a header naming the config, its environment and overrides."""
    plan = plan or build_plan(template)
    rows = [HEADERS, *(step_row(step) for step in plan.steps)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = [
        f"{template.name} v{template.version}  ({template.path}, environment {plan.environment})"
    ]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append(
        f"intervention: timeout {_seconds(plan.intervention_timeout_seconds)},"
        f" then {plan.on_intervention_timeout.value}"
    )
    for rule in template.context_overrides:
        when = ", ".join(f"{k}={v}" for k, v in rule.when.items())
        lines.append(f"override {rule.name} (when {when})")
    for applied in plan.overrides:
        lines.append(f"applied: {applied}")
    lines.extend(_read_not_applied(template, plan))
    return "\n".join(line.rstrip() for line in lines)


def _read_not_applied(template: TaskTemplate, plan: SagaPlan) -> list[str]:
    """Keys that are read and shown but change no behaviour, so nothing passes silently."""
    notes = []
    if not plan.concurrent:
        notes.append("concurrent: false (steps run one at a time)")
    if template.environments:
        notes.append(f"environments: {', '.join(template.environments)}")
    for event in template.custom_events:
        name = str(event["name"])
        how = "emitted by the HTTP client as a log event" if name in EMITTED else "not emitted"
        notes.append(f"custom event {name}: {how}")
    if template.monitoring:
        notes.append(
            f"monitoring ({', '.join(template.monitoring)}): Prometheus alerting rules with"
            " `starter.py config alerts`"
        )
    if template.default_dependent_system:
        notes.append(f"default_dependent_system: {template.default_dependent_system}")
    return notes
