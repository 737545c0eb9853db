"""The saga's current details (what the Web UI shows beside its summary), kept up to date
by the step runner: while a step runs, while an operator is awaited, and at the end; and
each activity's summary says what its step does."""

from __future__ import annotations

from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from models.status import InterventionAction, InterventionRequest, SagaState
from plumbing.converter import data_converter
from sagas.lifecycle import final_status
from tests.workflows.test_order_workflow import (
    awaiting,
    intervene,
    inventory_down,
    started,
    wait_until,
)

PERSONAL = ("jane@example.com", "Jane Doe", "tok_visa_4242", "1 Main St")


async def _details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata: WorkflowMetadata = await handle.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return metadata.current_details


async def _activity_summaries(handle: WorkflowHandle[Any, Any]) -> list[str]:
    summaries = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            [summary] = await data_converter().decode([event.user_metadata.summary], [str])
            summaries.append(summary)
    return summaries


async def test_details_follow_the_saga_through_an_intervention(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        stuck = await _details(handle)
        doubles.failures.clear()
        await intervene(handle, InterventionRequest(action=InterventionAction.RETRY))
        status = await final_status(handle)
        done = await _details(handle)
        summaries = await _activity_summaries(handle)

    assert stuck.startswith("**Awaiting an operator**")
    assert "Step **update_inventory** failed: OUT_OF_STOCK: no stock" in stuck
    assert "Allowed: retry, resolve, compensate, until " in stuck
    assert f"`python starter.py intervene {handle.id} retry|resolve|compensate`" in stuck
    assert "- ✓ process_payment" in stuck
    assert "- ✗ update_inventory" in stuck
    leaked = [value for value in PERSONAL if value in stuck + done + "".join(summaries)]
    assert not leaked
    assert status.state is SagaState.COMPLETE
    assert done.startswith("**Complete**")
    assert done.count("- ✓ ") == len(status.steps)
    assert summaries[1] == "process_payment: Charge the payment method (idempotent per order)"
    assert [summary.split(":")[0] for summary in summaries] == [
        "validate_cart", "process_payment", "update_inventory", "update_inventory",
        "create_order", "send_confirmation",
    ]  # fmt: skip
