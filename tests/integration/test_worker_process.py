"""``worker.py`` as its users run it: its own process(es), settings from flags, and the
SDK's Prometheus metrics on the configured port."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client

from models.status import SagaState
from plumbing.connection import pollers
from plumbing.ports import free_port
from plumbing.processes import DevServer
from tests.integration.helpers import ROOT, run_saga, worker_process

SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
OVERLOAD_SIGNALS = (
    "temporal_activity_schedule_to_start_latency",
    "temporal_workflow_task_schedule_to_start_latency",
    "temporal_worker_task_slots_available",
    "temporal_worker_task_slots_used",
)


def _scrape(port: int) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


async def _pollers(client: Client, queue: str, expected: int) -> set[str]:
    """The identities polling ``queue`` for workflow tasks, once ``expected`` of them do
    (or whatever polls after 60 s): a process polls a moment after its metrics are up."""
    deadline = time.monotonic() + 60
    while True:
        identities = await pollers(client, queue)
        if len(identities) >= expected or time.monotonic() > deadline:
            return identities
        await asyncio.sleep(0.2)


def _wait_for_metrics(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while _scrape(port) is None:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no metrics on {port}: {log.read_text()}"
        time.sleep(0.1)


async def test_worker_serves_prometheus_metrics_after_a_saga(
    dev_server: DevServer, dev_client: Client, services: object, tmp_path: Path
) -> None:
    queue = f"wp-{uuid.uuid4().hex[:8]}"
    port = free_port()
    log = tmp_path / "worker.log"
    with worker_process(dev_server, queue, "--metrics-port", str(port), log=log) as process:
        _wait_for_metrics(port, process, log)
        status = await run_saga(dev_client, queue, "order", SAMPLE, f"wp-order-{queue}")
        metrics = _scrape(port)
    assert status.state is SagaState.COMPLETE, log.read_text()
    assert metrics is not None
    for name in OVERLOAD_SIGNALS:
        assert name in metrics, f"{name} missing from /metrics"
    assert 'activity_type="process_payment"' in metrics
    assert 'workflow_type="OrderProcessingWorkflow"' in metrics


async def test_processes_flag_starts_that_many_workers_with_their_own_metrics(
    dev_server: DevServer, dev_client: Client, services: object, tmp_path: Path
) -> None:
    queue = f"wp-{uuid.uuid4().hex[:8]}"
    port = free_port()
    while _scrape(port + 1) is not None:
        port = free_port()
    log = tmp_path / "workers.log"
    flags = ("--processes", "2", "--metrics-port", str(port), "--runner", "unsandboxed")
    with worker_process(dev_server, queue, *flags, log=log) as process:
        _wait_for_metrics(port, process, log)
        _wait_for_metrics(port + 1, process, log)
        identities = await _pollers(dev_client, queue, expected=2)
        status = await run_saga(dev_client, queue, "order", SAMPLE, f"wp-order-{queue}")
        assert status.state is SagaState.COMPLETE, log.read_text()
    assert len(identities) == 2, identities
    assert process.returncode == 0, log.read_text()
