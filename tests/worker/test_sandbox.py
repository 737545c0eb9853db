"""Workflow code costs what it should: config-time modules never enter a workflow sandbox,
and the run-time models are passed through (imported once per process, not per run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    """Load every saga workflow in the worker's sandbox in a fresh interpreter (this test
    process has imported everything already)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.worker.sandbox_probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_workflows_import_no_config_time_code(probe: dict[str, Any]) -> None:
    assert probe["outside"] == [], "importing the workflow modules pulls in config-time code"
    assert probe["sandbox"] == [], "the workflow sandbox imports config-time code"
    assert probe["outside_after"] == []


def test_models_are_passed_through_and_workflows_sandboxed(probe: dict[str, Any]) -> None:
    modules: dict[str, bool] = probe["sandbox_modules"]
    ours = {name: shared for name, shared in modules.items() if name.startswith("models.")}
    assert {"models.plan", "models.status", "models.registration"} <= set(ours)
    assert all(ours.values()), f"models re-imported per run: {ours}"
    assert modules["workflows.user_registration"] is False, "workflow code must stay sandboxed"
    assert modules["workflows.order_processing"] is False


def test_no_pydantic_model_is_built_per_workflow_run(probe: dict[str, Any]) -> None:
    assert probe["models_built_per_run"] == []
