"""Run in a fresh interpreter by ``test_sandbox.py``: load every saga workflow in the
sandbox exactly as the worker's runner does, and print which heavy modules got imported
(outside the sandbox, or inside it) as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import temporalio.workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from runtime.workers import WorkerSettings
from workflows.order_processing import OrderProcessingWorkflow
from workflows.user_registration import UserRegistrationWorkflow

HEAVY = ("yaml", "jsonschema", "httpx", "adapter.loader", "adapter.schema", "adapter.urls")


def _definition(workflow: type) -> Any:
    return temporalio.workflow._Definition.must_from_class(workflow)


def _heavy(modules: dict[str, Any]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY or name in HEAVY)


async def main() -> None:
    runner = WorkerSettings().workflow_runner()
    assert isinstance(runner, SandboxedWorkflowRunner)
    report: dict[str, Any] = {"outside": _heavy(dict(sys.modules)), "sandbox": {}}
    for workflow in (OrderProcessingWorkflow, UserRegistrationWorkflow):
        runner.prepare_workflow(
            _definition(workflow)
        )  # what Worker() does: instantiate in a sandbox
    # prepare_workflow discards its instance; load one more to look inside its sandbox.
    report["sandbox_modules"] = _sandbox_modules(runner, UserRegistrationWorkflow)
    report["outside_after"] = _heavy(dict(sys.modules))
    report["sandbox"] = _heavy(report["sandbox_modules"])
    json.dump(report, sys.stdout)


def _sandbox_modules(runner: SandboxedWorkflowRunner, workflow: type) -> dict[str, bool]:
    """Modules the sandbox holds, each with whether it is the process's own module (passed
    through: imported once per process) rather than a fresh copy for this run."""
    seen: dict[str, bool] = {}
    original = runner.create_instance

    def spy(det: Any) -> Any:
        instance = original(det)
        importer = getattr(instance, "importer", None)
        new_modules = getattr(importer, "new_modules", None)
        if not isinstance(new_modules, dict):
            raise SystemExit("the SDK's sandbox no longer exposes importer.new_modules")
        seen.update({name: module is sys.modules.get(name) for name, module in new_modules.items()})
        return instance

    object.__setattr__(runner, "create_instance", spy)
    runner.prepare_workflow(_definition(workflow))
    return seen


if __name__ == "__main__":
    asyncio.run(main())  # the sandbox attaches each instance to the running loop
