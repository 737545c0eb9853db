"""Issue 16, item 3: a real ``worker.py --health-port`` on a dev server of its own: ready
while it polls, 503 with the reason once the server is stopped, ready again once the server
is back on the same database and port; live throughout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from plumbing.connection import TemporalSettings, connect
from plumbing.health import not_ready_because
from plumbing.ports import free_port
from plumbing.processes import DevServer
from tests.integration.helpers import worker_process

WITHIN = 90.0
"""Seconds for a worker to poll again after the server comes back (its backoff grows)."""


async def _until(http: httpx.AsyncClient, url: str, status: int) -> dict[str, Any]:
    """The endpoint's answer once it answers ``status``, polled for at most WITHIN s."""
    deadline = time.monotonic() + WITHIN
    while True:
        try:
            response = await http.get(url, timeout=5)
            if response.status_code == status:
                answer: dict[str, Any] = response.json()
                return answer
        except httpx.TransportError:
            pass  # not listening yet
        assert time.monotonic() < deadline, f"{url} never answered {status}"
        await asyncio.sleep(0.5)


async def test_ready_follows_the_server_and_the_polling(tmp_path: Path) -> None:
    port = free_port()
    server = DevServer(tmp_path / "temporal", port=port, ui=False).start()
    health = free_port()
    base = f"http://127.0.0.1:{health}"
    try:
        with worker_process(
            server, "health-q", "--health-port", str(health), log=tmp_path / "worker.log"
        ):
            async with httpx.AsyncClient() as http:
                ready = await _until(http, f"{base}/health/ready", 200)
                assert ready["task_queue"] == "health-q"
                assert "@" in ready["identity"]  # pid@host, as the worker polls

                server.stop()
                down = await _until(http, f"{base}/health/ready", 503)
                assert down["status"] == "unavailable"
                assert f"Temporal at 127.0.0.1:{port}" in down["reason"]
                assert (await http.get(f"{base}/health/live")).status_code == 200

                server = DevServer(tmp_path / "temporal", port=port, ui=False).start()
                back = await _until(http, f"{base}/health/ready", 200)
                assert back["identity"] == ready["identity"]
    finally:
        server.stop()


async def test_a_worker_not_polling_that_queue_is_not_ready(dev_server: DevServer) -> None:
    client = await connect(TemporalSettings(address=dev_server.address))
    reason = await not_ready_because(client, "nobody-polls-this", client.identity)
    assert reason == f"{client.identity} is not polling the workflow task queue 'nobody-polls-this'"
