"""Operating sagas: list them, read one's status, answer an intervention, cancel one.

One place for each operation, used by ``starter.py`` and the HTTP API (``frontends/api.py``),
so a terminal and a REST client get the same answers and the same refusals. Starting a saga
is :func:`sagas.prepare.prepare` then :func:`sagas.lifecycle.start_saga`, for both too.

Listing reads Temporal's visibility store (the ``SagaState`` and ``CorrelationId`` search
attributes the sagas publish); the current step of each running saga listed comes from its
``status`` query, asked for the listed rows only (``limit``, at most ``QUERIES_AT_ONCE`` at
a time, each within ``QUERY_TIMEOUT``), so a big store costs no more than the page shown.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from models.limits import Identifier
from models.plan import OnExhausted
from models.status import InterventionRefusal, InterventionRequest, SagaState, SagaStatus
from sagas.catalogue import catalogue
from sagas.descriptor import SagaDescriptor
from sagas.lifecycle import final_status, query_status
from sagas.prepare import plan_for
from workflows.visibility import CORRELATION_ID, SAGA_STATE


def _known_kind(kind: str) -> str:
    kinds = catalogue().kinds
    if kind not in kinds:
        quoted = [repr(known) for known in kinds]
        expected = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": expected}
        )
    return kind


SagaKind = Annotated[str, AfterValidator(_known_kind)]
"""A saga of the catalogue by its kind, the prefix of its workflow ids."""
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000
"""One page of Temporal's visibility API."""
QUERIES_AT_ONCE: Final = 16
QUERY_TIMEOUT: Final = timedelta(seconds=2)
"""A worker answers a status query in milliseconds; with no worker polling, a row shows no
current step after this long instead of holding up the whole list."""
OPEN_STATES: Final = frozenset({SagaState.IN_PROGRESS, SagaState.AWAITING_INTERVENTION})
_EXECUTION_STATES: Final = {
    WorkflowExecutionStatus.RUNNING: SagaState.IN_PROGRESS.value,
    WorkflowExecutionStatus.COMPLETED: SagaState.COMPLETE.value,
    WorkflowExecutionStatus.CANCELED: SagaState.CANCELLED.value,
}
"""A saga's state when it published none; other endings by the execution's own name
(``terminated``, ``timed_out``, ``failed``)."""
_WORKFLOW_ID: Final[TypeAdapter[str]] = TypeAdapter(Identifier)


class OperationError(Exception):
    """An operation refused; the message is one line for a person."""


class SagaNotFound(OperationError):
    """No saga has this id (HTTP 404)."""


class SagaConflict(OperationError):
    """The saga is not in a state the operation applies to (HTTP 409)."""


class AnswerRefused(OperationError):
    """An intervention's answer does not fit: a result missing or of the wrong shape (422)."""


class SagaQuery(BaseModel):
    """Which sagas to list: the same fields for ``starter.py list`` and ``GET /sagas``."""

    state: SagaState | None = None
    saga: SagaKind | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


class SagaSummary(BaseModel):
    """One saga in a list: what visibility holds, and the step it is on when running."""

    workflow_id: str
    saga: SagaKind
    state: str
    """A saga state (``awaiting_intervention``, …), or how the execution ended when the saga
    could not say (``terminated``, ``timed_out``)."""
    current_step: str | None = None
    """The step running or awaiting an operator; None when none (or no worker answered)."""
    correlation_id: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


class SagaList(BaseModel):
    sagas: list[SagaSummary]


def visibility_query(query: SagaQuery) -> str:
    """The list filter in Temporal's visibility language. A saga in an open state must also
    still be running: one terminated by hand keeps the state it last published."""
    sagas = [catalogue()[query.saga]] if query.saga else list(catalogue())
    types = ", ".join(f'"{saga.workflow_type}"' for saga in sagas)
    clauses = [f"WorkflowType IN ({types})"]
    if query.state is not None:
        clauses.append(f'{SAGA_STATE.name} = "{query.state.value}"')
        if query.state in OPEN_STATES:
            clauses.append('ExecutionStatus = "Running"')
    return " AND ".join(clauses)


def _state(execution: WorkflowExecution) -> str:
    """The saga's published state while it is true; otherwise the execution's own."""
    published = execution.typed_search_attributes.get(SAGA_STATE)
    running = execution.status is WorkflowExecutionStatus.RUNNING
    if published and (running or published not in OPEN_STATES):
        return published
    if execution.status is None:
        return SagaState.IN_PROGRESS.value
    return _EXECUTION_STATES.get(execution.status, execution.status.name.lower())


async def list_sagas(client: Client, query: SagaQuery) -> list[SagaSummary]:
    """The newest sagas matching ``query``, at most ``query.limit``."""
    executions = [
        execution
        async for execution in client.list_workflows(visibility_query(query), limit=query.limit)
    ]
    gate = asyncio.Semaphore(QUERIES_AT_ONCE)

    async def current_step(execution: WorkflowExecution) -> str | None:
        if execution.status is not WorkflowExecutionStatus.RUNNING:
            return None
        async with gate:
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            try:
                return (await query_status(handle, QUERY_TIMEOUT)).current_step
            except RPCError:  # no worker within the timeout, or the saga just ended
                return None

    steps = await asyncio.gather(*(current_step(execution) for execution in executions))
    return [
        SagaSummary(
            workflow_id=execution.id,
            saga=_kind_of(execution.workflow_type),
            state=_state(execution),
            current_step=step,
            correlation_id=execution.typed_search_attributes.get(CORRELATION_ID),
            started_at=execution.start_time,
            closed_at=execution.close_time,
        )
        for execution, step in zip(executions, steps, strict=True)
    ]


def _kind_of(workflow_type: str) -> str:
    saga = catalogue().of_type(workflow_type)
    return saga.kind if saga else workflow_type


@dataclass(frozen=True)
class ManualResult:
    """A step that can await an operator, and the result ``resolve`` records for it."""

    saga: SagaDescriptor
    step: str
    model: type[BaseModel]
    readers: list[str]
    """The later steps that read the result: when there are any, ``resolve`` needs one."""

    @property
    def need(self) -> str:
        """Whether ``resolve`` must carry the result here, and why (for help texts)."""
        if self.readers:
            return f"required: {', '.join(self.readers)} reads it"
        return "optional: nothing later reads it"


def manual_results() -> list[ManualResult]:
    """Every step whose config waits for an operator when it is exhausted (``on_exhausted:
    intervene``), from each saga's config and its declared steps."""
    found: list[ManualResult] = []
    for saga in catalogue():
        steps = saga.step_set()
        found += [
            ManualResult(saga, step.name, steps[step.name].result, steps.readers_of(step.name))
            for step in plan_for(saga, saga.template()).steps
            if step.on_exhausted is OnExhausted.INTERVENE and step.name in steps
        ]
    return found


async def _describe(
    client: Client, workflow_id: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecution]:
    """The saga's handle and its description; SagaNotFound when there is no such saga (an
    id no saga could have is not even looked up)."""
    missing = SagaNotFound(f"no saga with id {workflow_id!r}")
    try:
        _WORKFLOW_ID.validate_python(workflow_id)
    except ValidationError:
        raise missing from None
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise missing from None
        raise
    if catalogue().of_type(description.workflow_type) is None:
        raise missing
    return handle, description


async def saga_status(client: Client, workflow_id: str) -> SagaStatus:
    """The status document: queried while the saga runs; once it has ended, read from its
    result or failure details (every step result put back from the history), so no worker
    is needed for it (one cancelled or terminated carries none: it is queried)."""
    handle, description = await _describe(client, workflow_id)
    if description.status is WorkflowExecutionStatus.RUNNING:
        return await query_status(handle)
    return await final_status(handle)


async def _running(client: Client, workflow_id: str, doing: str) -> WorkflowHandle[Any, Any]:
    """The handle of a saga still running; SagaConflict names the state it ended in."""
    handle, description = await _describe(client, workflow_id)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        raise SagaConflict(f"{workflow_id}: the saga has ended ({_state(description)}); {doing}")
    return handle


_ANSWER_REFUSALS: Final = {InterventionRefusal.RESULT_REQUIRED, InterventionRefusal.RESULT_INVALID}
"""Refusals of the answer itself; every other refusal is about the saga's state."""


async def intervene(client: Client, workflow_id: str, request: InterventionRequest) -> SagaStatus:
    """Answer a saga in ``awaiting_intervention`` (the ``intervene`` update); returns its
    status once the answer is taken. The workflow's validator decides what fits."""
    handle = await _running(client, workflow_id, "nothing awaits an answer")
    try:
        status: SagaStatus = await handle.execute_update(
            "intervene", request, result_type=SagaStatus
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if not isinstance(cause, ApplicationError):
            raise SagaConflict(f"{workflow_id}: {err}") from None
        refused = AnswerRefused if cause.type in _ANSWER_REFUSALS else SagaConflict
        raise refused(f"{workflow_id}: {cause.message}") from None
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:  # it ended between the look and the update
            raise SagaConflict(f"{workflow_id}: the saga has ended") from None
        raise
    return status


async def cancel(client: Client, workflow_id: str) -> WorkflowHandle[Any, Any]:
    """Request cancellation: a saga past payment compensates (refund, release) before it
    ends ``cancelled``. Returns the handle, to await the outcome."""
    handle = await _running(client, workflow_id, "nothing to cancel")
    await handle.cancel()
    return handle
