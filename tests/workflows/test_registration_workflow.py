"""The registration saga on the time-skipping server: real workflow, real worker, the real
activities over an in-memory HTTP world (``registration_doubles``).

One time-skipping environment serves every test, so each test awaits its workflow alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus, StepState
from sagas.lifecycle import final_status, query_status
from tests.workflows.harness import saga_started
from tests.workflows.registration_doubles import (
    FakeServices,
    RegistrationDoubles,
    always,
    fail_times,
    status,
)

SAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "examples" / "registration_sample.json").read_text()
)
STEPS = [
    "create_user_account",
    "setup_billing_profile",
    "initialize_preferences",
    "send_welcome_sequence",
    "update_user_status",
]
Handle = WorkflowHandle[Any, Any]


def with_user(**changes: Any) -> dict[str, Any]:
    return {**SAMPLE, "user_info": {**SAMPLE["user_info"], **changes}}


@asynccontextmanager
async def started(
    env: WorkflowEnvironment,
    doubles: RegistrationDoubles,
    task_queue: str,
    data: dict[str, Any] | None = None,
) -> AsyncIterator[Handle]:
    try:
        async with saga_started(
            env.client, "register", doubles.all(), task_queue, data or SAMPLE,
            workflow_id=f"reg-{task_queue}",
        ) as handle:  # fmt: skip
            yield handle
    finally:
        await doubles.aclose()


async def run_registration(
    env: WorkflowEnvironment,
    services: FakeServices,
    task_queue: str,
    data: dict[str, Any] | None = None,
) -> SagaStatus:
    async with started(env, RegistrationDoubles(services), task_queue, data) as handle:
        return await final_status(handle)


def results(status: SagaStatus) -> dict[str, dict[str, Any]]:
    return {name: step.result or {} for name, step in status.steps.items()}


# -- the happy path ------------------------------------------------------------------------


async def test_pro_plan_runs_the_diamond_with_one_user_and_one_correlation_id(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(overlap=True, branch_delay=0.3)
    status = await run_registration(ts_env, services, task_queue)

    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    assert all(step.state is StepState.COMPLETE for step in status.steps.values())
    assert all(step.attempts == 1 for step in status.steps.values())
    # Billing and preferences each waited for the other to start: they really overlapped.
    assert services.met == {"billing.create": True, "preferences.create": True}
    ops = services.ops()
    assert ops[0] == "users.create"
    assert set(ops[1:3]) == {"billing.create", "preferences.create"}
    assert ops[3:] == ["notifications.welcome", "users.update"]

    user_id = results(status)["create_user_account"]["user_id"]
    assert {r["user_id"] for r in results(status).values()} == {user_id}
    cid = status.correlation_id
    assert re.fullmatch(r"reg_\d{10}_[0-9a-f]{8}", cid)
    assert {r["correlation_id"] for r in results(status).values()} == {cid}
    for request in services.requests:
        assert request.headers["x-correlation-id"] == cid
        assert request.headers["idempotency-key"].startswith(f"{status.workflow_id}:")

    outcome = status.result
    assert outcome["user_id"] == user_id
    assert outcome["plan_type"] == "pro"
    assert outcome["billing_status"] == "active"
    assert outcome["preferences"] == "created"
    assert outcome["fallback_used"] is False
    assert outcome["welcome"] == "sent"
    assert outcome["registration_complete"] is True
    assert outcome["registration_source"] == "web"
    assert outcome["correlation_id"] == cid
    assert set(outcome["timings"]) == set(STEPS)
    # Each branch step took >= 0.3 s and they overlapped: together they saved >= 0.2 s.
    branch = outcome["parallel_branch"]
    assert branch["sequential_seconds"] >= 0.6
    assert branch["saved_seconds"] >= 0.2
    assert branch["saved_seconds"] == round(
        branch["sequential_seconds"] - branch["wall_seconds"], 3
    )
    welcome = results(status)["send_welcome_sequence"]
    assert (welcome["plan"], welcome["emails_sent"]) == ("pro", 4)
    (patch,) = services.of("users.update")
    assert patch.path == f"/users/{user_id}"
    assert patch.body is not None
    assert patch.body["status"] == "registration_complete"
    assert patch.body["completed_steps"] == STEPS[:4]
    assert status.steps["update_user_status"].result == {
        "user_id": user_id,
        "status": "registration_complete",
        "completed_steps": STEPS[:4],
        "registration_complete": True,
        "correlation_id": cid,
    }


async def test_given_correlation_id_is_used_everywhere(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices()
    data = {**SAMPLE, "correlation_id": "trace-123"}
    status = await run_registration(ts_env, services, task_queue, data)
    assert status.state is SagaState.COMPLETE
    assert status.correlation_id == "trace-123"
    assert {r.headers["x-correlation-id"] for r in services.requests} == {"trace-123"}
    assert {r["correlation_id"] for r in results(status).values()} == {"trace-123"}


# -- graceful degradation ------------------------------------------------------------------


async def test_free_plan_skips_billing_without_a_call(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices()
    status = await run_registration(ts_env, services, task_queue, with_user(plan="free"))

    assert status.state is SagaState.COMPLETE
    assert "billing.create" not in services.ops()
    billing = status.steps["setup_billing_profile"]
    assert billing.state is StepState.SKIPPED
    assert billing.attempts == 0
    assert billing.result is not None
    assert billing.result["status"] == "skipped_free_plan"
    assert billing.result["user_id"] == results(status)["create_user_account"]["user_id"]
    assert status.result["plan_type"] == "free"
    assert status.result["billing_status"] == "not_required"
    assert results(status)["send_welcome_sequence"]["plan"] == "free"
    assert status.failed_steps == []


async def test_payment_required_on_paid_plan_continues_on_free(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(script={"billing.create": always(lambda: status(402))})
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.COMPLETE
    billing = result.steps["setup_billing_profile"]
    assert billing.state is StepState.ERROR
    assert billing.attempts == 1  # 402 is permanent: no retry
    assert billing.error is not None
    assert billing.error.type == "PAYMENT_REQUIRED"
    assert billing.result is not None
    assert (billing.result["status"], billing.result["billing_status"]) == ("deferred", "deferred")
    assert result.result["plan_type"] == "free"
    assert result.result["requested_plan"] == "pro"
    assert result.result["billing_status"] == "deferred"
    (welcome,) = services.of("notifications.welcome")
    assert welcome.body is not None
    assert welcome.body["plan"] == "free"
    assert result.failed_steps == ["setup_billing_profile"]


async def test_preferences_failing_every_attempt_fall_back_to_defaults(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(script={"preferences.create": always(lambda: status(500))})
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.COMPLETE
    assert len(services.of("preferences.create")) == 3
    preferences = result.steps["initialize_preferences"]
    assert (preferences.state, preferences.attempts) == (StepState.ERROR, 3)
    assert preferences.result is not None
    assert preferences.result["fallback_used"] is True
    assert preferences.result["settings"]["marketing_consent"] is False
    assert preferences.result["settings"]["newsletter_frequency"] == "never"
    assert result.result["fallback_used"] is True
    assert result.result["preferences"] == "defaults"
    assert services.ops()[-2:] == ["notifications.welcome", "users.update"]
    assert result.failed_steps == ["initialize_preferences"]


async def test_welcome_exhausted_completes_with_welcome_failed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(script={"notifications.welcome": always(lambda: status(500))})
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.COMPLETE
    assert len(services.of("notifications.welcome")) == 5
    assert result.steps["send_welcome_sequence"].attempts == 5
    assert result.result["welcome"] == "failed"
    assert result.result["registration_complete"] is True
    (patch,) = services.of("users.update")
    assert patch.body is not None
    assert "send_welcome_sequence" not in patch.body["completed_steps"]
    assert patch.body["step_details"]["send_welcome_sequence"]["status"] == "failed"


# -- 409, 429 and retries ------------------------------------------------------------------


async def test_conflict_with_matching_data_adopts_the_existing_user(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    existing = {"id": "usr_existing", "email": "Sarah@GrowthCorp.com", "name": "Sarah Chen",
                "plan": "pro", "created_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    services = FakeServices(users=[existing])
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.COMPLETE
    account = results(result)["create_user_account"]
    assert (account["status"], account["user_id"]) == ("already_exists", "usr_existing")
    assert services.ops()[:2] == ["users.create", "users.lookup"]
    assert {r["user_id"] for r in results(result).values()} == {"usr_existing"}
    assert result.result["account"] == "already_exists"


async def test_conflict_with_different_data_is_permanent_and_stops_the_saga(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    existing = {"id": "usr_other", "email": "sarah@growthcorp.com", "name": "Someone Else",
                "plan": "free", "created_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    services = FakeServices(users=[existing])
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.ERROR
    create = result.steps["create_user_account"]
    assert create.error is not None
    assert (create.error.type, create.error.non_retryable) == ("USER_CONFLICT", True)
    assert create.attempts == 1
    assert services.ops() == ["users.create", "users.lookup"]
    assert all(result.steps[name].state is StepState.PENDING for name in STEPS[1:])


async def test_rate_limited_welcome_waits_for_retry_after(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(
        script={"notifications.welcome": fail_times(1, lambda: status(429, retry_after=60))},
        clock=ts_env.get_current_time,
    )
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.COMPLETE
    first, second = services.of("notifications.welcome")
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.at is not None
    assert second.at is not None
    # Retry-After 60 beats the default 2 s backoff (and stays under the 300 s cap).
    assert timedelta(seconds=60) <= second.at - first.at < timedelta(seconds=90)
    assert result.steps["send_welcome_sequence"].attempts == 2
    assert result.result["timings"]["send_welcome_sequence"] >= 60
    assert result.result["welcome"] == "sent"


async def test_create_failing_twice_then_succeeding_takes_three_attempts(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(script={"users.create": fail_times(2, lambda: status(500))})
    result = await run_registration(ts_env, services, task_queue)

    assert result.state is SagaState.COMPLETE
    assert result.steps["create_user_account"].attempts == 3
    assert [r.attempt for r in services.of("users.create")] == [1, 2, 3]
    assert len(services.users) == 1
    assert result.failed_steps == []


# -- operating: the shared status query and intervene update -------------------------------


async def wait_until(
    env: WorkflowEnvironment, handle: Handle, predicate: Callable[[SagaStatus], bool]
) -> SagaStatus:
    for _ in range(120):
        current = await query_status(handle)
        if predicate(current):
            return current
        await env.sleep(1)
    raise AssertionError(f"condition never met; last status: {current.model_dump_json()}")


async def test_status_update_exhausted_awaits_an_operator_who_resolves_it(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    services = FakeServices(script={"users.update": always(lambda: status(500))})
    doubles = RegistrationDoubles(services)
    async with started(ts_env, doubles, task_queue) as handle:
        waiting = await wait_until(
            ts_env, handle, lambda s: s.state is SagaState.AWAITING_INTERVENTION
        )
        assert waiting.current_step == "update_user_status"
        assert waiting.steps["update_user_status"].attempts == 2
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                "intervene",
                InterventionRequest(action=InterventionAction.RESOLVE, result={"user_id": 7}),
                result_type=SagaStatus,
            )
        answered = await handle.execute_update(
            "intervene",
            InterventionRequest(action=InterventionAction.RESOLVE, reason="set by hand"),
            result_type=SagaStatus,
        )
        assert answered.state is not SagaState.AWAITING_INTERVENTION
        result = await final_status(handle)

    assert result.state is SagaState.COMPLETE
    assert result.steps["update_user_status"].state is StepState.RESOLVED_MANUALLY
    assert result.result["registration_complete"] is True
    assert len(services.of("users.update")) == 2
