"""Serve the floor workflows with exactly the worker settings ``worker.py`` would use.

    python -m bench.floor_worker --address HOST:PORT --task-queue Q [worker.py's settings]

Same client (``plumbing.connection.connect``), same ``WorkerSettings`` (environment, then
flags), same ``Worker`` options: the only difference from a saga worker is what it runs.
One process only: ``--processes`` is ``worker.py``'s own forking, not a Worker option.
"""

from __future__ import annotations

import argparse

from temporalio.worker import Worker

from bench.floor import ACTIVITIES, WORKFLOWS
from plumbing.connection import TemporalSettings, connect
from plumbing.logs import configure_logging
from plumbing.shutdown import exit_now, until_stopped
from plumbing.worker_settings import WorkerSettings


def parse_args(argv: list[str] | None = None) -> tuple[TemporalSettings, WorkerSettings]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor_worker", description="Serve the benchmark's floor workflows."
    )
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default=TemporalSettings.namespace)
    parser.add_argument("--task-queue", required=True)
    try:
        WorkerSettings.add_arguments(parser, WorkerSettings.from_env())
        args = parser.parse_args(argv)
        settings = WorkerSettings.from_arguments(args)
    except ValueError as err:
        parser.error(str(err))
    if settings.processes != 1:
        parser.error("the floor worker runs one process; --processes must be 1")
    temporal = TemporalSettings(
        address=args.address, namespace=args.namespace, task_queue=args.task_queue
    )
    return temporal, settings


async def serve(temporal: TemporalSettings, settings: WorkerSettings) -> None:
    client = await connect(
        TemporalSettings(address=temporal.address, namespace=temporal.namespace),
        settings.telemetry_runtime(),
    )
    worker = Worker(
        client,
        task_queue=temporal.task_queue,
        activities=ACTIVITIES,
        **settings.worker_options(WORKFLOWS),
    )
    async with worker:
        await until_stopped()


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    temporal, settings = parse_args(argv)
    settings.run(serve(temporal, settings))
    return 0


if __name__ == "__main__":
    exit_now(main())
