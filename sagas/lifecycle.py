"""Starting a saga, awaiting its end, and reading its status document back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from models.envelope import StepOutput
from models.plan import SagaPlan
from models.status import SagaState, SagaStatus
from plumbing.converter import data_converter
from sagas.prepare import Prepared
from workflows.visibility import CORRELATION_ID, SAGA_STATE, start_details


async def start_saga(
    client: Client, prepared: Prepared, task_queue: str, *, visibility: bool = True
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """Start, or attach to the saga already holding this id. Returns (handle, started_now).

    The id comes from the request, so submitting the same request twice runs one saga. One
    call: the server refuses a second start of the id (running or finished) and we attach.
    """
    pairs: list[SearchAttributePair[Any]] = []
    if visibility:
        pairs.append(SearchAttributePair(SAGA_STATE, SagaState.IN_PROGRESS.value))
        if prepared.correlation_id:
            pairs.append(SearchAttributePair(CORRELATION_ID, prepared.correlation_id))
    try:
        handle = await client.start_workflow(
            prepared.saga.workflow_type,
            prepared.request,
            id=prepared.workflow_id,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(pairs),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=prepared.saga.summary_of(prepared.request),
            static_details=start_details(prepared.plan),
        )
    except WorkflowAlreadyStartedError:
        # Running or finished: either way the request is already handled; attach to it.
        return client.get_workflow_handle(prepared.workflow_id), False
    return handle, True


async def final_status(handle: WorkflowHandle[Any, Any]) -> SagaStatus:
    """Wait for the saga to end and return its status document, whatever the outcome, with
    every step result in place (the stored document leaves activity results out)."""
    try:
        status = SagaStatus.model_validate(await handle.result())
    except WorkflowFailureError as err:
        cause = err.cause
        if not (isinstance(cause, ApplicationError) and cause.details):
            return await query_status(handle)
        status = SagaStatus.model_validate(cause.details[0])
    await restore_step_results(handle, status)
    return status


async def restore_step_results(handle: WorkflowHandle[Any, Any], status: SagaStatus) -> None:
    """Put back the results a finished saga's document left in the history: each step's
    last completed activity, found by its activity type (the plan in the saga's input
    says which activity runs which step)."""
    wanted = {name for name, step in status.steps.items() if step.result_in_history}
    if not wanted:
        return
    step_of_activity: dict[str, str] = {}
    step_of: dict[int, str] = {}
    results: dict[str, Payload] = {}
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_started_event_attributes"):
            [request] = await data_converter().decode(
                event.workflow_execution_started_event_attributes.input.payloads[:1], [dict]
            )
            plan = SagaPlan.model_validate(request["plan"])
            step_of_activity = {step.activity: step.name for step in plan.steps}
        elif event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            step_of[event.event_id] = step_of_activity.get(scheduled.activity_type.name, "")
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            name = step_of.get(completed.scheduled_event_id, "")
            if name in wanted and completed.result.payloads:
                results[name] = completed.result.payloads[0]
    for name, payload in results.items():
        [output] = await data_converter().decode([payload], [StepOutput])
        step = status.steps[name]
        step.result, step.result_in_history = output.result, False


async def query_status(
    handle: WorkflowHandle[Any, Any], rpc_timeout: timedelta | None = None
) -> SagaStatus:
    raw = await handle.query("status", rpc_timeout=rpc_timeout)
    return SagaStatus.model_validate(raw)
