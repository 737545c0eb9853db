"""Operating sagas: list them, read one's status, answer an intervention, cancel one, rerun
one that ended short.

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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from adapter.schema import FieldError
from models.limits import Identifier
from models.plan import OnExhausted, SagaPlan
from models.status import InterventionRefusal, InterventionRequest, SagaState, SagaStatus
from sagas.catalogue import catalogue
from sagas.descriptor import SagaDescriptor
from sagas.identity import (
    Identity,
    IdentityError,
    IdentitySource,
    customer_key,
    parse_duration,
    run_id,
    run_number,
)
from sagas.lifecycle import (
    OPEN_STATES,
    Submission,
    final_status,
    latest_run,
    query_status,
    start_as,
    started_request,
    state_of,
    timed,
)
from sagas.listing import BadCursor, Cursor, newest_first
from sagas.prepare import Prepared, plan_for, prepare
from sagas.progress import attempts_now
from workflows.visibility import CORRELATION_ID, CUSTOMER_KEY, RERUN_OF, SAGA_STATE


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


def _time_bound(value: object) -> object:
    """A duration back from now (``2h``) as that moment; a time without a zone as UTC."""
    if isinstance(value, str) and value.strip() and value.strip()[-1] in "dhms":
        try:
            return datetime.now(UTC) - parse_duration(value, "duration")
        except IdentityError:
            return value
    return value


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


TimeBound = Annotated[datetime, BeforeValidator(_time_bound), AfterValidator(_aware)]
"""A saga of the catalogue by its kind, the prefix of its workflow ids."""
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000
"""One page of Temporal's visibility API."""
QUERIES_AT_ONCE: Final = 16
QUERY_TIMEOUT: Final = timedelta(seconds=2)
"""A worker answers a status query in milliseconds; with no worker polling, a row shows no
current step after this long instead of holding up the whole list."""
_WORKFLOW_ID: Final[TypeAdapter[str]] = TypeAdapter(Identifier)


class OperationError(Exception):
    """An operation refused; the message is one line for a person."""


class SagaNotFound(OperationError):
    """No saga has this id (HTTP 404)."""


class SagaConflict(OperationError):
    """The saga is not in a state the operation applies to (HTTP 409)."""


class AnswerRefused(OperationError):
    """An intervention's answer does not fit: a result missing or of the wrong shape (422);
    ``problems`` names each by its path in the answer (``$.result.reservations``)."""

    def __init__(self, message: str, problems: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class SagaQuery(BaseModel):
    """Which sagas to list: the same fields for ``starter.py list`` and ``GET /sagas``
    (which refuses any other parameter, naming it)."""

    model_config = ConfigDict(extra="forbid")

    state: SagaState | None = None
    saga: SagaKind | None = None
    customer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """The customer's id (an order's ``customer_info.id``, a registration's email), matched
    through the keyed digest each saga publishes as ``CustomerKey``, never the plain id."""
    since: TimeBound | None = None
    """Started at or after: an ISO 8601 time (``2026-12-07T10:00Z``; no zone: UTC) or a
    duration back from now (``2h``)."""
    until: TimeBound | None = None
    """Started at or before (the same forms)."""
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    next: str | None = None
    """A page's ``next``: the page after it."""

    @field_validator("next")
    @classmethod
    def _cursor(cls, token: str | None) -> str | None:
        if token is not None:
            try:
                Cursor.parse(token)
            except BadCursor as err:
                raise PydanticCustomError("cursor", str(err)) from None
        return token


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
    rerun_of: str | None = None
    """The saga this one reruns, when it is a rerun."""
    started_at: datetime | None = None
    closed_at: datetime | None = None


class SagaList(BaseModel):
    sagas: list[SagaSummary]
    """Newest first, by start time."""
    next: str | None = None
    """The cursor of the page after this one (``--next``, ``?next=``); None on the last."""


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
    if query.customer is not None:
        clauses.append(f'{CUSTOMER_KEY.name} = "{customer_key(query.customer)}"')
    return " AND ".join(clauses)


async def list_sagas(client: Client, query: SagaQuery) -> SagaList:
    """The newest sagas matching ``query`` (by start time), at most ``query.limit``, and the
    cursor of the next page."""
    page = await newest_first(
        client,
        visibility_query(query),
        query.limit,
        since=query.since,
        until=query.until,
        after=Cursor.parse(query.next) if query.next else None,
    )
    executions = page.executions
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
    sagas = [
        SagaSummary(
            workflow_id=execution.id,
            saga=_kind_of(execution.workflow_type),
            state=state_of(execution),
            current_step=step,
            correlation_id=execution.typed_search_attributes.get(CORRELATION_ID),
            rerun_of=execution.typed_search_attributes.get(RERUN_OF),
            started_at=execution.start_time,
            closed_at=execution.close_time,
        )
        for execution, step in zip(executions, steps, strict=True)
    ]
    return SagaList(sagas=sagas, next=page.next.token() if page.next else None)


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
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
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
    if description.status is not WorkflowExecutionStatus.RUNNING:
        return await final_status(handle)
    status = timed(await query_status(handle), description)
    status.attempts_now = list((await attempts_now(description)).values())
    return status


async def _running(client: Client, workflow_id: str, doing: str) -> WorkflowHandle[Any, Any]:
    """The handle of a saga still running; SagaConflict names the state it ended in."""
    handle, description = await _describe(client, workflow_id)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        raise SagaConflict(f"{workflow_id}: the saga has ended ({state_of(description)}); {doing}")
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
        if cause.type not in _ANSWER_REFUSALS:
            raise SagaConflict(f"{workflow_id}: {cause.message}") from None
        problems = [
            FieldError(str(detail["path"]), str(detail["message"]))
            for detail in cause.details
            if isinstance(detail, dict) and {"path", "message"} <= detail.keys()
        ]
        raise AnswerRefused(f"{workflow_id}: {cause.message}", problems) from None
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


async def terminate(client: Client, workflow_id: str, reason: str) -> None:
    """End a running saga at once: no compensation runs, whatever it had done stays done
    (a charge stays charged, stock stays reserved). For a saga that cannot end any other
    way; ``cancel`` compensates."""
    handle = await _running(client, workflow_id, "nothing to terminate")
    try:
        await handle.terminate(reason=reason or "terminated by an operator")
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:  # it ended between the look and the call
            raise SagaConflict(f"{workflow_id}: the saga has ended") from None
        raise


async def rerun(
    client: Client,
    workflow_id: str,
    task_queue: str,
    data: Any = None,
    *,
    environment: str | None = None,
) -> Submission:
    """Run a saga that ended short (error, compensated, cancelled, terminated) again, as a
    new saga linked to it: ``<base>-run-<n+1>``, so every effect carries new idempotency
    keys. With ``data``, the corrected request, checked like a new one; without, the
    original request and plan. A complete saga, one still running, or one already rerun
    (rerun the latest) is refused (SagaConflict)."""
    handle, description = await _describe(client, workflow_id)
    state = state_of(description)
    if description.status is WorkflowExecutionStatus.RUNNING:
        raise SagaConflict(f"{workflow_id}: the saga is still running ({state}); nothing to rerun")
    if state == SagaState.COMPLETE.value:
        raise SagaConflict(
            f"{workflow_id}: the saga completed; a complete saga is not rerun (submit a new"
            " request for a new saga)"
        )
    latest = await latest_run(client, workflow_id)
    if latest != workflow_id:
        raise SagaConflict(f"{workflow_id}: already rerun as {latest}; rerun that one")
    saga = catalogue().of_type(description.workflow_type)
    assert saga is not None  # _describe found it in the catalogue
    if data is None:
        prepared = await _original(handle, saga)
    else:
        prepared = prepare(saga, data, environment=environment)
    plan = prepared.plan.model_copy(update={"rerun_of": workflow_id})
    base, number = run_number(workflow_id)
    new_id = run_id(base, number + 1)
    prepared = replace(
        prepared,
        identity=Identity(new_id, IdentitySource.ID),
        request=prepared.request.model_copy(update={"plan": plan}),
        plan=plan,
    )
    try:
        started = await start_as(client, prepared, new_id, task_queue)
    except WorkflowAlreadyStartedError:
        raise SagaConflict(f"{workflow_id}: already rerun as {new_id}") from None
    return Submission(started, True, SagaState.IN_PROGRESS.value)


async def _original(handle: WorkflowHandle[Any, Any], saga: SagaDescriptor) -> Prepared:
    """The saga's own request and plan, as it was started."""
    request = await started_request(handle, saga.request_class())
    plan: SagaPlan = getattr(request, "plan")  # noqa: B009 (the descriptor's contract)
    saga_input = getattr(request, saga.input_field)
    correlation_id = getattr(saga_input, "correlation_id", None)
    identity = Identity(handle.id, IdentitySource.ID)
    customer = saga.customer_of(saga_input.model_dump(mode="json"))
    key = customer_key(customer) if customer else None
    return Prepared(saga, identity, request, plan, correlation_id, key)
