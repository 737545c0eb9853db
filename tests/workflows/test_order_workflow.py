"""The order saga on the time-skipping server: real workflow, real worker, activity doubles."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.outcomes import permanent, retryable
from models.status import SagaState, SagaStatus, StepState
from runtime.sagas import SAGAS, prepare
from runtime.temporal import final_status, make_worker
from tests.workflows.doubles import OrderDoubles, always, fail_times

SAMPLE = json.loads((Path(__file__).parents[2] / "examples" / "order_sample.json").read_text())


async def run_order(
    env: WorkflowEnvironment,
    doubles: OrderDoubles,
    task_queue: str,
    data: dict[str, Any] | None = None,
) -> SagaStatus:
    prepared = prepare(SAGAS["order"], data or SAMPLE, workflow_id=f"order-{task_queue}")
    async with make_worker(env.client, task_queue, doubles.all()):
        handle = await env.client.start_workflow(
            "OrderProcessingWorkflow", prepared.request, id=prepared.workflow_id,
            task_queue=task_queue,
        )  # fmt: skip
        return await final_status(handle)


async def test_happy_path(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    doubles = OrderDoubles()
    status = await run_order(ts_env, doubles, task_queue)
    assert status.state is SagaState.COMPLETE
    assert doubles.names() == [
        "validate_cart", "process_payment", "update_inventory", "create_order",
        "send_confirmation",
    ]  # fmt: skip
    assert all(step.state is StepState.COMPLETE for step in status.steps.values())
    assert status.result["total"] == "124.76"
    assert status.result["confirmation"] == "sent"
    assert status.steps["validate_cart"].result["total"] == "124.76"  # type: ignore[index]
