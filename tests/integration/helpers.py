"""What integration tests share: running a saga to its end, and running the real CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from models.status import SagaStatus
from plumbing.processes import DevServer
from sagas.catalogue import catalogue
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def run_starter(dev_server: DevServer, queue: str, *args: str) -> Finished:
    """Run the CLI without blocking the event loop (the test's worker runs on it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "--address", dev_server.address, "--task-queue", queue,
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def run_saga(
    client: Client, queue: str, saga: str, data: dict[str, Any], workflow_id: str | None = None
) -> SagaStatus:
    """Start a new saga the way ``starter.py`` does and wait for its final status."""
    prepared = prepare(catalogue()[saga], data, workflow_id=workflow_id)
    handle, started = await start_saga(client, prepared, queue)
    assert started
    return await final_status(handle)


async def charges_for(http: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    """The charges the gateway holds for one order saga."""
    charges = (await http.get("/payments/charges")).json()["charges"]
    return [c for c in charges if c.get("description") == f"Order {workflow_id}"]


async def refunds_of(http: httpx.AsyncClient, charge: dict[str, Any]) -> list[str]:
    """The amounts refunded on ``charge``, as the gateway records them."""
    refunds = await http.get("/payments/refunds", params={"charge_id": charge["id"]})
    return [refund["amount"] for refund in refunds.json()["refunds"]]


@contextmanager
def worker_process(
    dev_server: DevServer,
    queue: str,
    *flags: str,
    log: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``python worker.py`` on ``queue`` (``env`` added to this environment); stopped with
    SIGTERM (then killed) by its PID."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "worker.py", "--address", dev_server.address,
             "--task-queue", queue, *flags],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
