"""Running the real ``starter.py`` from integration tests."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from runtime.processes import DevServer

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
