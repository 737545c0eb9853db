"""Starting a saga (or attaching to the one a submission is), awaiting its end, and reading
its status document back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar, cast

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
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
from temporalio.service import RPCError, RPCStatusCode

from adapter.schema import FieldError
from models.envelope import StepOutput
from models.plan import SagaPlan
from models.status import SagaState, SagaStatus
from plumbing.converter import data_converter
from sagas.identity import IdentitySource, dedup_window, run_id, run_number
from sagas.prepare import InvalidInput, Prepared
from workflows.visibility import (
    CORRELATION_ID,
    CUSTOMER_KEY,
    RERUN_OF,
    SAGA_STATE,
    start_details,
)


@dataclass(frozen=True)
class Submission:
    """What a submission became: a saga started now, or the one it is (attached to)."""

    handle: WorkflowHandle[Any, Any]
    started: bool
    state: str
    """The saga's state now (``in_progress`` when started now; a duplicate's may have
    ended: ``error``, ``compensated``, ``terminated``, …)."""

    @property
    def workflow_id(self) -> str:
        return self.handle.id


_EXECUTION_STATES: Final = {
    WorkflowExecutionStatus.RUNNING: SagaState.IN_PROGRESS.value,
    WorkflowExecutionStatus.COMPLETED: SagaState.COMPLETE.value,
    WorkflowExecutionStatus.CANCELED: SagaState.CANCELLED.value,
}
"""A saga's state when it published none; other endings by the execution's own name
(``terminated``, ``timed_out``, ``failed``)."""
OPEN_STATES: Final = frozenset({SagaState.IN_PROGRESS, SagaState.AWAITING_INTERVENTION})


def state_of(execution: WorkflowExecution) -> str:
    """The saga's published state while it is true; otherwise the execution's own (a saga
    terminated by hand keeps the open state it last published)."""
    published = execution.typed_search_attributes.get(SAGA_STATE)
    running = execution.status is WorkflowExecutionStatus.RUNNING
    if published and (running or published not in OPEN_STATES):
        return published
    if execution.status is None:
        return SagaState.IN_PROGRESS.value
    return _EXECUTION_STATES.get(execution.status, execution.status.name.lower())


T = TypeVar("T")


async def start_as(
    client: Client,
    prepared: Prepared,
    workflow_id: str,
    task_queue: str,
    *,
    visibility: bool = True,
) -> WorkflowHandle[Any, Any]:
    """Start ``prepared`` under ``workflow_id``, once: WorkflowAlreadyStartedError when any
    saga (running or ended) has held the id."""
    pairs: list[SearchAttributePair[Any]] = []
    if visibility:
        pairs.append(SearchAttributePair(SAGA_STATE, SagaState.IN_PROGRESS.value))
        if prepared.correlation_id:
            pairs.append(SearchAttributePair(CORRELATION_ID, prepared.correlation_id))
        if prepared.plan.rerun_of:
            pairs.append(SearchAttributePair(RERUN_OF, prepared.plan.rerun_of))
        if prepared.customer_key:
            pairs.append(SearchAttributePair(CUSTOMER_KEY, prepared.customer_key))
    return await client.start_workflow(
        prepared.saga.workflow_type,
        prepared.request,
        id=workflow_id,
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(pairs),
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        static_summary=prepared.saga.summary_of(prepared.request),
        static_details=start_details(prepared.plan),
    )


async def start_saga(
    client: Client,
    prepared: Prepared,
    task_queue: str,
    *,
    visibility: bool = True,
    window: timedelta | None = None,
) -> Submission:
    """Start the saga, or attach to the one this submission is (sagas/identity.py).

    A new saga costs one call: the server refuses a second start of an id, running or
    ended, so concurrent duplicates become one saga. A windowed identity whose latest saga
    started more than ``window`` ago (default: ``SAGA_DEDUP_WINDOW``) starts the next id.
    A duplicate attaches to the latest run of its saga (a rerun, if there is one); one with
    an idempotency key and a different request is refused (InvalidInput, naming the key).
    """
    identity = prepared.identity
    number = 1
    while True:
        workflow_id = identity.repeat(number)
        try:
            handle = await start_as(
                client, prepared, workflow_id, task_queue, visibility=visibility
            )
        except WorkflowAlreadyStartedError:
            pass
        else:
            return Submission(handle, True, SagaState.IN_PROGRESS.value)
        if not identity.windowed:
            return await _attach(client, prepared, workflow_id)
        number = await highest(lambda n: _exists(client, identity.repeat(n)), number)
        workflow_id = identity.repeat(number)
        described = await client.get_workflow_handle(workflow_id).describe()
        limit = window if window is not None else dedup_window()
        if datetime.now(UTC) - described.start_time < limit:
            return await _attach(client, prepared, workflow_id)
        number += 1


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def highest(exists: Callable[[int], Awaitable[bool]], known: int) -> int:
    """The highest number ``n >= known`` for which ``exists(n)``, given that ``known`` does
    and that the numbers in use have no gaps (each is started only after the one before):
    doubling steps, then halving, so ``n`` costs about ``2 log2 n`` calls."""
    low, step = known, 1
    while await exists(low + step):
        low, step = low + step, step * 2
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        if await exists(middle):
            low = middle
        else:
            high = middle
    return low


async def latest_run(client: Client, workflow_id: str) -> str:
    """The id of the latest run of the saga ``workflow_id`` is a run of (itself, when it
    was never rerun)."""
    base, number = run_number(workflow_id)
    latest = await highest(lambda n: _exists(client, run_id(base, n)), number)
    return run_id(base, latest)


async def _attach(client: Client, prepared: Prepared, workflow_id: str) -> Submission:
    """The submission is the saga ``workflow_id``: attach to its latest run."""
    identity = prepared.identity
    if identity.source is IdentitySource.KEY:
        started = await started_request(client.get_workflow_handle(workflow_id), dict)
        if started.get(prepared.saga.input_field) != await _as_stored(prepared):
            raise InvalidInput(
                [FieldError(identity.key_name or "idempotency key",
                            f"was used for saga {workflow_id} with a different request;"
                            " use a new key for a new request")]
            )  # fmt: skip
    handle = client.get_workflow_handle(await latest_run(client, workflow_id))
    return Submission(handle, False, state_of(await handle.describe()))


async def started_request(handle: WorkflowHandle[Any, Any], as_type: type[T]) -> T:
    """The workflow's argument as it was started (its first history event), decoded as
    ``as_type``."""
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads[:1]
        [request] = await data_converter().decode(payloads, [as_type])
        return cast(T, request)
    raise RuntimeError(f"{handle.id}: a history without its start")  # never: it comes first


async def _as_stored(prepared: Prepared) -> Any:
    """``prepared``'s input as it would be stored: through the same converter and codec."""
    converter = data_converter()
    [request] = await converter.decode(await converter.encode([prepared.request]), [dict])
    return request.get(prepared.saga.input_field)


async def final_status(handle: WorkflowHandle[Any, Any]) -> SagaStatus:
    """Wait for the saga to end and return its status document, whatever the outcome, with
    every step result in place (the stored document leaves activity results out)."""
    try:
        status = SagaStatus.model_validate(await handle.result())
    except WorkflowFailureError as err:
        cause = err.cause
        if not (isinstance(cause, ApplicationError) and cause.details):
            return timed(await query_status(handle), await handle.describe())
        status = SagaStatus.model_validate(cause.details[0])
    await restore_step_results(handle, status)
    return timed(status, await handle.describe())


def timed(status: SagaStatus, described: WorkflowExecutionDescription) -> SagaStatus:
    """``status`` with its saga's start and end, as Temporal holds them."""
    status.started_at, status.ended_at = described.start_time, described.close_time
    if status.started_at and status.ended_at:
        status.duration_seconds = round((status.ended_at - status.started_at).total_seconds(), 3)
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
