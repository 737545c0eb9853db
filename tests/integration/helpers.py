"""What integration tests share: running a saga to its end, and running the real CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from temporalio.client import Client

from models.status import SagaStatus
from plumbing.processes import DevServer
from sagas.catalogue import catalogue
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare

ROOT = Path(__file__).resolve().parents[2]
STUCK_FAULT = {"operation": "inventory.reserve", "count": 2, "mode": "status", "status": 500}
"""update_inventory's two attempts fail: an order awaits an operator (then stock is there)."""


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
    submission = await start_saga(client, prepared, queue)
    handle, started = submission.handle, submission.started
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


T = TypeVar("T")


WITHIN = 60.0
"""Seconds a polled condition may take (the stuck order's two attempts take about 3)."""


async def eventually(check: Callable[[], Awaitable[T | None]]) -> T:
    """``check()``'s first answer that is not None, polled for at most WITHIN seconds."""
    deadline = time.monotonic() + WITHIN
    while (found := await check()) is None:
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)
    return found


async def saga_document(api: httpx.AsyncClient, workflow_id: str) -> dict[str, Any]:
    """``GET /sagas/{workflow_id}``, which must answer 200."""
    response = await api.get(f"/sagas/{workflow_id}")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def in_state(api: httpx.AsyncClient, workflow_id: str, state: str) -> dict[str, Any]:
    """The saga's status document (from the API) once it is in ``state``."""

    async def check() -> dict[str, Any] | None:
        document = await saga_document(api, workflow_id)
        return document if document["state"] == state else None

    return await eventually(check)
