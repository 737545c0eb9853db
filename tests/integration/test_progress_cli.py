"""Live progress from the real CLI against the dev server: ``--wait`` and ``status --watch``
print each step, each failed attempt with its error and the next retry's time, and the
operator awaited with the command to run; ``status`` shows the attempt under way."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client

from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import query_status, start_saga
from sagas.prepare import prepare
from sagas.progress import pending_attempts
from tests.integration.helpers import ROOT, run_starter

SAMPLE_FILE = ROOT / "examples" / "order_sample.json"
SAMPLE = json.loads(SAMPLE_FILE.read_text())


async def _rate_limit_next_charge(http: httpx.AsyncClient, seconds: int) -> None:
    fault = {"operation": "payments.charge", "count": 1, "mode": "rate_limit",
             "retry_after": seconds}  # fmt: skip
    assert (await http.post("/_faults", json=fault)).status_code == 201


def _order_file(tmp_path: Path) -> Path:
    """The sample order with a correlation id of its own (a request of its own)."""
    path = tmp_path / "order.json"
    path.write_text(json.dumps({**SAMPLE, "correlation_id": f"prog-{uuid.uuid4().hex[:8]}"}))
    return path


def _in_order(text: str, *needles: str) -> None:
    """Each needle appears in ``text``, after the one before it."""
    at = 0
    for needle in needles:
        found = text.find(needle, at)
        assert found >= 0, f"{needle!r} missing (after position {at}) from:\n{text}"
        at = found + len(needle)


async def test_wait_prints_each_step_and_the_retry_with_its_next_attempt(
    dev_server: DevServer, dev_worker: str, services_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await _rate_limit_next_charge(services_http, 3)
    workflow_id = f"prog-wait-{uuid.uuid4().hex[:8]}"
    done = await run_starter(
        dev_server, dev_worker, "order", str(_order_file(tmp_path)), "--id", workflow_id, "--wait"
    )
    assert done.returncode == 0, done.stderr
    _in_order(
        done.stdout,
        f"started {workflow_id}",
        "✓ validate_cart complete (1 attempt)",
        "  process_payment: attempt 1 failed: RATE_LIMITED: POST /payments/charges → 429",
        "; attempt 2 of 3 at ",
        "✓ process_payment complete (2 attempts)",
        "✓ send_confirmation complete (1 attempt)",
        "■ saga complete",
        f"{workflow_id}  [process_order]  state: complete",
    )
    assert "\x1b[" not in done.stdout, "not a terminal: plain lines only"


async def test_status_shows_the_pending_retry_and_watch_follows_it_to_the_end(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
) -> None:
    await _rate_limit_next_charge(services_http, 10)
    workflow_id = f"prog-status-{uuid.uuid4().hex[:8]}"
    prepared = prepare(saga("order"), SAMPLE, workflow_id=workflow_id)
    handle = (await start_saga(dev_client, prepared, dev_worker)).handle
    deadline = time.monotonic() + 30
    while (pending := await pending_attempts(handle)).get("process_payment") is None or (
        pending["process_payment"].attempt < 2
    ):
        assert time.monotonic() < deadline, f"no retry pending: {pending}"
        await asyncio.sleep(0.1)

    shown = await run_starter(dev_server, dev_worker, "status", workflow_id)
    watched = await run_starter(dev_server, dev_worker, "status", workflow_id, "--watch")

    assert shown.returncode == 0, shown.stderr
    assert "process_payment         in_progress" in shown.stdout
    assert (
        "  now: process_payment: attempt 1 failed: RATE_LIMITED: POST /payments/charges → 429"
    ) in shown.stdout
    assert "; attempt 2 of 3 at " in shown.stdout
    assert watched.returncode == 0, watched.stderr
    _in_order(
        watched.stdout,
        "✓ validate_cart complete (1 attempt)",
        "  process_payment: attempt 1 failed: RATE_LIMITED",
        "✓ process_payment complete (2 attempts)",
        "■ saga complete",
        f"{workflow_id}  [process_order]  state: complete",
    )


async def _line_with(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> None:
    """Read lines (kept in ``seen``) until one holds ``needle``; bounded by the caller."""
    while needle not in (line := (await stream.readline()).decode()):
        assert line, f"output ended before {needle!r}:\n{''.join(seen)}"
        seen.append(line)
    seen.append(line)


async def test_wait_says_what_an_operator_must_do_and_follows_their_answer(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    fault = {"operation": "inventory.reserve", "count": 2, "mode": "status", "status": 500}
    assert (await services_http.post("/_faults", json=fault)).status_code == 201
    workflow_id = f"prog-stuck-{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "--address", dev_server.address, "--task-queue",
        dev_worker, "order", str(_order_file(tmp_path)), "--id", workflow_id, "--wait",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    seen: list[str] = []
    command = f"  run: python starter.py intervene {workflow_id} retry|resolve|compensate"
    await asyncio.wait_for(_line_with(process.stdout, command, seen), timeout=60)
    handle = dev_client.get_workflow_handle(workflow_id)
    assert (await query_status(handle)).state is SagaState.AWAITING_INTERVENTION
    await handle.execute_update(
        "intervene", InterventionRequest(action=InterventionAction.RETRY), result_type=SagaStatus
    )
    rest, errors = await asyncio.wait_for(process.communicate(), timeout=60)
    output = "".join(seen) + rest.decode()

    assert process.returncode == 0, errors.decode()
    _in_order(
        output,
        "✗ update_inventory failed after 2 attempts: SERVICE_ERROR",
        "⏸ update_inventory awaits an operator: SERVICE_ERROR",
        "  allowed: retry, resolve, compensate; until ",
        command,
        "▶ operator answered retry",
        "✓ update_inventory complete (3 attempts in 2 rounds)",
        "■ saga complete",
    )
    summary = await (await handle.describe()).static_summary()
    assert summary == "Order: 3 items in 2 lines, 124.76 USD"
