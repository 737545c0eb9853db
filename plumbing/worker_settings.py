"""How a worker process runs: slots, cache, workflow runner, event loop, metrics.

Every value is a flag of ``worker.py`` and an environment variable, with the defaults
below. The sandboxed runner passes :data:`PASSTHROUGH_MODULES` through: the sandbox then
imports them once per process instead of once per workflow run (re-importing them, and
rebuilding their pydantic models, is what made a loaded worker livelock).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import inspect
import os
import re
import sys
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import PrometheusConfig, Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, WorkerDeploymentConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from plumbing.logs import core_telemetry

T = TypeVar("T")

_VERSION_PART = re.compile(r"[A-Za-z0-9_.-]{1,255}")
PASSTHROUGH_MODULES = ("models",)
"""Run-time data shared with workflows: plain pydantic models and pure helpers, no I/O."""


class RunnerKind(StrEnum):
    SANDBOXED = "sandboxed"
    UNSANDBOXED = "unsandboxed"


@dataclass(frozen=True)
class _Option:
    flag: str
    env: str
    help: str


_OPTIONS: Mapping[str, _Option] = {
    "max_workflow_tasks": _Option(
        "--max-workflow-tasks",
        "SAGA_WORKER_MAX_WORKFLOW_TASKS",
        "workflow tasks processed at once (slots)",
    ),
    "max_activities": _Option(
        "--max-activities", "SAGA_WORKER_MAX_ACTIVITIES", "activities run at once (slots)"
    ),
    "max_cached_workflows": _Option(
        "--max-cached-workflows",
        "SAGA_WORKER_MAX_CACHED_WORKFLOWS",
        "sticky cache: workflows kept in memory between tasks (0 replays every task)",
    ),
    "runner": _Option(
        "--runner",
        "SAGA_WORKER_RUNNER",
        "sandboxed (default: determinism checks, models passed through) or unsandboxed "
        "(less CPU per task, no protection against non-deterministic code)",
    ),
    "uvloop": _Option(
        "--uvloop", "SAGA_WORKER_UVLOOP", "run the event loop on uvloop (0: asyncio's own)"
    ),
    "processes": _Option(
        "--processes", "SAGA_WORKER_PROCESSES", "worker processes started by this command"
    ),
    "metrics_port": _Option(
        "--metrics-port",
        "SAGA_WORKER_METRICS_PORT",
        "Prometheus /metrics port (0: off); process i of --processes uses port+i",
    ),
    "metrics_host": _Option(
        "--metrics-host", "SAGA_WORKER_METRICS_HOST", "address the metrics endpoint binds to"
    ),
    "health_port": _Option(
        "--health-port",
        "SAGA_WORKER_HEALTH_PORT",
        "GET /health/live and /health/ready on this port (0: off); process i uses port+i",
    ),
    "health_host": _Option(
        "--health-host", "SAGA_WORKER_HEALTH_HOST", "address the health endpoints bind to"
    ),
    "deployment_name": _Option(
        "--deployment-name",
        "SAGA_WORKER_DEPLOYMENT_NAME",
        "Worker Versioning: the worker deployment this worker belongs to (with --build-id;"
        " empty: unversioned)",
    ),
    "build_id": _Option(
        "--build-id",
        "SAGA_WORKER_BUILD_ID",
        "Worker Versioning: this worker's build (with --deployment-name)",
    ),
}


def _flag(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected 1/0, true/false, yes/no or on/off, got {value!r}")


@dataclass(frozen=True)
class WorkerSettings:
    """One worker process's tuning; the defaults are what ``worker.py`` runs with."""

    max_workflow_tasks: int = 100
    max_activities: int = 100
    max_cached_workflows: int = 1000
    runner: RunnerKind = RunnerKind.SANDBOXED
    uvloop: bool = sys.platform != "win32"
    """uvloop exists for Linux and macOS only; the README has what it saves."""
    processes: int = 1
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    health_port: int = 0
    health_host: str = "127.0.0.1"
    deployment_name: str = ""
    build_id: str = ""

    def __post_init__(self) -> None:
        for name in ("max_workflow_tasks", "max_activities", "processes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{_OPTIONS[name].flag} must be at least 1")
        if self.max_cached_workflows < 0:
            raise ValueError("--max-cached-workflows must be 0 or more")
        if bool(self.deployment_name) != bool(self.build_id):
            raise ValueError(
                "--deployment-name and --build-id go together (Worker Versioning), or neither"
            )
        for name in ("deployment_name", "build_id"):
            value = getattr(self, name)
            if value and not _VERSION_PART.fullmatch(value):
                raise ValueError(
                    f"{_OPTIONS[name].flag}: expected letters, digits and _ . -"
                    f" (at most 255), got {value!r}"
                )
        for name in ("metrics_port", "health_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{_OPTIONS[name].flag} must be between 0 and 65535")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        """Defaults overridden by the ``SAGA_WORKER_*`` variables."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(_OPTIONS[field.name].env)
            if raw is not None:
                values[field.name] = _parse(field.name, raw, _OPTIONS[field.name].env)
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, defaults: WorkerSettings) -> None:
        group = parser.add_argument_group("worker settings (flag, or environment variable)")
        for field in fields(cls):
            option = _OPTIONS[field.name]
            default = getattr(defaults, field.name)
            group.add_argument(
                option.flag,
                dest=field.name,
                default=_shown(default),
                metavar=_metavar(default),
                help=f"{option.help} [{option.env}; default {_shown(getattr(cls, field.name))}]",
            )

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> WorkerSettings:
        return cls(**{f.name: _parse(f.name, getattr(args, f.name), _OPTIONS[f.name].flag)
                      for f in fields(cls)})  # fmt: skip

    def for_process(self, index: int) -> WorkerSettings:
        """The settings of process ``index`` of ``processes``: its own metrics and health
        ports."""
        metrics = self.metrics_port + index if self.metrics_port else 0
        health = self.health_port + index if self.health_port else 0
        return replace(self, processes=1, metrics_port=metrics, health_port=health)

    def workflow_runner(self, passthrough: Sequence[str] = ()) -> WorkflowRunner:
        """The runner these settings ask for; a sandbox passes :data:`PASSTHROUGH_MODULES`
        and ``passthrough`` (the models modules of saga packages) through."""
        if self.runner is RunnerKind.UNSANDBOXED:
            return UnsandboxedWorkflowRunner()
        modules = dict.fromkeys([*PASSTHROUGH_MODULES, *passthrough])
        return SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules)
        )

    def worker_options(
        self, workflows: Sequence[type], passthrough: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Keyword arguments for :class:`temporalio.worker.Worker` serving ``workflows``
        (compiled for the sandbox first)."""
        if self.runner is RunnerKind.SANDBOXED:
            compile_for_sandbox(workflows)
        return {
            "workflows": list(workflows),
            "max_concurrent_workflow_tasks": self.max_workflow_tasks,
            "max_concurrent_activities": self.max_activities,
            "max_cached_workflows": self.max_cached_workflows,
            "workflow_runner": self.workflow_runner(passthrough),
            **self._versioning(),
        }

    def _versioning(self) -> dict[str, Any]:
        """Worker Versioning, when a deployment and build are named: every saga is pinned,
        it finishes on the build it started on. (A behavior declared on ``@workflow.defn``
        would make unversioned workers fail every task: the SDK sends it regardless.)"""
        if not self.deployment_name:
            return {}
        version = WorkerDeploymentVersion(self.deployment_name, self.build_id)
        config = WorkerDeploymentConfig(
            version=version,
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,
        )
        return {"deployment_config": config}

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run ``main`` to completion on the event loop these settings ask for."""
        if self.uvloop:
            import uvloop

            return uvloop.run(main)
        return asyncio.run(main)

    def telemetry_runtime(self) -> Runtime | None:
        """A Temporal runtime exporting the SDK's metrics to Prometheus, when asked for (its
        core logs forwarded like the default runtime's, :func:`plumbing.logs.core_telemetry`)."""
        if not self.metrics_port:
            return None
        address = f"{self.metrics_host}:{self.metrics_port}"
        return Runtime(telemetry=core_telemetry(PrometheusConfig(bind_address=address)))


def compile_for_sandbox(workflows: Iterable[type]) -> None:
    """Write the bytecode of the packages holding ``workflows``.

    The sandbox imports workflow modules afresh for every workflow run. Without a bytecode
    cache (``PYTHONDONTWRITEBYTECODE``, which is set on some machines) every one of those
    imports compiles the source again: 13 % of a loaded worker's CPU, measured. Compiling
    once here lets the imports read the cache; where it cannot be written nothing changes.
    """
    folders = {Path(inspect.getfile(workflow)).parent for workflow in workflows}
    for folder in folders:
        compileall.compile_dir(folder, maxlevels=0, quiet=2)


def _shown(default: object) -> str:
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, RunnerKind):
        return default.value
    return str(default)


def _metavar(default: object) -> str:
    if isinstance(default, bool):
        return "1|0"
    if isinstance(default, RunnerKind):
        return "|".join(kind.value for kind in RunnerKind)
    return "N" if isinstance(default, int) else ("HOST" if default else "NAME")


def _parse(name: str, raw: str, where: str) -> Any:
    """One setting from its text; a bad value names the flag or variable it came from."""
    default = getattr(WorkerSettings, name)
    try:
        if isinstance(default, bool):
            return _flag(raw)
        if isinstance(default, RunnerKind):
            return RunnerKind(raw.strip().lower())
        if isinstance(default, int):
            return int(raw)
        return raw
    except ValueError:
        expected = {
            bool: "1 or 0",
            RunnerKind: " or ".join(kind.value for kind in RunnerKind),
            int: "a whole number",
        }.get(type(default), "text")
        raise ValueError(f"{where}: expected {expected}, got {raw!r}") from None
