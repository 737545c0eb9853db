"""What integration tests share: running a saga to its end, and running the real CLI."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from models.status import SagaStatus
from runtime.processes import DevServer
from runtime.sagas import SAGAS, prepare
from runtime.temporal import final_status, start_saga

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
    prepared = prepare(SAGAS[saga], data, workflow_id=workflow_id)
    handle, started = await start_saga(client, prepared, queue)
    assert started
    return await final_status(handle)
