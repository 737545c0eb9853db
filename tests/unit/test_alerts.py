"""Issue 17, item 3: Prometheus alerting rules generated from the configs' monitoring
sections, plus the operational rules every saga and worker gets; the shipped
deploy/prometheus/alerts.yml is exactly what `config alerts` prints."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

import starter

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {
    "saga_ended_total", "saga_awaiting_intervention", "saga_step_duration_seconds_bucket",
    "temporal_workflow_task_schedule_to_start_latency_bucket",
    "temporal_worker_task_slots_available", "temporal_workflow_task_execution_failed",
}  # fmt: skip


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = starter.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def rules_of(text: str) -> dict[str, list[dict[str, Any]]]:
    document = yaml.safe_load(text)
    return {group["name"]: group["rules"] for group in document["groups"]}


def test_the_shipped_rules_are_what_config_alerts_prints() -> None:
    code, out, _ = run("config", "alerts")
    assert code == 0
    assert (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text() == out, (
        "regenerate: python starter.py config alerts > deploy/prometheus/alerts.yml"
    )


def test_each_saga_gets_its_thresholds_and_every_rule_reads_the_contract() -> None:
    groups = rules_of(run("config", "alerts")[1])
    assert list(groups) == ["saga-order", "saga-registration", "saga-workers"]
    order = {(rule["alert"], rule["labels"].get("step")): rule for rule in groups["saga-order"]}
    assert order[("SagaSuccessRateLow", None)]["expr"].endswith("< 0.95")
    assert order[("SagaErrorRateHigh", None)]["expr"].endswith("> 0.05")
    assert order[("SagaStepSlow", "process_payment")]["expr"].endswith("> 15")
    assert order[("SagaStepSlow", "update_inventory")]["expr"].endswith("> 3")
    assert order[("SagaAwaitingOperator", None)]["for"] == "30m"
    steps = {step for alert, step in order if alert == "SagaStepSlow"}
    assert steps == {"validate_cart", "process_payment", "update_inventory", "create_order",
                     "send_confirmation"}  # fmt: skip
    registration = groups["saga-registration"]
    assert any(rule["expr"].endswith("< 0.98") for rule in registration)
    for group in groups.values():
        for rule in group:
            assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule)
            assert rule["labels"]["severity"] in {"warning", "critical"}
            metrics = set(re.findall(r"\b(saga_\w+|temporal_\w+)\b", rule["expr"]))
            assert metrics, rule["alert"]
            assert metrics <= CONTRACT, rule["alert"]
    slow = groups["saga-workers"][0]
    assert slow["alert"] == "WorkflowTaskScheduleToStartSlow"
    assert slow["expr"].endswith("> 200")


def _config_without_monitoring(tmp_path: Path, monitoring: str = "") -> Path:
    text = (ROOT / "config" / "order_processing.yaml").read_text()
    head, _, _ = text.partition("\nmonitoring:")
    path = tmp_path / "order_processing.yaml"
    path.write_text(head + "\n" + monitoring)
    return path


def test_a_config_without_monitoring_still_gets_the_operational_rules(tmp_path: Path) -> None:
    code, out, err = run("config", "alerts", str(_config_without_monitoring(tmp_path)))
    assert (code, err) == (0, "")
    groups = rules_of(out)
    assert [rule["alert"] for rule in groups["saga-order"]] == ["SagaAwaitingOperator"]
    assert len(groups["saga-workers"]) == 3


def test_a_bad_monitoring_section_names_the_file_step_and_key(tmp_path: Path) -> None:
    bad = _config_without_monitoring(
        tmp_path,
        "monitoring:\n  success_rate_threshold: 1.5\n  error_rate: 0.1\n"
        "  step_duration_alert_ms:\n    process_paymnt: 1000\n    create_order: -5\n",
    )
    code, out, err = run("config", "alerts", str(bad))
    assert (code, out) == (2, "")
    assert "key 'monitoring.success_rate_threshold': expected a share above 0 and at most 1" in err
    assert "process_paymnt" in err
    assert "create_order" in err
    assert str(bad) in err
    assert "Traceback" not in err
    code, validated, _ = run("config", "validate", str(bad))
    assert code == 2
    assert validated.count("error: ") == 3
    assert "warning: " in validated
    assert "monitoring.error_rate: kept, but no alerting rule is generated from it" in validated


def test_the_shipped_dashboard_is_what_config_dashboard_prints() -> None:
    code, out, _ = run("config", "dashboard")
    assert code == 0
    assert (ROOT / "deploy" / "grafana" / "sagas.json").read_text() == out, (
        "regenerate: python starter.py config dashboard > deploy/grafana/sagas.json"
    )
    board = json.loads(out)
    titles = [panel["title"] for panel in board["panels"]]
    assert "Sagas awaiting an operator" in titles
    assert "order: step duration p95 against the config's threshold" in titles
    order = next(panel for panel in board["panels"] if panel["title"].startswith("order:"))
    legends = [target["legendFormat"] for target in order["targets"]]
    assert "process_payment threshold (15000 ms)" in legends
    assert all(panel["targets"] for panel in board["panels"])


def test_promtool_accepts_the_rules() -> None:
    """Prometheus's own check, where Debian's `prometheus` package is installed (.ci/run
    installs it)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed here (apt-get install prometheus)")
    checked = subprocess.run(
        [promtool, "check", "rules", str(ROOT / "deploy" / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 19 rules found" in checked.stdout
