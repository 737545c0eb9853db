"""Worker settings: flags, environment variables, defaults, and what they turn into."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from plumbing.worker_settings import (
    PASSTHROUGH_MODULES,
    RunnerKind,
    WorkerSettings,
    compile_for_sandbox,
)


def parse(argv: list[str], environ: dict[str, str] | None = None) -> WorkerSettings:
    parser = argparse.ArgumentParser()
    WorkerSettings.add_arguments(parser, WorkerSettings.from_env(environ or {}))
    return WorkerSettings.from_arguments(parser.parse_args(argv))


def test_defaults() -> None:
    settings = parse([])
    assert settings == WorkerSettings()
    options = settings.worker_options([])
    assert options["max_concurrent_workflow_tasks"] == 100
    assert options["max_concurrent_activities"] == 100
    assert options["max_cached_workflows"] == 1000
    runner = options["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner)
    assert set(PASSTHROUGH_MODULES) <= runner.restrictions.passthrough_modules
    assert settings.telemetry_runtime() is None


def test_environment_then_flags() -> None:
    environ = {
        "SAGA_WORKER_MAX_WORKFLOW_TASKS": "20",
        "SAGA_WORKER_RUNNER": "unsandboxed",
        "SAGA_WORKER_UVLOOP": "yes",
        "SAGA_WORKER_METRICS_PORT": "9464",
    }
    from_env = parse([], environ)
    assert from_env.max_workflow_tasks == 20
    assert from_env.runner is RunnerKind.UNSANDBOXED
    assert from_env.uvloop is True
    assert isinstance(from_env.workflow_runner(), UnsandboxedWorkflowRunner)
    flags = parse(["--max-workflow-tasks", "7", "--uvloop", "0"], environ)
    assert (flags.max_workflow_tasks, flags.uvloop, flags.metrics_port) == (7, False, 9464)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SAGA_WORKER_MAX_ACTIVITIES": "many"}, "SAGA_WORKER_MAX_ACTIVITIES: expected a whole"),
        ({"SAGA_WORKER_RUNNER": "fast"}, "SAGA_WORKER_RUNNER: expected sandboxed or unsandboxed"),
        ({"SAGA_WORKER_UVLOOP": "maybe"}, "SAGA_WORKER_UVLOOP: expected 1 or 0"),
        ({"SAGA_WORKER_PROCESSES": "0"}, "--processes must be at least 1"),
        ({"SAGA_WORKER_METRICS_PORT": "70000"}, "--metrics-port must be between 0 and 65535"),
    ],
)
def test_bad_values_name_their_source(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkerSettings.from_env(environ)


def test_each_process_gets_its_own_metrics_port() -> None:
    settings = WorkerSettings(processes=3, metrics_port=9464)
    assert [settings.for_process(i).metrics_port for i in range(3)] == [9464, 9465, 9466]
    assert {settings.for_process(i).processes for i in range(3)} == {1}
    assert WorkerSettings(processes=2).for_process(1).metrics_port == 0


def test_workflow_packages_are_compiled_for_the_sandbox(tmp_path: Path) -> None:
    package = tmp_path / "sandboxed_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text("class Flow:\n    pass\n")
    spec = importlib.util.spec_from_file_location("sandboxed_pkg_flows", package / "flows.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode, saved = True, sys.dont_write_bytecode
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert not (package / "__pycache__").exists()
        compile_for_sandbox([module.Flow])
    finally:
        sys.dont_write_bytecode = saved
        del sys.modules[spec.name]
    compiled = sorted(p.name.split(".")[0] for p in (package / "__pycache__").iterdir())
    assert compiled == ["__init__", "flows"]
