"""Customer data stays out of what others can read: a completed saga's history holds none
in plain text (the codec encrypts it), and the worker's logs hold none at all."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from models.status import SagaState
from plumbing.processes import DevServer
from sagas.catalogue import catalogue
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import ROOT, run_saga, worker_process

ORDER = json.loads((ROOT / "examples" / "order_sample.json").read_text())
REGISTRATION = json.loads((ROOT / "examples" / "registration_sample.json").read_text())


def _personal(data: dict[str, Any], *paths: str) -> list[str]:
    values = []
    for path in paths:
        value: Any = data
        for part in path.split("."):
            value = value[part]
        values.append(str(value))
    return values


async def _stored_history(client: Client, saga: str, data: dict[str, Any], queue: str) -> bytes:
    """Run the saga to completion; its history as the server stores and serves it."""
    handle = (await start_saga(client, prepare(catalogue()[saga], data), queue)).handle
    status = await final_status(handle)
    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    events = [event async for event in handle.fetch_history_events()]
    return b"".join(event.SerializeToString() for event in events)


async def test_a_completed_order_stores_no_personal_data_in_plain_text(
    dev_client: Client, dev_worker: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    data = {
        **ORDER,
        "correlation_id": f"enc-{tag}",
        "customer_info": {**ORDER["customer_info"], "email": f"jane.{tag}@example.com",
                          "phone": f"+1-555-{tag}"},
        "payment_info": {**ORDER["payment_info"], "token": f"tok_secret_{tag}"},
    }  # fmt: skip
    stored = await _stored_history(dev_client, "order", data, dev_worker)

    secrets = _personal(
        data,
        "customer_info.email", "customer_info.name", "customer_info.phone",
        "payment_info.token", "shipping_info.address", "shipping_info.zip",
    )  # fmt: skip
    for secret in secrets:
        assert secret.encode() not in stored, secret
    # The check can fail: the step names (activity types, plain by design) are there.
    assert b"process_payment" in stored


async def test_a_completed_registration_stores_no_personal_data_in_plain_text(
    dev_client: Client, dev_worker: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    user = {**REGISTRATION["user_info"], "email": f"sarah.{tag}@growthcorp.com",
            "phone": f"+1-415-{tag}", "company": f"GrowthCorp {tag}"}  # fmt: skip
    data = {**REGISTRATION, "user_info": user}
    stored = await _stored_history(dev_client, "register", data, dev_worker)

    secrets = _personal(
        data,
        "user_info.email", "user_info.name", "user_info.phone", "user_info.company",
        "billing_info.payment_method", "billing_info.billing_address.street",
        "billing_info.billing_address.zip",
    )  # fmt: skip
    for secret in secrets:
        assert secret.encode() not in stored, secret
    assert b"create_user_account" in stored


async def test_worker_logs_hold_no_personal_data(
    dev_server: DevServer, dev_client: Client, services: object, tmp_path: Path
) -> None:
    """Both sagas, and a registration refused because another user has the email, through
    the real ``worker.py`` logging every step and HTTP call as JSON."""
    queue = f"pii-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    order = {
        **ORDER,
        "customer_info": {**ORDER["customer_info"], "email": f"jane.{tag}@example.com",
                          "name": f"Jane Doe{tag}", "phone": f"+1-555-{tag}"},
        "payment_info": {**ORDER["payment_info"], "token": f"tok_secret_{tag}"},
    }  # fmt: skip
    user = {**REGISTRATION["user_info"], "email": f"sarah.{tag}@growthcorp.com",
            "name": f"Sarah Chen{tag}", "phone": f"+1-415-{tag}"}  # fmt: skip
    registration = {**REGISTRATION, "user_info": user}
    impostor = {**registration, "user_info": {**user, "name": f"Not Sarah{tag}"}}
    log = tmp_path / "worker.log"
    env = {"SAGA_LOG_FORMAT": "json", "SAGA_LOG_LEVEL": "DEBUG"}
    with worker_process(dev_server, queue, log=log, env=env):
        done = [
            await run_saga(dev_client, queue, "order", order),
            await run_saga(dev_client, queue, "register", registration),
            await run_saga(dev_client, queue, "register", impostor, f"pii-impostor-{tag}"),
        ]
    assert [s.state for s in done] == [SagaState.COMPLETE, SagaState.COMPLETE, SagaState.ERROR]

    logged = log.read_text()
    assert "step_completed" in logged
    assert "USER_CONFLICT" in logged  # the refusal was logged, without whose email it was
    secrets = [
        *_personal(order, "customer_info.email", "customer_info.name", "customer_info.phone",
                   "payment_info.token"),
        *_personal(impostor, "user_info.email", "user_info.name", "user_info.phone"),
        *_personal(registration, "user_info.name"),
    ]  # fmt: skip
    for secret in secrets:
        assert secret not in logged, secret
