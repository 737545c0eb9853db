"""Issue 15, items 1 and 2, on the dev server with the real worker and services: a repeat
order after the dedup window is a new order; a duplicate within it reports the state of the
saga it is; an idempotency key used again with another request is refused; a saga that
ended short is rerun (a declined card fixed, a compensated order after restocking) with one
net charge, linked to the saga it reruns."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from models.status import SagaState
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import STUCK_FAULT, charges_for, in_state, refunds_of, run_starter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
DECLINED = json.loads((ROOT / "examples" / "order_declined.json").read_text())


def customer(order: dict[str, Any]) -> dict[str, Any]:
    """``order`` from a customer of its own and without a correlation id: no key, so
    identical copies are one saga only within the dedup window."""
    email = f"c-{uuid.uuid4().hex[:10]}@example.com"
    return {**order, "customer_info": {**order["customer_info"], "email": email}}


def request_file(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(data))
    return str(path)


async def test_a_repeat_order_after_the_window_is_a_new_order_with_a_new_charge(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    order = customer(SAMPLE)
    first = await start_saga(dev_client, prepare(saga("order"), order), dev_worker)
    assert first.started
    assert (await final_status(first.handle)).state is SagaState.COMPLETE

    within = await start_saga(dev_client, prepare(saga("order"), order), dev_worker)
    assert (within.started, within.workflow_id, within.state) == (
        False, first.workflow_id, "complete"
    )  # fmt: skip

    after = await start_saga(
        dev_client, prepare(saga("order"), order), dev_worker, window=timedelta(0)
    )
    assert after.started
    assert after.workflow_id == f"{first.workflow_id}-2"
    assert (await final_status(after.handle)).state is SagaState.COMPLETE
    assert len(await charges_for(services_http, first.workflow_id)) == 1
    assert len(await charges_for(services_http, after.workflow_id)) == 1

    # The window slides from each saga's start: the next duplicate is the second order.
    again = await start_saga(dev_client, prepare(saga("order"), order), dev_worker)
    assert (again.started, again.workflow_id) == (False, after.workflow_id)


async def test_identical_requests_at_once_without_a_key_are_one_saga(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    prepared = prepare(saga("order"), customer(SAMPLE))
    submissions = await asyncio.gather(
        *(start_saga(dev_client, prepared, dev_worker) for _ in range(8))
    )
    assert sum(submission.started for submission in submissions) == 1
    assert {submission.workflow_id for submission in submissions} == {prepared.workflow_id}
    await final_status(submissions[0].handle)
    assert len(await charges_for(services_http, prepared.workflow_id)) == 1


async def test_a_duplicate_of_a_declined_order_says_it_ended_error(
    dev_server: DevServer, dev_worker: str, tmp_path: Path, api: httpx.AsyncClient
) -> None:
    declined = customer(DECLINED)
    file = request_file(tmp_path, declined)
    first = await run_starter(dev_server, dev_worker, "order", file, "--wait", "--json")
    assert first.returncode == 1, first.stderr
    workflow_id = json.loads(first.stdout)["workflow_id"]

    again = await run_starter(dev_server, dev_worker, "order", file, "--wait")
    assert again.returncode == 1, again.stderr
    assert again.stdout.splitlines()[0] == (
        f"already submitted (the same request within the 24h dedup window), attached to"
        f" {workflow_id}: error"
    )
    plain = await run_starter(dev_server, dev_worker, "order", file, "--json")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == {
        "workflow_id": workflow_id, "started": False, "state": "error"
    }  # fmt: skip

    answer = await api.post("/orders", json=declined)
    assert answer.status_code == 202, answer.text
    assert answer.json()["already_submitted"] is True
    assert (answer.json()["workflow_id"], answer.json()["state"]) == (workflow_id, "error")


async def test_an_idempotency_key_used_again_with_another_request_is_refused(
    dev_server: DevServer, dev_worker: str, tmp_path: Path, api: httpx.AsyncClient
) -> None:
    key = f"checkout-{uuid.uuid4().hex[:8]}"
    order = customer(SAMPLE)
    first = await api.post("/orders", json=order, headers={"Idempotency-Key": key})
    again = await api.post("/orders", json=order, headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (202, 202), first.text
    assert again.json()["workflow_id"] == first.json()["workflow_id"]
    assert again.json()["already_submitted"] is True

    other = {**order, "priority": "express"}
    refused = await api.post("/orders", json=other, headers={"Idempotency-Key": key})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["errors"]
    assert problem["path"] == "Idempotency-Key"
    assert (
        f"was used for saga {first.json()['workflow_id']} with a different request"
        in (problem["message"])
    )

    # The same key from the CLI is the same saga; with the other request, exit 2.
    same = await run_starter(
        dev_server, dev_worker, "order", request_file(tmp_path, order), "--idempotency-key", key
    )
    assert same.returncode == 0, same.stderr
    assert f"attached to {first.json()['workflow_id']}" in same.stdout
    cli_refused = await run_starter(
        dev_server, dev_worker, "order", request_file(tmp_path, other), "--idempotency-key", key
    )
    assert cli_refused.returncode == 2
    assert "--idempotency-key: was used for saga" in cli_refused.stderr
    assert "Traceback" not in cli_refused.stderr


async def test_a_declined_order_rerun_with_a_working_card_charges_once(
    dev_client: Client,
    dev_server: DevServer,
    dev_worker: str,
    services_http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    declined = customer(DECLINED)
    first = await run_starter(
        dev_server, dev_worker, "order", request_file(tmp_path, declined), "--wait", "--json"
    )
    assert first.returncode == 1, first.stderr
    workflow_id = json.loads(first.stdout)["workflow_id"]

    # Rerun as it was: declined again. The rerun is itself rerun, with a working card.
    again = await run_starter(dev_server, dev_worker, "rerun", workflow_id, "--wait", "--json")
    assert again.returncode == 1, again.stderr
    second = f"{workflow_id}-run-2"
    assert (json.loads(again.stdout)["workflow_id"], json.loads(again.stdout)["state"]) == (
        second, "error"
    )  # fmt: skip
    fixed = {**declined, "payment_info": {**declined["payment_info"], "token": "tok_visa_4242"}}
    rerun = await run_starter(
        dev_server, dev_worker, "rerun", second, "--file", request_file(tmp_path, fixed),
        "--wait", "--json",
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    status = json.loads(rerun.stdout)
    third = f"{workflow_id}-run-3"
    assert status["workflow_id"] == third
    assert (status["state"], status["rerun_of"]) == ("complete", second)
    assert await charges_for(services_http, workflow_id) == []
    assert await charges_for(services_http, second) == []
    assert len(await charges_for(services_http, third)) == 1

    listed = await run_starter(dev_server, dev_worker, "list", "--saga", "order", "--json")
    rows = {row["workflow_id"]: row for row in json.loads(listed.stdout)["sagas"]}
    assert rows[third]["rerun_of"] == second
    assert rows[second]["rerun_of"] == workflow_id
    assert rows[workflow_id]["rerun_of"] is None

    # An earlier run is rerun already; the latest completed: none is rerun again.
    twice = await run_starter(dev_server, dev_worker, "rerun", workflow_id)
    assert twice.returncode == 2
    assert f"already rerun as {third}" in twice.stderr
    complete = await run_starter(dev_server, dev_worker, "rerun", third)
    assert complete.returncode == 2
    assert "the saga completed" in complete.stderr

    # A duplicate of the original request now attaches to its latest run.
    duplicate = await start_saga(dev_client, prepare(saga("order"), declined), dev_worker)
    assert (duplicate.started, duplicate.workflow_id) == (False, third)


async def test_a_compensated_order_rerun_after_restocking_nets_one_charge(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    started = await api.post("/orders", json=customer(SAMPLE))
    workflow_id = started.json()["workflow_id"]
    await in_state(api, workflow_id, "awaiting_intervention")
    answer = await api.post(f"/sagas/{workflow_id}/compensate", json={"reason": "no stock"})
    assert answer.status_code == 200, answer.text
    compensated = await final_status(dev_client.get_workflow_handle(workflow_id))
    assert compensated.state is SagaState.COMPENSATED

    running = await api.post(f"/sagas/{workflow_id}/rerun")  # the original request
    assert running.status_code == 202, running.text
    assert running.json() == {
        "workflow_id": f"{workflow_id}-run-2",
        "status_url": f"http://api.test/sagas/{workflow_id}-run-2",
        "rerun_of": workflow_id,
    }
    rerun = await final_status(dev_client.get_workflow_handle(f"{workflow_id}-run-2"))
    assert (rerun.state, rerun.rerun_of) == (SagaState.COMPLETE, workflow_id)

    [charge] = await charges_for(services_http, workflow_id)
    assert await refunds_of(services_http, charge) == [charge["amount"]]
    [again] = await charges_for(services_http, f"{workflow_id}-run-2")
    assert await refunds_of(services_http, again) == []

    refused = await api.post(f"/sagas/{workflow_id}-run-2/rerun")
    assert refused.status_code == 409, refused.text
    unknown = await api.post("/sagas/order-nope/rerun")
    assert unknown.status_code == 404


async def test_a_terminated_saga_can_be_rerun(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    submission = await start_saga(dev_client, prepare(saga("order"), customer(SAMPLE)), dev_worker)
    await in_state(api, submission.workflow_id, "awaiting_intervention")
    still = await api.post(f"/sagas/{submission.workflow_id}/rerun")
    assert still.status_code == 409
    assert "still running" in still.json()["error"]
    await submission.handle.terminate("test")
    rerun = await api.post(f"/sagas/{submission.workflow_id}/rerun")
    assert rerun.status_code == 202, rerun.text
    handle = dev_client.get_workflow_handle(rerun.json()["workflow_id"])
    status = await final_status(handle)
    assert (status.state, status.rerun_of) == (SagaState.COMPLETE, submission.workflow_id)
