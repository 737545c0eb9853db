"""Issue 15, item 3: Ctrl-C while ``--wait`` follows a saga exits 130 with one line saying
it keeps running and how to follow it; a reader that goes away (``| head -1``) ends
``status --watch`` quietly, exit 141. Both on the dev server with a saga awaiting an
operator, so it is still running when the command is interrupted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowExecutionStatus

from frontends.help import EXIT_CLOSED, EXIT_INTERRUPTED
from models.status import SagaState
from plumbing.processes import DevServer
from sagas.lifecycle import final_status
from tests.integration.helpers import STUCK_FAULT, in_state, run_starter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())


def starter_argv(dev_server: DevServer, queue: str, *args: str) -> list[str]:
    return [
        sys.executable, "starter.py", "--address", dev_server.address, "--task-queue", queue,
        *args,
    ]  # fmt: skip


async def test_ctrl_c_in_wait_leaves_the_saga_running_and_exits_130(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
    api: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    request = tmp_path / "order.json"
    request.write_text(json.dumps({**SAMPLE, "correlation_id": f"int-{uuid.uuid4().hex[:8]}"}))
    process = await asyncio.create_subprocess_exec(
        *starter_argv(dev_server, dev_worker, "order", str(request), "--wait"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
    assert first.startswith("started order-"), first
    workflow_id = first.split()[1]
    await in_state(api, workflow_id, "awaiting_intervention")

    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == EXIT_INTERRUPTED
    assert stderr.decode().splitlines() == [
        f"interrupted: {workflow_id} keeps running; follow it with:"
        f" python starter.py status {workflow_id} --watch"
    ]
    description = await dev_client.get_workflow_handle(workflow_id).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    answered = await run_starter(dev_server, dev_worker, "intervene", workflow_id, "retry")
    assert answered.returncode == 0, answered.stderr
    status = await final_status(dev_client.get_workflow_handle(workflow_id))
    assert status.state is SagaState.COMPLETE


async def test_a_closed_pipe_ends_watch_quietly(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
    api: httpx.AsyncClient,
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    started = await api.post("/orders", json={**SAMPLE, "correlation_id": f"pipe-{uuid.uuid4()}"})
    workflow_id = started.json()["workflow_id"]
    await in_state(api, workflow_id, "awaiting_intervention")

    read_end, write_end = os.pipe()
    process = await asyncio.create_subprocess_exec(
        *starter_argv(dev_server, dev_worker, "status", workflow_id, "--watch"),
        cwd=ROOT, stdout=write_end, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:  # like `| head -1`: one line, then gone
        first = await asyncio.to_thread(reader.readline)
    assert first.startswith("✓ validate_cart complete".encode()), first

    # The saga moves on, so the command writes again, to nobody.
    answered = await run_starter(dev_server, dev_worker, "intervene", workflow_id, "retry")
    assert answered.returncode == 0, answered.stderr
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == EXIT_CLOSED
    assert stderr.decode() == ""
    status = await final_status(dev_client.get_workflow_handle(workflow_id))
    assert status.state is SagaState.COMPLETE
