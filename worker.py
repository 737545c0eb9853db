"""Run a worker: every saga's workflows and activities on one task queue.

    python worker.py [--address HOST:PORT] [--namespace NS] [--task-queue Q]

Defaults come from TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default) and
TEMPORAL_TASK_QUEUE (sagas). Service URLs come from the configs, overridable with
SAGA_SERVICES_URL or SAGA_URL_<STEP>. SIGINT/SIGTERM stop it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import replace
from datetime import timedelta

import httpx
import structlog

from adapter import ConfigError
from runtime.cli import exit_now
from runtime.logs import configure_logging
from runtime.temporal import TemporalSettings, activities_for, connect, make_worker, service_client

log = structlog.get_logger("worker")


def parse_args(argv: list[str] | None = None) -> TemporalSettings:
    defaults = TemporalSettings.from_env()
    parser = argparse.ArgumentParser(description="Run a saga worker.")
    parser.add_argument("--address", default=defaults.address)
    parser.add_argument("--namespace", default=defaults.namespace)
    parser.add_argument("--task-queue", default=defaults.task_queue)
    args = parser.parse_args(argv)
    return replace(
        defaults, address=args.address, namespace=args.namespace, task_queue=args.task_queue
    )


async def run(settings: TemporalSettings) -> None:
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with httpx.AsyncClient() as http:
        worker = make_worker(
            client,
            settings.task_queue,
            activities_for(service_client(http)),
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
        async with worker:
            log.info("worker_started", address=settings.address, task_queue=settings.task_queue)
            await stop.wait()
            log.info("worker_stopping")
    log.info("worker_stopped")


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    settings = parse_args(argv)
    try:
        asyncio.run(run(settings))
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(f"worker error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_now(main())
