"""A plan that does not fit the code, started anyway (bypassing the checks ``prepare``
makes): the saga fails at once with a clear, non-retryable error, never a workflow task
that fails forever or an activity retried without end."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.outcomes import retryable
from models.order import OrderRequest
from models.plan import SagaPlan, StepPlan
from models.status import SagaState, StepState
from sagas.catalogue import saga
from sagas.lifecycle import final_status
from sagas.prepare import prepare
from sagas.worker import make_worker
from tests.workflows.doubles import OrderDoubles, always

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())


def _plan_with(changes: dict[str, dict[str, str]]) -> SagaPlan:
    plan = prepare(saga("order"), SAMPLE).plan
    steps: list[StepPlan] = [
        step.model_copy(update=changes.get(step.name, {})) for step in plan.steps
    ]
    return plan.model_copy(update={"steps": steps})


async def _run(
    env: WorkflowEnvironment, doubles: OrderDoubles, plan: SagaPlan, queue: str
) -> tuple[WorkflowHandle[Any, Any], BaseException | None]:
    """Start the order saga with ``plan`` as is; its failure, within a bound (without the
    checks the saga would retry forever)."""
    request = OrderRequest.model_validate({"order": SAMPLE, "plan": plan.model_dump()})
    async with make_worker(env.client, queue, doubles.all()):
        handle = await env.client.start_workflow(
            "OrderProcessingWorkflow", request, id=f"mismatch-{uuid.uuid4().hex}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=60)
        return handle, failed.value.cause


async def test_a_step_the_code_lacks_fails_the_saga_at_once(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    plan = _plan_with({"update_inventory": {"name": "update_stock"}})
    _, cause = await _run(ts_env, OrderDoubles(), plan, task_queue)
    assert isinstance(cause, ApplicationError)
    assert cause.type == "SagaConfigMismatch"
    assert cause.non_retryable
    assert "update_stock" in cause.message


async def test_a_compensation_no_worker_has_fails_at_once_instead_of_forever(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"create_order": always(lambda: retryable("DB_UNAVAILABLE", "db down"))}
    )
    plan = _plan_with({"process_payment": {"compensation": "refund_paymnt"}})
    handle, _ = await _run(ts_env, doubles, plan, task_queue)
    status = await final_status(handle)
    assert status.state is SagaState.COMPENSATED
    [refund] = [c for c in status.compensations if c.for_step == "process_payment"]
    assert refund.state is StepState.ERROR
    assert refund.error is not None
    assert refund.error.type == "NotFoundError"
    assert refund.attempts <= 1
