"""Prometheus alerting rules from a config's ``monitoring`` section, plus the operational
rules every saga needs (``starter.py config alerts``; ``deploy/prometheus/alerts.yml``).

Tasker's ``monitoring`` section says what "healthy" means for a saga:

- ``success_rate_threshold``: the share of sagas ending ``complete`` below which to alert;
- ``error_rate_alert_threshold``: the share ending ``error`` or ``compensated`` above which
  to alert;
- ``step_duration_alert_ms``: per step, the p95 duration above which to alert.

The rules read the saga metrics the worker exports under these names (a contract shared
with the dashboard): ``saga_ended_total{saga,state}``, ``saga_awaiting_intervention{saga}``
and ``saga_step_duration_seconds{saga,step}``; and the SDK's own worker metrics, in
milliseconds as Temporal's SDK dashboard reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from adapter.errors import ConfigError, ConfigErrors
from adapter.models import TaskTemplate

WINDOW: Final = "15m"
"""The rate window of the success and error rates: long enough to hold a few sagas."""
AWAITING_FOR: Final = "30m"
SCHEDULE_TO_START_MS: Final = 200
"""Temporal's worker-health guidance: workflow task schedule-to-start p99 above 200 ms means
the workers cannot keep up."""
_KEYS: Final = {"success_rate_threshold", "error_rate_alert_threshold", "step_duration_alert_ms"}


def _share(value: Any, template: TaskTemplate, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise ConfigError(
            template.path, f"expected a share above 0 and at most 1, got {value!r}",
            key=f"monitoring.{key}",
        )  # fmt: skip
    return float(value)


def monitoring_problems(template: TaskTemplate) -> list[ConfigError]:
    """Everything in the ``monitoring`` section that no rule could be built from."""
    problems: list[ConfigError] = []
    monitoring = template.monitoring
    for key in ("success_rate_threshold", "error_rate_alert_threshold"):
        if key in monitoring:
            try:
                _share(monitoring[key], template, key)
            except ConfigError as err:
                problems.append(err)
    durations = monitoring.get("step_duration_alert_ms", {})
    if not isinstance(durations, dict):
        problems.append(ConfigError(template.path, "expected a mapping of step to milliseconds",
                                    key="monitoring.step_duration_alert_ms"))  # fmt: skip
        return problems
    steps = {step.name for step in template.steps}
    key = "monitoring.step_duration_alert_ms"
    for step, ms in durations.items():
        if step not in steps:
            message = f"no such step ({', '.join(sorted(steps))})"
            problems.append(ConfigError(template.path, message, step=str(step), key=key))
        elif isinstance(ms, bool) or not isinstance(ms, int) or ms <= 0:
            message = f"expected milliseconds above 0, got {ms!r}"
            problems.append(ConfigError(template.path, message, step=str(step), key=key))
    return problems


def monitoring_warnings(template: TaskTemplate) -> list[str]:
    """Keys of the ``monitoring`` section no rule is generated from (Tasker's
    ``business_metrics``, say): kept, and said."""
    return [
        f"{template.path}: monitoring.{key}: kept, but no alerting rule is generated from it"
        for key in sorted(set(template.monitoring) - _KEYS)
    ]


def _ended(saga: str, states: str | None = None) -> str:
    state = f',state=~"{states}"' if states else ""
    return f'sum(rate(saga_ended_total{{saga="{saga}"{state}}}[{WINDOW}]))'


def saga_rules(saga: str, template: TaskTemplate) -> dict[str, Any]:
    """The rule group of one saga: its ``monitoring`` thresholds, and an operator awaited
    too long. ConfigErrors names every problem in the section."""
    problems = monitoring_problems(template)
    if problems:
        raise ConfigErrors(problems)
    monitoring = template.monitoring
    source = f"{Path(template.path).name}, monitoring"
    labels = {"saga": saga}
    rules: list[dict[str, Any]] = []
    if "success_rate_threshold" in monitoring:
        threshold = float(monitoring["success_rate_threshold"])
        rules.append({
            "alert": "SagaSuccessRateLow",
            "expr": f'{_ended(saga, "complete")} / {_ended(saga)} < {threshold:g}',
            "for": "10m",
            "labels": {**labels, "severity": "warning"},
            "annotations": {
                "summary": f"Fewer than {threshold:.0%} of {saga} sagas complete",
                "description": f"success_rate_threshold {threshold:g} ({source}), over {WINDOW}",
            },
        })  # fmt: skip
    if "error_rate_alert_threshold" in monitoring:
        threshold = float(monitoring["error_rate_alert_threshold"])
        rules.append({
            "alert": "SagaErrorRateHigh",
            "expr": f'{_ended(saga, "error|compensated")} / {_ended(saga)} > {threshold:g}',
            "for": "10m",
            "labels": {**labels, "severity": "critical"},
            "annotations": {
                "summary": f"More than {threshold:.0%} of {saga} sagas end error or compensated",
                "description": f"error_rate_alert_threshold {threshold:g} ({source}),"
                f" over {WINDOW}",
            },
        })  # fmt: skip
    for step, ms in monitoring.get("step_duration_alert_ms", {}).items():
        p95 = (
            "histogram_quantile(0.95, sum by (le) (rate(saga_step_duration_seconds_bucket"
            f'{{saga="{saga}",step="{step}"}}[{WINDOW}])))'
        )
        rules.append({
            "alert": "SagaStepSlow",
            "expr": f"{p95} > {ms / 1000:g}",
            "for": "10m",
            "labels": {**labels, "step": str(step), "severity": "warning"},
            "annotations": {
                "summary": f"{saga} step {step}: p95 duration above {ms} ms",
                "description": f"step_duration_alert_ms.{step} {ms} ({source}), over {WINDOW}",
            },
        })  # fmt: skip
    rules.append({
        "alert": "SagaAwaitingOperator",
        "expr": f'saga_awaiting_intervention{{saga="{saga}"}} > 0',
        "for": AWAITING_FOR,
        "labels": {**labels, "severity": "warning"},
        "annotations": {
            "summary": f"{saga} sagas have waited for an operator for more than {AWAITING_FOR}",
            "description": f"starter.py list --saga {saga} --state awaiting_intervention",
        },
    })  # fmt: skip
    return {"name": f"saga-{saga}", "rules": rules}


def worker_rules() -> dict[str, Any]:
    """What every saga worker needs, whatever the saga (the SDK's metrics, milliseconds)."""
    return {
        "name": "saga-workers",
        "rules": [
            {
                "alert": "WorkflowTaskScheduleToStartSlow",
                "expr": "histogram_quantile(0.99, sum by (le, task_queue) (rate("
                "temporal_workflow_task_schedule_to_start_latency_bucket[5m])))"
                f" > {SCHEDULE_TO_START_MS}",
                "for": "5m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "Workflow tasks wait more than 200 ms (p99) for a worker",
                    "description": "Add workers or slots (Temporal's worker-health guidance).",
                },
            },
            {
                "alert": "WorkerSlotsExhausted",
                "expr": "min by (worker_type, task_queue) (temporal_worker_task_slots_available)"
                " == 0",
                "for": "5m",
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": "A worker has had no free task slot for 5 minutes",
                    "description": "--max-workflow-tasks / --max-activities, or more workers.",
                },
            },
            {
                "alert": "WorkflowTaskFailures",
                "expr": "sum by (workflow_type) (rate(temporal_workflow_task_execution_failed[5m]))"
                " > 0",
                "for": "5m",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "Workflow tasks are failing (a bug or non-determinism)",
                    "description": "See the worker's log; the saga is stuck until it is fixed.",
                },
            },
        ],
    }


def alert_rules(sagas: list[tuple[str, TaskTemplate]]) -> dict[str, Any]:
    """A Prometheus rules file: one group per saga, then the workers' group."""
    return {"groups": [*(saga_rules(kind, template) for kind, template in sagas), worker_rules()]}
