"""Issue 10, items 1, 3 and 5, on the dev server with the real worker and services: find a
stuck order (``starter.py list``, ``GET /sagas``), see why, fix it and watch it finish; the
HTTP API end to end (in-process, and ``starter.py api`` as its own process)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from plumbing.ports import free_port
from plumbing.processes import ApiServer, DevServer
from sagas.catalogue import saga
from sagas.lifecycle import start_saga
from sagas.prepare import prepare
from tests.integration.helpers import (
    STUCK_FAULT,
    eventually,
    in_state,
    run_saga,
    run_starter,
    saga_document,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
REGISTRATION = json.loads((ROOT / "examples" / "registration_sample.json").read_text())


def unique_order() -> dict[str, Any]:
    """The sample order under a correlation id of its own, hence a workflow id of its own."""
    return {**SAMPLE, "correlation_id": f"ops-{uuid.uuid4().hex[:12]}"}


async def _listed(api: httpx.AsyncClient, workflow_id: str, **params: str) -> dict[str, Any] | None:
    response = await api.get("/sagas", params=params)
    assert response.status_code == 200, response.text
    return next((s for s in response.json()["sagas"] if s["workflow_id"] == workflow_id), None)


async def test_api_an_operator_finds_a_stuck_order_retries_it_and_watches_it_finish(
    api: httpx.AsyncClient, services_http: httpx.AsyncClient
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    order = unique_order()

    first = await api.post("/orders", json=order)
    second = await api.post("/orders", json=order)

    assert (first.status_code, second.status_code) == (202, 202), first.text
    submitted, again = first.json(), second.json()
    workflow_id = submitted["workflow_id"]
    assert workflow_id == prepare(saga("order"), order).workflow_id
    assert (submitted["already_submitted"], again["already_submitted"]) == (False, True)
    assert again["workflow_id"] == workflow_id
    assert submitted["status_url"] == f"http://api.test/sagas/{workflow_id}"
    assert first.headers["location"] == submitted["status_url"]

    row = await eventually(lambda: _listed(api, workflow_id, state="awaiting_intervention"))
    assert (row["saga"], row["current_step"]) == ("order", "update_inventory")
    assert row["correlation_id"] == order["correlation_id"]
    assert row["started_at"]
    assert (
        await _listed(api, workflow_id, state="awaiting_intervention", saga="registration") is None
    )
    assert await _listed(api, workflow_id, state="complete") is None

    stuck = await saga_document(api, workflow_id)
    why = stuck["steps"]["update_inventory"]["error"]
    assert why["type"] == "SERVICE_ERROR"
    assert stuck["intervention"]["step"] == "update_inventory"
    assert stuck["intervention"]["allowed"] == ["retry", "resolve", "compensate"]

    resolve = await api.post(f"/sagas/{workflow_id}/resolve")
    assert resolve.status_code == 422
    assert "needs a result (InventoryResult)" in resolve.json()["error"]
    fail = await api.post(f"/sagas/{workflow_id}/fail", json={"reason": "give up"})
    assert fail.status_code == 409
    retry = await api.post(f"/sagas/{workflow_id}/retry", json={"reason": "service is back"})
    assert retry.status_code == 200, retry.text
    assert retry.json()["state"] != "awaiting_intervention"

    done = await in_state(api, workflow_id, "complete")
    inventory = done["steps"]["update_inventory"]
    assert (inventory["state"], inventory["attempts"]) == ("complete", 3)
    assert inventory["error"] is None
    assert inventory["earlier_error"] == why
    assert done["intervention"]["decision"]["operator"] == "api"
    assert done["result"]["confirmation"] == "sent"
    finished = await eventually(lambda: _listed(api, workflow_id, state="complete", saga="order"))
    assert finished["current_step"] is None
    late = await api.post(f"/sagas/{workflow_id}/retry")
    assert late.status_code == 409
    assert "the saga has ended (complete)" in late.json()["error"]


async def test_api_cancel_unknown_ids_and_readiness(
    api: httpx.AsyncClient, services_http: httpx.AsyncClient
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    started = await api.post("/orders", json=unique_order())
    workflow_id = started.json()["workflow_id"]
    await in_state(api, workflow_id, "awaiting_intervention")

    cancelled = await api.post(f"/sagas/{workflow_id}/cancel")

    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json() == {
        "workflow_id": workflow_id,
        "status_url": started.json()["status_url"],
    }
    document = await in_state(api, workflow_id, "cancelled")
    assert [c["activity"] for c in document["compensations"]] == [
        "release_inventory", "refund_payment",
    ]  # fmt: skip
    assert (await api.post(f"/sagas/{workflow_id}/cancel")).status_code == 409
    for method, path in [
        ("GET", "/sagas/order-unknown"),
        ("POST", "/sagas/order-unknown/retry"),
        ("POST", "/sagas/order-unknown/cancel"),
        ("GET", "/sagas/" + "x" * 300),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 404, (path, response.text)
    ready = await api.get("/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "ok")


async def test_the_api_command_serves_on_its_own(
    dev_server: DevServer, dev_worker: str, tmp_path: Path
) -> None:
    server = ApiServer(tmp_path, dev_server.address, task_queue=dev_worker, port=free_port())
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            ready = await http.get("/health/ready")
            document = await http.get("/openapi.json")
            invalid = await http.post("/registrations", json={"user_info": {}})
    finally:
        server.stop()
    assert ready.json() == {"status": "ok", "temporal": dev_server.address}
    assert "/sagas/{workflow_id}/resolve" in document.json()["paths"]
    assert invalid.status_code == 422
    assert "$.user_info.email" in {error["path"] for error in invalid.json()["errors"]}


async def _list(dev_server: DevServer, queue: str, *args: str) -> list[dict[str, Any]]:
    listed = await run_starter(dev_server, queue, "list", *args, "--json")
    assert listed.returncode == 0, listed.stderr
    sagas: list[dict[str, Any]] = json.loads(listed.stdout)["sagas"]
    return sagas


async def test_cli_list_filters_by_state_and_saga(
    dev_client: Client, dev_server: DevServer, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    registration_id = f"it-list-reg-{uuid.uuid4().hex[:8]}"
    user = {**REGISTRATION["user_info"], "email": f"{registration_id}@example.com"}
    registration = {**REGISTRATION, "user_info": user}  # a user no other test registers
    await run_saga(dev_client, dev_worker, "register", registration, registration_id)
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    order = unique_order()
    prepared = prepare(saga("order"), order)
    await start_saga(dev_client, prepared, dev_worker)
    stuck_id = prepared.workflow_id

    async def stuck_listed() -> list[dict[str, Any]] | None:
        rows = await _list(dev_server, dev_worker, "--state", "awaiting_intervention")
        return rows if any(row["workflow_id"] == stuck_id for row in rows) else None

    stuck_rows = await eventually(stuck_listed)
    assert {row["state"] for row in stuck_rows} == {"awaiting_intervention"}
    [row] = [row for row in stuck_rows if row["workflow_id"] == stuck_id]
    assert (row["saga"], row["current_step"]) == ("order", "update_inventory")
    assert row["correlation_id"] == order["correlation_id"]
    registrations = await _list(dev_server, dev_worker, "--saga", "registration", "--limit", "5")
    assert registration_id in {row["workflow_id"] for row in registrations}
    assert {row["saga"] for row in registrations} == {"registration"}
    assert len(registrations) <= 5
    orders = await _list(dev_server, dev_worker, "--saga", "order")
    assert stuck_id in {row["workflow_id"] for row in orders}
    assert registration_id not in {row["workflow_id"] for row in orders}

    table = await run_starter(dev_server, dev_worker, "list", "--state", "awaiting_intervention")
    assert table.returncode == 0, table.stderr
    [line] = [line for line in table.stdout.splitlines() if line.startswith(stuck_id)]
    assert line.split()[1:5] == ["order", "awaiting_intervention", "update_inventory",
                                 order["correlation_id"]]  # fmt: skip

    unresolved = await run_starter(dev_server, dev_worker, "intervene", stuck_id, "resolve")
    assert unresolved.returncode == 2
    assert "needs a result (InventoryResult)" in unresolved.stderr
    answered = await run_starter(dev_server, dev_worker, "intervene", stuck_id, "compensate")
    assert answered.returncode == 0, answered.stderr
