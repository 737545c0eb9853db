"""The processes a benchmark runs against, set up the way the demo sets them up.

One Temporal dev server (SQLite, WAL), the simulated services on a services database whose
stock never runs out, and worker processes started from the command line: ``worker.py``
for the sagas, ``bench.floor_worker`` for the floor. Every port is picked free and every
process is stopped by its PID, whatever ends the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from plumbing.connection import pollers
from plumbing.ports import free_port
from plumbing.processes import PROJECT_ROOT, Child, DevServer, Services, StartupError
from plumbing.worker_settings import WorkerSettings
from services import inventory
from services.db import Database
from worker import parse_args as parse_worker_args

STOCK = 10**9
"""Units of every product on sale: hundreds of orders must never run out."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVER, SERVICES, WORKER = "server", "services", "worker"
"""The processes under test, by role: the dev server, the services, the worker serving a
batch."""


def add_mix_arguments(parser: argparse.ArgumentParser) -> None:
    """How many of each saga a load-shaped run starts at once, and how long it may take."""
    parser.add_argument("--orders", type=int, default=500, help="order sagas (default 500)")
    parser.add_argument(
        "--registrations", type=int, default=200, help="registration sagas (default 200)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds for all of them (default 900)"
    )


def check_mix(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a mix with nothing to start (exits through ``parser.error``)."""
    if args.orders < 0 or args.registrations < 0 or args.orders + args.registrations == 0:
        parser.error("--orders and --registrations must be 0 or more, not both 0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every benchmark command shares."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the databases and logs go (default: a fresh temporary folder, deleted "
        "after a successful run unless --keep; a folder you name is never deleted)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    parser.add_argument(
        "--worker-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="passed to worker.py and the floor worker, e.g. --worker-arg=--runner=unsandboxed "
        "(repeatable)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON result goes"
    )


def worker_settings(worker_args: Sequence[str]) -> WorkerSettings:
    """What ``worker.py`` will run with (environment, then ``--worker-arg`` flags), parsed by
    ``worker.py``'s own parser here, so a bad flag stops us before anything starts."""
    return parse_worker_args(list(worker_args))[1]


def stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C does, so every process we started is stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def seed_services_db(path: Path, stock: int = STOCK) -> None:
    """The services' catalogue, with every product that is on sale and in stock restocked
    to ``stock``."""
    db = Database(path)
    try:
        inventory.seed(db)
        with db.transaction() as tx:
            for product in tx.find("products", active=True):
                if product["stock"] > 0:
                    tx.update("products", ("id", product["id"]), {"stock": stock})
    finally:
        db.close()


@dataclass
class WorkerProcess:
    """A worker command running in its own process, serving one task queue."""

    name: str
    task_queue: str
    child: Child

    @property
    def pid(self) -> int:
        return self.child.process.pid

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (it leads its own session), the way a
        crash or an OOM kill ends it: no graceful shutdown, in-flight tasks abandoned."""
        if self.child.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        self.child.process.wait()


@dataclass
class Stack:
    """Dev server + services + worker processes, as a context manager that stops them all."""

    data_dir: Path
    worker_args: Sequence[str]
    services_test_api: bool = False
    """Start the services with their test API (the fault API and the request log)."""
    server: DevServer = field(init=False)
    services: Services = field(init=False)
    workers: dict[str, WorkerProcess] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = DevServer(self.data_dir, port=free_port(), ui_port=free_port())
        self.services = Services(self.data_dir, port=free_port(), test_api=self.services_test_api)

    def __enter__(self) -> Stack:
        try:
            self.server.start()
            seed_services_db(self.data_dir / "services.db")
            self.services.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start_worker(
        self, name: str, module_or_script: Sequence[str], task_queue: str | None = None
    ) -> WorkerProcess:
        """Start ``python <module_or_script> --address … --task-queue <queue> <worker args>``,
        on a fresh queue unless ``task_queue`` names one (a replacement for a killed worker)."""
        queue = task_queue or f"bench-{name}-{uuid.uuid4().hex[:8]}"
        argv = [
            sys.executable, *module_or_script,
            "--address", self.server.address,
            "--task-queue", queue,
            *self.worker_args,
        ]  # fmt: skip
        env = {**os.environ, "SAGA_SERVICES_URL": self.services.url}
        log_path = self.data_dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                env=env,
                start_new_session=True,
            )
        worker = WorkerProcess(name, queue, Child(name, process, log_path))
        self.workers[name] = worker
        return worker

    def stop(self) -> None:
        """Stop every process we started, workers first, each by its PID."""
        for worker in self.workers.values():
            worker.child.stop()
        self.services.stop()
        self.server.stop()

    def pids(self, worker: WorkerProcess) -> dict[str, int]:
        """The PIDs to metre for a batch served by ``worker``, by role."""
        if not (self.server.child and self.services.child):
            raise StartupError("the stack is not started")
        return {
            SERVER: self.server.child.process.pid,
            SERVICES: self.services.child.process.pid,
            WORKER: worker.pid,
        }


async def queue_pollers(client: Client, task_queue: str) -> set[str]:
    """Every identity that recently polled ``task_queue`` for workflow or activity tasks."""
    return set().union(*[await pollers(client, task_queue, kind) for kind in _QUEUE_TYPES])


async def wait_until_polling(
    client: Client,
    worker: WorkerProcess,
    time_limit: float = 60.0,
    interval: float = 0.2,
    *,
    ignore: Collection[str] = (),
) -> None:
    """Wait until the worker polls its queue for workflow and activity tasks; pollers in
    ``ignore`` do not count (the server lists a killed worker for a while after its death)."""
    deadline = time.monotonic() + time_limit
    while time.monotonic() < deadline:
        if worker.child.process.poll() is not None:
            raise StartupError(f"{worker.name} exited early; see {worker.child.log_path}")
        found = [await pollers(client, worker.task_queue, kind) for kind in _QUEUE_TYPES]
        if all(identities - set(ignore) for identities in found):
            return
        await asyncio.sleep(interval)
    raise StartupError(
        f"{worker.name} not polling after {time_limit:.0f}s; see {worker.child.log_path}"
    )


_QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


@dataclass
class DataDir:
    """The run's data folder: a fresh temporary one unless named; cleaned up only if ours,
    the run went well and ``--keep`` was not given."""

    path: Path
    ours: bool
    keep: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DataDir:
        if args.data_dir is not None:
            return cls(args.data_dir.resolve(), ours=False, keep=True)
        return cls(Path(tempfile.mkdtemp(prefix="saga-bench-")), ours=True, keep=args.keep)

    def finish(self, succeeded: bool) -> None:
        if self.ours and succeeded and not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            print(f"data and logs kept in {self.path}", file=sys.stderr)
