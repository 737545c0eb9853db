"""Faults the sagas must ride out without keeping anyone's money: the services down for 30 s,
a worker killed mid-payment, the Temporal server killed and restarted on its database.

Each test runs its own copy of what it kills (services, worker or server), so the other
tests' fixtures are untouched, and checks the services' own ledgers, not the sagas' account
of themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from activities.client import ServiceClient, http_client
from models.status import SagaState, SagaStatus
from plumbing.connection import TemporalSettings, connect
from plumbing.ports import free_port
from plumbing.processes import DevServer, Services
from sagas.catalogue import catalogue
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from sagas.worker import activities_for, make_worker, service_client
from tests.integration.helpers import ROOT, charges_for, refunds_of, worker_process

Handle = WorkflowHandle[Any, Any]
ORDER = json.loads((ROOT / "examples" / "order_sample.json").read_text())
REGISTRATION = json.loads((ROOT / "examples" / "registration_sample.json").read_text())
OUTAGE_SECONDS = 30.0
SETTLE_SECONDS = 240.0
"""How long a saga may take to finish once the fault is over (retries back off to 60 s)."""


def _order(tag: str) -> dict[str, Any]:
    """The sample order with its own customer email (so its confirmation can be counted)."""
    customer = {**ORDER["customer_info"], "email": f"{tag}@example.com"}
    return {**ORDER, "customer_info": customer, "correlation_id": tag}


def _registration(email: str) -> dict[str, Any]:
    return {**REGISTRATION, "user_info": {**REGISTRATION["user_info"], "email": email}}


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds (a condition, not a sleep, is what the test waits for)."""
    deadline = time.monotonic() + 60
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _worker_for(client: Client, services: Services) -> AsyncIterator[str]:
    """An in-process worker whose steps call ``services``; yields its task queue."""
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    async with http_client() as http:
        shared = service_client(http)
        origin = httpx.URL(services.url)
        urls = {
            step: str(httpx.URL(url).copy_with(host=origin.host, port=origin.port))
            for step, url in shared.urls.items()
        }
        async with make_worker(client, queue, activities_for(ServiceClient(http, urls))):
            yield queue


async def _start(client: Client, queue: str, saga: str, data: dict[str, Any]) -> Handle:
    submission = await start_saga(client, prepare(catalogue()[saga], data), queue)
    handle, started = submission.handle, submission.started
    assert started
    return handle


async def _settled(handle: Handle) -> SagaStatus:
    return await asyncio.wait_for(final_status(handle), SETTLE_SECONDS)


async def _assert_paid_once(http: httpx.AsyncClient, status: SagaStatus, email: str) -> None:
    """A complete order: one charge of its total, no refund, one confirmed order row, one
    confirmation email."""
    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    charges = await charges_for(http, status.workflow_id)
    assert [c["amount"] for c in charges] == [status.result["total"]]
    assert await refunds_of(http, charges[0]) == []
    orders = (await http.get("/orders", params={"workflow_id": status.workflow_id})).json()
    assert [o["status"] for o in orders["orders"]] == ["confirmed"]
    assert len((await http.get("/emails", params={"to": email})).json()["emails"]) == 1


async def test_services_down_for_30_seconds_delay_sagas_and_fail_none(
    dev_client: Client, tmp_path: Path
) -> None:
    """Before the infrastructure strategy, an outage of 25 s failed every order in flight."""
    services = Services(tmp_path / "services", port=free_port()).start()
    tag = uuid.uuid4().hex[:8]
    try:
        async with (
            _worker_for(dev_client, services) as queue,
            httpx.AsyncClient(base_url=services.url) as http,
        ):
            orders = {f"out-{tag}-{n}@example.com": await _start(
                dev_client, queue, "order", _order(f"out-{tag}-{n}")
            ) for n in range(6)}  # fmt: skip
            users = {f"out-{tag}-u{n}@example.com": await _start(
                dev_client, queue, "register", _registration(f"out-{tag}-u{n}@example.com")
            ) for n in range(3)}  # fmt: skip

            async def first_paid() -> bool:
                return bool(await charges_for(http, next(iter(orders.values())).id))

            await _until(first_paid, "the first payment")
            assert services.child is not None
            services.child.kill()
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself, not a synchronisation
            services.start()

            for email, handle in orders.items():
                await _assert_paid_once(http, await _settled(handle), email)
            for email, handle in users.items():
                status = await _settled(handle)
                assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
                found = (await http.get("/users", params={"email": email})).json()
                assert found["id"] == status.result["user_id"]
    finally:
        services.stop()


async def test_worker_killed_mid_payment_charges_once(
    dev_server: DevServer, dev_client: Client, services: Services, tmp_path: Path
) -> None:
    """The charge commits, its reply is held back, and the worker dies waiting for it: the
    heartbeat timeout hands the step to another worker, whose retry replays the charge."""
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    email = f"{queue}@example.com"
    # The reply stays in flight: the worker waits for it (its HTTP timeout outlasts the hold).
    slow = {"SAGA_HTTP_TIMEOUT": "25"}
    fault = {"operation": "payments.charge", "count": 1, "mode": "commit_then_timeout",
             "delay_seconds": 20}  # fmt: skip
    async with httpx.AsyncClient(base_url=services.url) as http:
        assert (await http.post("/_faults", json=fault)).status_code == 201
        with worker_process(dev_server, queue, log=tmp_path / "first.log", env=slow) as first:
            handle = await _start(dev_client, queue, "order", _order(queue))

            async def charged() -> bool:
                return bool(await charges_for(http, handle.id))

            await _until(charged, "the charge")
            first.kill()
            first.wait()
        with worker_process(dev_server, queue, log=tmp_path / "second.log", env=slow):
            status = await _settled(handle)
        await _assert_paid_once(http, status, email)
    assert status.steps["process_payment"].attempts == 2


async def test_server_killed_and_restarted_loses_no_saga(
    services: Services, tmp_path: Path
) -> None:
    """kill -9 of the Temporal server mid-batch, then a restart on the same database: every
    saga completes, each order charged once."""
    server = DevServer(tmp_path / "temporal", port=free_port(), ui=False).start()
    try:
        client = await connect(TemporalSettings(address=server.address))
        tag = uuid.uuid4().hex[:8]
        async with (
            _worker_for(client, services) as queue,
            httpx.AsyncClient(base_url=services.url) as http,
        ):
            orders = {f"srv-{tag}-{n}@example.com": await _start(
                client, queue, "order", _order(f"srv-{tag}-{n}")
            ) for n in range(8)}  # fmt: skip

            async def first_paid() -> bool:
                return bool(await charges_for(http, next(iter(orders.values())).id))

            await _until(first_paid, "the first payment")
            assert server.child is not None
            server.child.kill()
            server.start()
            for email, handle in orders.items():
                await _assert_paid_once(http, await _settled(handle), email)
    finally:
        server.stop()
