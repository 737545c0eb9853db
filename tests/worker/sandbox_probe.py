"""Run in a fresh interpreter by ``test_sandbox.py``: load every saga workflow in the
sandbox exactly as the worker's runner does, and print which heavy modules got imported
(outside the sandbox, or inside it) as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from types import ModuleType
from typing import Any

import temporalio.workflow
from pydantic import BaseModel
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from plumbing.worker_settings import WorkerSettings
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
    outside = _heavy(dict(sys.modules))
    modules: dict[str, bool] = {}
    per_run_models: list[str] = []
    for workflow in (OrderProcessingWorkflow, UserRegistrationWorkflow):
        held = _sandbox_modules(runner, workflow)
        modules.update({name: shared for name, (shared, _) in held.items()})
        per_run_models += [model for _, (shared, models) in held.items() if not shared
                           for model in models]  # fmt: skip
    report = {
        "outside": outside,
        "outside_after": _heavy(dict(sys.modules)),
        "sandbox": _heavy(modules),
        "sandbox_modules": modules,
        "models_built_per_run": sorted(per_run_models),
    }
    json.dump(report, sys.stdout)


def _models_defined_in(module: ModuleType) -> list[str]:
    """Pydantic classes a module defines: building one costs milliseconds."""
    return [
        f"{module.__name__}.{name}"
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]


def _sandbox_modules(
    runner: SandboxedWorkflowRunner, workflow: type
) -> dict[str, tuple[bool, list[str]]]:
    """Load ``workflow`` in a sandbox as Worker() does; the modules the sandbox then holds,
    each with whether it is the process's own module (passed through: imported once per
    process) rather than a copy made for this run, and the pydantic models it defines."""
    seen: dict[str, tuple[bool, list[str]]] = {}
    original = runner.create_instance

    def spy(det: Any) -> Any:
        instance = original(det)
        importer = getattr(instance, "importer", None)
        new_modules = getattr(importer, "new_modules", None)
        if not isinstance(new_modules, dict):
            raise SystemExit("the SDK's sandbox no longer exposes importer.new_modules")
        for name, module in new_modules.items():
            seen[name] = (module is sys.modules.get(name), _models_defined_in(module))
        return instance

    object.__setattr__(runner, "create_instance", spy)
    try:
        runner.prepare_workflow(_definition(workflow))
    finally:
        object.__delattr__(runner, "create_instance")
    return seen


if __name__ == "__main__":
    asyncio.run(main())  # the sandbox attaches each instance to the running loop
