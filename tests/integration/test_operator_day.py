"""Issue 15, items 4 to 9, on the dev server with the real worker and services: the list
newest first by start time, a page at a time, filtered by customer and time; a status that
says what an operator needs and who answered; the API's refusals naming what they refuse;
a saga's failure without a Python stack trace where the UI shows it."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from frontends.api import SagaApi
from plumbing.connection import TemporalSettings
from plumbing.converter import data_converter
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import STUCK_FAULT, eventually, in_state, run_starter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
DECLINED = json.loads((ROOT / "examples" / "order_declined.json").read_text())


def order_of(customer: int) -> dict[str, Any]:
    """The sample order from ``customer``, under a correlation id of its own."""
    return {
        **SAMPLE,
        "customer_info": {**SAMPLE["customer_info"], "id": customer},
        "correlation_id": f"day-{uuid.uuid4().hex[:10]}",
    }


async def test_the_list_is_newest_first_a_page_at_a_time_by_customer(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
    api: httpx.AsyncClient,
) -> None:
    customer = random.randrange(10**6, 10**9)
    # The oldest is still running (awaiting an operator): a store that lists running
    # workflows first would put it on top.
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    stuck = await start_saga(dev_client, prepare(saga("order"), order_of(customer)), dev_worker)
    await in_state(api, stuck.workflow_id, "awaiting_intervention")
    started = [stuck.workflow_id]
    for _ in range(4):
        done = await start_saga(dev_client, prepare(saga("order"), order_of(customer)), dev_worker)
        await final_status(done.handle)
        started.append(done.workflow_id)
    newest_first = started[::-1]

    async def all_listed() -> list[str] | None:
        page = await api.get("/sagas", params={"customer": str(customer), "limit": "10"})
        ids = [row["workflow_id"] for row in page.json()["sagas"]]
        return ids if len(ids) == len(started) else None

    assert await eventually(all_listed) == newest_first

    pages: list[list[str]] = []
    token: str | None = None
    while True:
        args = ["list", "--customer", str(customer), "--limit", "2", "--json"]
        shown = await run_starter(
            dev_server, dev_worker, *args, *(["--next", token] if token else [])
        )
        assert shown.returncode == 0, shown.stderr
        page = json.loads(shown.stdout)
        pages.append([row["workflow_id"] for row in page["sagas"]])
        token = page["next"]
        if token is None:
            break
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]

    text = await run_starter(
        dev_server, dev_worker, "list", "--customer", str(customer), "--limit", "2"
    )
    assert text.stdout.splitlines()[-1].startswith("more: add --next ")
    later = await api.get("/sagas", params={"customer": str(customer), "since": "2999-01-01"})
    assert later.json() == {"sagas": [], "next": None}
    recent = await api.get("/sagas", params={"customer": str(customer), "since": "1h"})
    assert len(recent.json()["sagas"]) == len(started)
    other = await api.get("/sagas", params={"customer": str(customer + 1)})
    assert other.json()["sagas"] == []


async def test_the_api_refuses_what_it_does_not_know_by_name(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/sagas", params={"customr": "42"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"path": "query.customr", "message": "unknown: not one of the accepted names"}
    ]
    cursor = await api.get("/sagas", params={"next": "nonsense"})
    assert cursor.status_code == 422
    assert cursor.json()["errors"][0]["path"] == "query.next"


async def test_status_says_what_an_operator_needs_and_who_answered(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    settings = TemporalSettings(address=dev_server.address, task_queue=dev_worker)
    transport = httpx.ASGITransport(app=SagaApi(settings, token="alice=s3cret").app())
    headers = {"Authorization": "Bearer s3cret"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api.test", headers=headers
    ) as api:
        started = await api.post("/orders", json=order_of(7))
        workflow_id = started.json()["workflow_id"]
        await in_state(api, workflow_id, "awaiting_intervention")

        shown = await run_starter(dev_server, dev_worker, "status", workflow_id)
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout
        assert "  started 20" in text
        assert "Z" in text.splitlines()[2]
        assert "  awaiting an operator on update_inventory:" in text
        assert "then compensate automatically" in text
        assert f"run: python starter.py intervene {workflow_id} retry|resolve|compensate" in text
        assert f"or:  POST /sagas/{workflow_id}/retry|resolve|compensate" in text
        document = json.loads(
            (await run_starter(dev_server, dev_worker, "status", workflow_id, "--json")).stdout
        )
        assert document["intervention"]["on_timeout"] == "compensate"
        assert document["steps"]["update_inventory"]["attempt_limit"] == 2
        assert document["started_at"].endswith("Z")

        misspelt = await api.post(f"/sagas/{workflow_id}/retry", json={"reasn": "x"})
        assert misspelt.status_code == 422
        assert misspelt.json()["errors"] == [
            {"path": "$.reasn", "message": "unknown: not one of the accepted names"}
        ]
        shapeless = await api.post(f"/sagas/{workflow_id}/resolve", json={"result": {"a": 1}})
        assert shapeless.status_code == 422
        paths = {problem["path"] for problem in shapeless.json()["errors"]}
        assert "$.result.updated_products" in paths

        answered = await api.post(
            f"/sagas/{workflow_id}/retry",
            json={"reason": "stock arrived"},
            headers={"X-Operator": "mallory"},  # the named token answers for its holder
        )
        assert answered.status_code == 200, answered.text
        decision = answered.json()["intervention"]["decision"]
        assert (decision["operator"], decision["reason"]) == ("alice", "stock arrived")
        step = answered.json()["steps"]["update_inventory"]
        assert (step["state"], step["round"], step["error"]) == ("in_progress", 2, None)
        assert step["earlier_error"]["type"] == "SERVICE_ERROR"

    status = await final_status(dev_client.get_workflow_handle(workflow_id))
    assert status.duration_seconds is not None
    assert status.ended_at is not None
    done = await run_starter(dev_server, dev_worker, "status", workflow_id, "--local-time")
    assert 'update_inventory: alice answered retry ("stock arrived") at ' in done.stdout
    assert "Z" not in done.stdout.split("started ", 1)[1].splitlines()[0]


async def test_a_failed_saga_shows_its_message_without_a_stack_trace(
    dev_client: Client, dev_worker: str
) -> None:
    declined = {**DECLINED, "correlation_id": f"trace-{uuid.uuid4().hex[:8]}"}
    submission = await start_saga(dev_client, prepare(saga("order"), declined), dev_worker)
    assert (await final_status(submission.handle)).state.value == "error"
    history = await submission.handle.fetch_history()
    [failed] = [
        e for e in history.events if e.HasField("workflow_execution_failed_event_attributes")
    ]
    failure = failed.workflow_execution_failed_event_attributes.failure
    converter = data_converter()
    assert converter.payload_codec is not None
    await converter.payload_codec.decode_failure(failure)
    [shown] = converter.payload_converter.from_payloads([failure.encoded_attributes])
    assert shown["message"].startswith("saga error at process_payment (PAYMENT_DECLINED:")
    assert shown["stack_trace"] == ""
    details = converter.payload_converter.from_payloads(
        failure.application_failure_info.details.payloads
    )
    assert details[0]["state"] == "error"  # the status document, first, as readers expect
    assert "workflows/saga.py" in details[-1]["stack_trace"]  # the trace, kept last
