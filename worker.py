"""Run saga workers: every saga's workflows and activities on one task queue.

    python worker.py [--address HOST:PORT] [--namespace NS] [--task-queue Q]
                     [--processes N] [--metrics-port P] [--runner sandboxed|unsandboxed]
                     [--saga-module MODULE ...] ...

Every saga of the catalogue is hosted: the built-in ones and those of each saga module
named with ``--saga-module`` or SAGA_MODULES (comma-separated).

Connection defaults come from TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE
(default) and TEMPORAL_TASK_QUEUE (sagas); worker settings from the SAGA_WORKER_*
variables (``--help`` lists them with their defaults). Service URLs come from the configs,
overridable with SAGA_SERVICES_URL or SAGA_URL_<STEP>. SIGINT/SIGTERM stop every process
gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.runtime import Runtime

from activities.client import http_client
from adapter.errors import ConfigError
from plumbing.codec import CodecError
from plumbing.connection import ConnectionSettingsError, TemporalSettings, connect
from plumbing.converter import data_converter
from plumbing.health import health_app
from plumbing.logs import configure_logging
from plumbing.serving import serving
from plumbing.shutdown import exit_now, until_stopped
from plumbing.version import project_version
from plumbing.worker_settings import WorkerSettings
from sagas.catalogue import add_module_option, catalogue, check_code, use_modules
from sagas.descriptor import SagaModuleError
from sagas.metrics import publish_awaiting
from sagas.worker import activities_for, make_worker, service_client
from workflows.visibility import SAGA_STATE

log = structlog.get_logger("worker")


def parse_args(argv: list[str] | None = None) -> tuple[TemporalSettings, WorkerSettings]:
    parser = argparse.ArgumentParser(
        description="Run saga workers (workflows and activities of every saga).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {project_version()}")
    try:
        defaults = TemporalSettings.from_env()
        data_converter()  # the keyring: a bad one is refused before anything runs
    except (ConnectionSettingsError, CodecError) as err:
        parser.error(str(err))
    parser.add_argument(
        "--address", default=defaults.address, help="[TEMPORAL_ADDRESS; default localhost:7233]"
    )
    parser.add_argument(
        "--namespace", default=defaults.namespace, help="[TEMPORAL_NAMESPACE; default default]"
    )
    parser.add_argument(
        "--task-queue", default=defaults.task_queue, help="[TEMPORAL_TASK_QUEUE; default sagas]"
    )
    try:
        worker_defaults = WorkerSettings.from_env()
    except ValueError as err:
        parser.error(str(err))
    WorkerSettings.add_arguments(parser, worker_defaults)
    add_module_option(parser, [])
    args = parser.parse_args(argv)
    try:
        check_code(use_modules(args.saga_module))
    except SagaModuleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        worker = WorkerSettings.from_arguments(args)
    except ValueError as err:
        parser.error(str(err))
    temporal = replace(
        defaults, address=args.address, namespace=args.namespace, task_queue=args.task_queue
    )
    return temporal, worker


async def run(settings: TemporalSettings, worker_settings: WorkerSettings) -> None:
    runtime = worker_settings.telemetry_runtime()
    client = await connect(settings, runtime)
    async with http_client(worker_settings.max_activities) as http:
        worker = make_worker(
            client,
            settings.task_queue,
            activities_for(service_client(http)),
            worker_settings,
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with (
            worker,
            _health(client, settings.task_queue, worker_settings),
            _awaiting_gauge(client, runtime),
        ):
            log.info(
                "worker_started",
                address=settings.address,
                task_queue=settings.task_queue,
                runner=worker_settings.runner.value,
                metrics_port=worker_settings.metrics_port or None,
                health_port=worker_settings.health_port or None,
            )
            await until_stopped()
            log.info("worker_stopping")
    log.info("worker_stopped")


@contextlib.asynccontextmanager
async def _awaiting_gauge(client: Client, runtime: Runtime | None) -> AsyncIterator[None]:
    """``saga_awaiting_intervention`` kept from visibility while the worker runs, when it
    exports metrics."""
    if runtime is None:
        yield
        return
    task = asyncio.ensure_future(
        publish_awaiting(client, runtime.metric_meter, catalogue(), SAGA_STATE.name)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _health(
    client: Client, task_queue: str, worker_settings: WorkerSettings
) -> contextlib.AbstractAsyncContextManager[None]:
    """The health endpoints while the worker runs, when a port is set."""
    if not worker_settings.health_port:
        return contextlib.nullcontext()
    app = health_app(client, task_queue, client.identity)
    return serving(app, worker_settings.health_host, worker_settings.health_port)


def serve(settings: TemporalSettings, worker_settings: WorkerSettings) -> int:
    """Run one worker process until it is told to stop."""
    try:
        worker_settings.run(run(settings, worker_settings))
    except (ConfigError, SagaModuleError) as err:
        log.error("config_error", error=str(err))
        return 2
    except RuntimeError as err:
        log.error("worker_error", error=str(err))
        return 1
    return 0


def _child(settings: TemporalSettings, worker_settings: WorkerSettings) -> None:
    configure_logging()
    sys.exit(serve(settings, worker_settings))


def serve_processes(settings: TemporalSettings, worker_settings: WorkerSettings) -> int:
    """``--processes N``: N worker processes; a signal to this one stops them all."""
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(
            target=_child, args=(settings, worker_settings.for_process(i)), name=f"worker-{i}"
        )
        for i in range(worker_settings.processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for child in children:
        child.join()
    return max((child.exitcode or 0) for child in children)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    settings, worker_settings = parse_args(argv)
    if worker_settings.processes > 1:
        return serve_processes(settings, worker_settings)
    return serve(settings, worker_settings)


def cli() -> None:
    """The installed ``saga-worker`` command."""
    exit_now(main())


if __name__ == "__main__":
    cli()
