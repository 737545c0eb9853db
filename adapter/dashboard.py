"""A Grafana dashboard for the sagas (``starter.py config dashboard``;
``deploy/grafana/sagas.json``), generated like the alerts: each saga's step durations are
drawn against the thresholds of its config's ``monitoring`` section.

Panels: sagas ended by state; step attempts by outcome (the failure's type); step p95
duration against ``step_duration_alert_ms`` (one panel per saga); sagas awaiting an
operator; and the SDK's worker panels (schedule-to-start latency, slots, sticky cache), on
the metric names Temporal's own SDK dashboard uses, in milliseconds.
"""

from __future__ import annotations

from typing import Any, Final

from adapter.models import TaskTemplate

WINDOW: Final = "5m"
DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}


def _panel(
    number: int, title: str, targets: list[tuple[str, str]], unit: str, width: int = 12
) -> dict[str, Any]:
    return {
        "id": number,
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": 0 if number % 2 else 12, "y": 8 * (number // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + index), "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(targets)
        ],
    }


def _durations(saga: str, template: TaskTemplate) -> list[tuple[str, str]]:
    """p95 of each step, and each step's threshold from the config as a flat line."""
    p95 = (
        "histogram_quantile(0.95, sum by (le, step) (rate(saga_step_duration_seconds_bucket"
        f'{{saga="{saga}"}}[{WINDOW}])))'
    )
    thresholds = template.monitoring.get("step_duration_alert_ms", {})
    return [
        (p95, "{{step}} p95"),
        *(
            (f"vector({ms / 1000:g})", f"{step} threshold ({ms} ms)")
            for step, ms in thresholds.items()
        ),
    ]


def dashboard(sagas: list[tuple[str, TaskTemplate]]) -> dict[str, Any]:
    """The dashboard for ``sagas`` (kind, config), in Grafana's JSON model."""
    panels = [
        ("Sagas ended, by state", [
            (f"sum by (saga, state) (rate(saga_ended_total[{WINDOW}]))", "{{saga}} {{state}}"),
            (f"sum by (saga) (rate(saga_started_total[{WINDOW}]))", "{{saga}} started"),
        ], "ops"),
        ("Step attempts, by outcome (failures by error type)", [
            (f"sum by (saga, step, outcome) (rate(saga_step_attempts_total[{WINDOW}]))",
             "{{saga}} {{step}} {{outcome}}"),
        ], "ops"),
        *((f"{saga}: step duration p95 against the config's threshold",
           _durations(saga, template), "s") for saga, template in sagas),
        ("Sagas awaiting an operator", [
            ("max by (saga) (saga_awaiting_intervention)", "{{saga}}"),
        ], "short"),
        ("Compensations, by outcome", [
            (f"sum by (saga, activity, outcome) (rate(saga_compensations_total[{WINDOW}]))",
             "{{saga}} {{activity}} {{outcome}}"),
        ], "ops"),
        ("Workflow task schedule-to-start latency p99 (SDK)", [
            ("histogram_quantile(0.99, sum by (le) (rate("
             f"temporal_workflow_task_schedule_to_start_latency_bucket[{WINDOW}])))", "p99"),
        ], "ms"),
        ("Task slots available (SDK)", [
            ("min by (worker_type) (temporal_worker_task_slots_available)", "{{worker_type}}"),
        ], "short"),
        ("Sticky cache size (SDK)", [
            ("sum(temporal_sticky_cache_size)", "workflows cached"),
        ], "short"),
    ]  # fmt: skip
    return {
        "title": "Sagas",
        "uid": "sagas",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "tags": ["sagas", "temporal"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                },
            ]
        },
        "panels": [
            _panel(number, title, targets, unit)
            for number, (title, targets, unit) in enumerate(panels, 1)
        ],
    }
