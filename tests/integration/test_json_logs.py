"""``SAGA_LOG_FORMAT=json`` is JSON on every line of ``worker.py``'s output: our events, the
SDK's (a failed workflow task's traceback included) and the SDK core's warnings (forwarded
to Python logging, not printed by the core), with durations in seconds."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.status import SagaState
from plumbing.connection import pollers
from plumbing.processes import DevServer
from tests.integration.helpers import ROOT, run_saga, worker_process

SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
DECLINED = json.loads((ROOT / "examples" / "order_declined.json").read_text())


def _records(log: Path) -> list[dict[str, Any]]:
    """Every line of the log as JSON (fails on the first line that is not)."""
    records = []
    for number, line in enumerate(log.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"line {number} is not JSON: {line!r}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


async def _logged(log: Path, predicate: Any, what: str) -> None:
    """Poll the log (bounded) until a record fits ``predicate``."""
    deadline = time.monotonic() + 60
    while not any(predicate(record) for record in _records(log)):
        assert time.monotonic() < deadline, f"no {what} in {log}"
        await asyncio.sleep(0.2)


async def test_every_line_is_json_with_sdk_tracebacks_core_warnings_and_seconds(
    dev_server: DevServer,
    dev_client: Client,
    services: object,
    services_http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    queue = f"json-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    with worker_process(dev_server, queue, log=log, env={"SAGA_LOG_FORMAT": "json"}):
        deadline = time.monotonic() + 60
        while not await pollers(dev_client, queue):
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        fault = {"operation": "payments.charge", "count": 1, "mode": "rate_limit",
                 "retry_after": 1}  # fmt: skip
        assert (await services_http.post("/_faults", json=fault)).status_code == 201
        retried = await run_saga(dev_client, queue, "order", SAMPLE, f"json-retried-{queue}")
        declined = await run_saga(dev_client, queue, "order", DECLINED, f"json-declined-{queue}")
        # A workflow task that fails (an argument the workflow cannot read): the SDK logs
        # its traceback, the core warns that it fails the task.
        broken = await dev_client.start_workflow(
            "OrderProcessingWorkflow", {"order": "not an order"}, id=f"json-broken-{queue}",
            task_queue=queue,
        )  # fmt: skip
        await _logged(log, lambda r: "Traceback" in r.get("exception", ""), "SDK traceback")
        await _logged(log, lambda r: r.get("logger") == "temporalio.core", "core warning")
        await broken.terminate()

    records = _records(log)
    text = log.read_text()
    assert retried.state is SagaState.COMPLETE
    assert declined.state is SagaState.ERROR
    assert "datetime.timedelta(" not in text
    assert "\x1b[" not in text, "no colour codes"
    failed = {r["error_type"]: r for r in records if r.get("event") == "step_failed"}
    assert failed["RATE_LIMITED"]["next_retry_delay"] == 1.0
    assert failed["PAYMENT_DECLINED"]["non_retryable"] is True
    sdk = [r for r in records if "Traceback" in r.get("exception", "")]
    assert sdk[0]["logger"].startswith("temporalio."), sdk[0]
    assert sdk[0]["level"] == "warning"
    core = [r for r in records if r.get("logger") == "temporalio.core"]
    assert core[0]["level"] == "warning"
    assert core[0]["target"], core[0]
