"""The order saga on the time-skipping server: real workflow, real worker, activity doubles.

One time-skipping environment serves every test, so each test awaits its workflow alone
(awaiting several at once breaks time skipping) and uses its own task queue and id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.outcomes import permanent, retryable
from models.order import InventoryResult
from models.status import (
    InterventionAction,
    InterventionRequest,
    SagaState,
    SagaStatus,
    StepState,
)
from plumbing.converter import data_converter
from sagas.catalogue import saga
from sagas.lifecycle import final_status, query_status
from sagas.prepare import prepare
from tests.conftest import _test_server_binary
from tests.workflows.doubles import NOW, OrderDoubles, always, fail_times
from tests.workflows.harness import saga_started

SAMPLE = json.loads((Path(__file__).parents[2] / "examples" / "order_sample.json").read_text())
STEPS = [
    "validate_cart",
    "process_payment",
    "update_inventory",
    "create_order",
    "send_confirmation",
]
Handle = WorkflowHandle[Any, Any]


def started(
    env: WorkflowEnvironment,
    doubles: OrderDoubles,
    task_queue: str,
    data: dict[str, Any] | None = None,
) -> AbstractAsyncContextManager[Handle]:
    """A worker with the doubles on ``task_queue`` and one order saga started on it."""
    return saga_started(
        env.client, "order", doubles.all(), task_queue, data or SAMPLE,
        workflow_id=f"order-{task_queue}",
    )  # fmt: skip


async def run_order(
    env: WorkflowEnvironment,
    doubles: OrderDoubles,
    task_queue: str,
    data: dict[str, Any] | None = None,
) -> SagaStatus:
    async with started(env, doubles, task_queue, data) as handle:
        return await final_status(handle)


async def wait_until(
    env: WorkflowEnvironment, handle: Handle, predicate: Callable[[SagaStatus], bool]
) -> SagaStatus:
    """Poll the ``status`` query; between polls skip 1 s of workflow time (retry backoffs)."""
    for _ in range(120):
        status = await query_status(handle)
        if predicate(status):
            return status
        await env.sleep(1)
    raise AssertionError(f"condition never met; last status: {status.model_dump_json()}")


def awaiting(status: SagaStatus) -> bool:
    return status.state is SagaState.AWAITING_INTERVENTION


async def intervene(handle: Handle, request: InterventionRequest) -> SagaStatus:
    status: SagaStatus = await handle.execute_update("intervene", request, result_type=SagaStatus)
    return status


def inventory_down() -> OrderDoubles:
    """update_inventory fails on every attempt until the test clears the failure."""
    return OrderDoubles(
        failures={"update_inventory": always(lambda: retryable("OUT_OF_STOCK", "no stock"))}
    )


def step_states(status: SagaStatus) -> dict[str, StepState]:
    return {name: step.state for name, step in status.steps.items()}


# -- straight runs -------------------------------------------------------------------------


async def test_happy_path(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    doubles = OrderDoubles()
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.COMPLETE
    assert doubles.names() == STEPS
    assert all(step.state is StepState.COMPLETE for step in status.steps.values())
    assert status.result["total"] == "124.76"
    assert status.result["confirmation"] == "sent"
    assert status.steps["validate_cart"].result["total"] == "124.76"  # type: ignore[index]


async def test_transient_payment_failures_are_retried(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"process_payment": fail_times(2, lambda: retryable("GATEWAY_TIMEOUT", "slow"))}
    )
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.COMPLETE
    assert doubles.attempts["process_payment"] == 3
    assert status.steps["process_payment"].attempts == 3
    assert status.steps["process_payment"].state is StepState.COMPLETE
    assert doubles.attempts["validate_cart"] == 1
    assert status.failed_steps == []
    # Tasker's default backoff: 2 s, then 4 s between the attempts.
    times = [when for name, _, when in doubles.calls if name == "process_payment"]
    assert times[1] - times[0] >= timedelta(seconds=2)
    assert times[2] - times[1] >= timedelta(seconds=4)


async def test_declined_card_fails_without_compensation(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"process_payment": always(lambda: permanent("PAYMENT_DECLINED", "declined"))}
    )
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.ERROR
    payment = status.steps["process_payment"]
    assert payment.state is StepState.ERROR
    assert payment.attempts == 1
    assert payment.error is not None
    assert payment.error.type == "PAYMENT_DECLINED"
    assert payment.error.non_retryable is True
    assert status.failed_steps == ["process_payment"]
    assert doubles.names() == ["validate_cart", "process_payment"]
    for later in STEPS[2:]:
        assert status.steps[later].state is StepState.PENDING
    assert status.compensations == []


async def test_create_order_failure_compensates_in_reverse(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"create_order": always(lambda: retryable("DB_UNAVAILABLE", "db down"))}
    )
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.COMPENSATED
    assert doubles.attempts["create_order"] == 3
    assert doubles.names()[-3:] == ["cancel_order", "release_inventory", "refund_payment"]
    assert "send_confirmation" not in doubles.names()
    states = step_states(status)
    assert states["process_payment"] is StepState.COMPENSATED
    assert states["update_inventory"] is StepState.COMPENSATED
    assert states["create_order"] is StepState.ERROR  # its undo found no order
    assert states["send_confirmation"] is StepState.PENDING
    assert [(c.activity, c.for_step, c.state) for c in status.compensations] == [
        ("cancel_order", "create_order", StepState.COMPLETE),
        ("release_inventory", "update_inventory", StepState.COMPLETE),
        ("refund_payment", "process_payment", StepState.COMPLETE),
    ]


async def test_confirmation_exhausted_keeps_the_order(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"send_confirmation": always(lambda: retryable("SMTP_DOWN", "no mail"))}
    )
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.COMPLETE
    assert doubles.attempts["send_confirmation"] == 5
    assert status.steps["send_confirmation"].attempts == 5
    assert status.result["confirmation"] == "failed"
    assert status.result["order_number"] == "ORD-20261122-0000ABCD"
    assert status.failed_steps == ["send_confirmation"]
    assert status.compensations == []
    assert "refund_payment" not in doubles.names()


async def test_server_suggested_delay_is_honoured(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    def slow_down() -> ApplicationError:
        # Built by hand: retryable() caps the delay at 300 s.
        return ApplicationError(
            "rate limited", type="RATE_LIMITED", next_retry_delay=timedelta(hours=1)
        )

    doubles = OrderDoubles(failures={"process_payment": fail_times(1, slow_down)})
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.COMPLETE
    assert status.steps["process_payment"].attempts == 2
    first, second = (when for name, _, when in doubles.calls if name == "process_payment")
    assert second - first >= timedelta(hours=1)


async def test_express_order_overrides(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    doubles = OrderDoubles(
        failures={"process_payment": always(lambda: retryable("GATEWAY_TIMEOUT", "slow"))}
    )
    status = await run_order(ts_env, doubles, task_queue, SAMPLE | {"priority": "express"})
    assert status.overrides == [
        "express: process_payment timeout 15s, 1 attempt; send_confirmation 2 attempts;"
        " high priority",
    ]
    assert status.state is SagaState.ERROR
    assert doubles.attempts["process_payment"] == 1
    assert status.steps["process_payment"].attempts == 1
    assert status.steps["update_inventory"].state is StepState.PENDING


# -- manual intervention -------------------------------------------------------------------


async def test_inventory_exhausted_then_retry(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        status = await wait_until(ts_env, handle, awaiting)
        assert status.intervention is not None
        assert status.intervention.step == "update_inventory"
        assert status.intervention.allowed == [
            InterventionAction.RETRY, InterventionAction.RESOLVE, InterventionAction.COMPENSATE,
        ]  # fmt: skip
        assert status.current_step == "update_inventory"
        assert status.failed_steps == ["update_inventory"]
        assert status.steps["update_inventory"].attempts == 2
        assert doubles.attempts["update_inventory"] == 2

        doubles.failures.clear()
        answered = await intervene(handle, InterventionRequest(action=InterventionAction.RETRY))
        assert answered.state is not SagaState.AWAITING_INTERVENTION
        status = await final_status(handle)

    assert status.state is SagaState.COMPLETE
    assert status.steps["update_inventory"].state is StepState.COMPLETE
    assert status.steps["update_inventory"].attempts == 3
    assert doubles.attempts["update_inventory"] == 3
    assert doubles.attempts["validate_cart"] == 1
    assert doubles.attempts["process_payment"] == 1
    assert status.failed_steps == []
    assert status.intervention is not None
    assert status.intervention.decision is not None
    assert status.intervention.decision.action is InterventionAction.RETRY


async def test_each_retry_gets_a_fresh_budget(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    doubles = inventory_down()
    retry = InterventionRequest(action=InterventionAction.RETRY)
    async with started(ts_env, doubles, task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        await intervene(handle, retry)
        # Still failing: both attempts of the new budget run, then the operator is asked again.
        again = await wait_until(
            ts_env, handle, lambda s: awaiting(s) and s.steps["update_inventory"].attempts == 4
        )
        assert doubles.attempts["update_inventory"] == 4
        assert again.failed_steps == ["update_inventory"]
        assert again.intervention is not None
        assert again.intervention.decision is None
        doubles.failures.clear()
        await intervene(handle, retry)
        status = await final_status(handle)

    assert status.state is SagaState.COMPLETE
    assert status.steps["update_inventory"].attempts == 5
    assert doubles.attempts["process_payment"] == 1


async def test_inventory_exhausted_then_resolve(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    manual = InventoryResult(
        updated_products=[], total_items_reserved=3, inventory_changes=[], updated_at=NOW
    ).model_dump(mode="json")
    async with started(ts_env, doubles, task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        await intervene(
            handle, InterventionRequest(action=InterventionAction.RESOLVE, result=manual)
        )
        status = await final_status(handle)

    assert status.state is SagaState.COMPLETE
    assert status.steps["update_inventory"].state is StepState.RESOLVED_MANUALLY
    assert status.steps["update_inventory"].result == manual
    assert status.steps["create_order"].state is StepState.COMPLETE
    assert status.failed_steps == []
    assert doubles.attempts["update_inventory"] == 2
    assert status.result["confirmation"] == "sent"


async def test_resolve_rejects_a_result_later_steps_cannot_read(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        before = await wait_until(ts_env, handle, awaiting)
        bad = InterventionRequest(action=InterventionAction.RESOLVE, result={"note": "done"})
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as rejected:
            await intervene(handle, bad)
        assert "does not fit InventoryResult" in str(_root(rejected.value))
        assert "total_items_reserved" in str(_root(rejected.value))
        assert await query_status(handle) == before
        await intervene(handle, InterventionRequest(action=InterventionAction.COMPENSATE))
        status = await final_status(handle)
    assert status.state is SagaState.COMPENSATED


async def test_inventory_exhausted_then_compensate(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        await intervene(handle, InterventionRequest(action=InterventionAction.COMPENSATE))
        status = await final_status(handle)

    assert status.state is SagaState.COMPENSATED
    assert doubles.names()[-2:] == ["release_inventory", "refund_payment"]
    assert "create_order" not in doubles.names()
    assert status.steps["process_payment"].state is StepState.COMPENSATED
    assert [(c.activity, c.state) for c in status.compensations] == [
        ("release_inventory", StepState.COMPLETE),
        ("refund_payment", StepState.COMPLETE),
    ]


async def test_intervention_rejected_when_not_awaiting(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    def slow_down() -> ApplicationError:
        return ApplicationError("busy", type="RATE_LIMITED", next_retry_delay=timedelta(hours=1))

    doubles = OrderDoubles(failures={"process_payment": fail_times(1, slow_down)})
    async with started(ts_env, doubles, task_queue) as handle:
        # The saga waits out the gateway's delay: running, but not awaiting an operator.
        await wait_until(ts_env, handle, lambda _: doubles.attempts["process_payment"] == 1)
        before = await query_status(handle)
        assert before.state is SagaState.IN_PROGRESS
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as rejected:
            await intervene(handle, InterventionRequest(action=InterventionAction.RESOLVE))
        assert "not awaiting_intervention" in str(_root(rejected.value))
        after = await query_status(handle)
        assert after == before
        status = await final_status(handle)

    assert status.state is SagaState.COMPLETE
    assert status.intervention is None
    assert status.steps["process_payment"].attempts == 2
    assert status.steps["process_payment"].state is StepState.COMPLETE


async def test_intervention_rejects_an_action_not_offered(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        before = await wait_until(ts_env, handle, awaiting)
        # Work has been done (a payment), so the way out is compensate, not fail.
        with pytest.raises((WorkflowUpdateFailedError, RPCError)) as rejected:
            await intervene(handle, InterventionRequest(action=InterventionAction.FAIL))
        assert "not allowed" in str(_root(rejected.value))
        assert await query_status(handle) == before
        await intervene(handle, InterventionRequest(action=InterventionAction.COMPENSATE))
        status = await final_status(handle)
    assert status.state is SagaState.COMPENSATED


async def test_unanswered_intervention_times_out_and_compensates(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    timeout = prepare(saga("order"), SAMPLE).plan.intervention_timeout_seconds
    async with started(ts_env, doubles, task_queue) as handle:
        status = await wait_until(ts_env, handle, awaiting)
        assert status.intervention is not None
        await ts_env.sleep(timeout)
        status = await final_status(handle)

    assert status.state is SagaState.COMPENSATED
    assert status.intervention is not None
    assert status.intervention.decision is not None
    assert status.intervention.decision.action is InterventionAction.COMPENSATE
    assert status.intervention.decision.operator == "timeout"
    assert doubles.names()[-2:] == ["release_inventory", "refund_payment"]
    last_try = max(when for name, _, when in doubles.calls if name == "update_inventory")
    release = next(when for name, _, when in doubles.calls if name == "release_inventory")
    assert release - last_try >= timedelta(seconds=timeout)


def _root(err: BaseException) -> BaseException:
    """The innermost cause: the validator's own message."""
    while err.__cause__ is not None or getattr(err, "cause", None) is not None:
        err = getattr(err, "cause", None) or err.__cause__  # type: ignore[assignment]
    return err


# -- cancellation --------------------------------------------------------------------------


@pytest.fixture
async def own_env() -> AsyncIterator[WorkflowEnvironment]:
    """A private time-skipping server, for tests that cancel a running activity: the test
    server keeps time skipping locked for an activity whose workflow ended before the
    activity did (the activity is told to cancel, the workflow does not wait for it), which
    would make every later test in a shared server wait in real time."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server_binary(), data_converter=data_converter()
    )
    yield env
    await env.shutdown()


async def _cancelled(handle: Handle) -> SagaStatus:
    """Cancel the saga; its result must be a cancellation; return its final status."""
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    return await query_status(handle)


async def test_cancel_while_awaiting_intervention_compensates(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        status = await _cancelled(handle)

    assert status.state is SagaState.CANCELLED
    assert doubles.names()[-2:] == ["release_inventory", "refund_payment"]
    assert [(c.activity, c.state) for c in status.compensations] == [
        ("release_inventory", StepState.COMPLETE),
        ("refund_payment", StepState.COMPLETE),
    ]
    assert status.steps["process_payment"].state is StepState.COMPENSATED
    assert status.steps["create_order"].state is StepState.PENDING


async def test_cancel_during_a_running_step_compensates(
    own_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(blocking={"create_order"})
    async with started(own_env, doubles, task_queue) as handle:
        await wait_until(own_env, handle, lambda _: "create_order" in doubles.names())
        status = await _cancelled(handle)

    assert status.state is SagaState.CANCELLED
    assert status.intervention is None
    assert status.failed_steps == []
    assert status.current_step is None
    assert doubles.attempts["create_order"] == 1
    order = status.steps["create_order"]
    assert order.state is StepState.ERROR
    assert order.error is not None
    assert order.error.type == "CANCELLED"
    assert "send_confirmation" not in doubles.names()
    assert doubles.names()[-3:] == ["cancel_order", "release_inventory", "refund_payment"]
    assert [(c.activity, c.state) for c in status.compensations] == [
        ("cancel_order", StepState.COMPLETE),
        ("release_inventory", StepState.COMPLETE),
        ("refund_payment", StepState.COMPLETE),
    ]
    assert status.steps["process_payment"].state is StepState.COMPENSATED
    assert status.steps["update_inventory"].state is StepState.COMPENSATED


async def test_cancel_during_a_step_that_would_ask_for_intervention(
    own_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A cancelled activity is the saga being cancelled, not a step failing: no operator."""
    doubles = OrderDoubles(blocking={"update_inventory"})
    async with started(own_env, doubles, task_queue) as handle:
        await wait_until(own_env, handle, lambda _: "update_inventory" in doubles.names())
        status = await _cancelled(handle)

    assert status.state is SagaState.CANCELLED
    assert status.intervention is None
    assert status.failed_steps == []
    assert status.current_step is None
    assert doubles.names()[-2:] == ["release_inventory", "refund_payment"]
    assert status.steps["update_inventory"].state is StepState.COMPENSATED
    assert status.steps["process_payment"].state is StepState.COMPENSATED
