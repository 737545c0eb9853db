"""Live progress of a running saga, for ``--wait`` and ``status --watch``.

The status document says which step runs, but not what Temporal alone knows while a step
is retried: its activity's current attempt, last failure and when the next attempt starts
(the pending activity in ``describe``). Polling both once a second gives a line per event:
a step starting, an attempt failing (its error, and when the next one starts), a step
finishing, a compensation, an operator awaited. On a terminal the last line is redrawn in
place with what the saga waits for now; elsewhere the output is plain lines only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.exceptions import ApplicationError, TimeoutError
from temporalio.service import RPCError

from models.plan import STEP_LIMIT
from models.status import (
    AttemptNow,
    CompensationStatus,
    Intervention,
    InterventionRequest,
    SagaState,
    SagaStatus,
    StepState,
    StepStatus,
)
from models.times import clock, span, stamp
from plumbing.converter import data_converter
from sagas.lifecycle import final_status
from workflows.visibility import error_text, intervene_call, intervene_command

POLL_INTERVAL = 1.0
QUERY_TIMEOUT = timedelta(seconds=5)
"""A query needs a worker: without one it fails after this, and the next poll tries again."""


@dataclass(frozen=True)
class Snapshot:
    """What one poll saw: the status document and the pending activities by type."""

    status: SagaStatus
    pending: Mapping[str, AttemptNow]


def _failure_text(error: BaseException) -> str:
    if isinstance(error, ApplicationError):
        return f"{error.type or 'ApplicationError'}: {error.message}"
    if isinstance(error, TimeoutError):
        return f"ActivityTimeout: {error.message}"
    return f"{type(error).__name__}: {error}"


def _time(value: Any) -> datetime | None:
    """A protobuf timestamp as an aware datetime; None when unset."""
    return value.ToDatetime(tzinfo=UTC) if value.seconds or value.nanos else None


async def _failures(info: PendingActivityInfo) -> dict[str, int]:
    """The failure counts the activity left in its heartbeat details, if any."""
    if not info.HasField("heartbeat_details") or not info.heartbeat_details.payloads:
        return {}
    [details] = await data_converter().decode(info.heartbeat_details.payloads[:1])
    if not isinstance(details, dict):
        return {}
    return {str(kind): count for kind, count in details.items() if isinstance(count, int)}


async def _pending_attempt(info: PendingActivityInfo) -> AttemptNow:
    failure = None
    if info.HasField("last_failure"):
        failure = _failure_text(await data_converter().decode_failure(info.last_failure))
    return AttemptNow(
        failures=await _failures(info),
        activity=info.activity_type.name,
        attempt=info.attempt,
        maximum_attempts=info.maximum_attempts,
        running=info.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        last_failure=failure,
        next_attempt_at=_time(info.next_attempt_schedule_time),
        started_at=_time(info.last_started_time),
    )


async def attempts_now(described: WorkflowExecutionDescription) -> dict[str, AttemptNow]:
    infos = described.raw_description.pending_activities
    return {info.activity_type.name: await _pending_attempt(info) for info in infos}


async def pending_attempts(handle: WorkflowHandle[Any, Any]) -> dict[str, AttemptNow]:
    """The saga's pending activities (running, or waiting for their next attempt)."""
    return await attempts_now(await handle.describe())


# -- rendering (pure) ------------------------------------------------------------------------


def _label(status: SagaStatus, activity: str) -> str:
    """The step an activity runs (compensations are named with the step they undo)."""
    if activity in status.steps:
        return activity
    undo = next((c for c in status.compensations if c.activity == activity), None)
    return f"{activity} (undo {undo.for_step})" if undo else activity


def _step_of(status: SagaStatus, attempt: AttemptNow) -> StepStatus | None:
    return status.steps.get(attempt.activity)


def _attempt_number(status: SagaStatus, attempt: AttemptNow, number: int) -> str:
    """``attempt 2 of 2`` against the step's own limit (``round 2, …`` after an operator's
    retry); once an outage strategy has counted failures, its budget too, separately."""
    step = _step_of(status, attempt)
    limit = step.attempt_limit if step and step.attempt_limit else attempt.maximum_attempts
    which = (
        f"round {step.round}, attempt {number}" if step and step.round > 1 else f"attempt {number}"
    )
    outage = {kind: count for kind, count in attempt.failures.items() if kind != STEP_LIMIT}
    if not outage:
        return f"{which} of {limit}" if limit else which
    budgets = "; ".join(
        f"{kind} outage budget {attempt.maximum_attempts}: {count} failed"
        for kind, count in sorted(outage.items())
    )
    return f"{which} (step limit {limit}: {attempt.failures.get(STEP_LIMIT, 0)} failed; {budgets})"


def _next_attempt(status: SagaStatus, attempt: AttemptNow, now: datetime) -> str:
    """What happens next: the attempt running, or when it starts."""
    which = _attempt_number(status, attempt, attempt.attempt)
    if attempt.running:
        since = f" since {clock(attempt.started_at)}" if attempt.started_at else ""
        return f"{which} running{since}"
    if attempt.next_attempt_at:
        wait = (attempt.next_attempt_at - now).total_seconds()
        return f"{which} at {clock(attempt.next_attempt_at)} (in {span(wait)})"
    return f"{which} waiting for a worker"


def attempt_line(
    status: SagaStatus, attempt: AttemptNow, now: datetime, first_failed: int | None = None
) -> str:
    """One pending activity: its last failure, if any, and the attempt running or next.
    ``first_failed``: the first failed attempt not reported yet (a poll may miss some)."""
    label = _label(status, attempt.activity)
    if not (attempt.last_failure and attempt.attempt > 1):
        return f"{label}: {_next_attempt(status, attempt, now)}"
    last = attempt.attempt - 1
    first = min(first_failed or last, last)
    step = _step_of(status, attempt)
    round_ = f"round {step.round}, " if step and step.round > 1 else ""
    failed = (
        f"{round_}attempt {last} failed"
        if first == last
        else f"{round_}attempts {first}-{last} failed, the last"
    )
    return f"{label}: {failed}: {attempt.last_failure}; {_next_attempt(status, attempt, now)}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _step_line(name: str, step: StepStatus, before: StepState) -> str | None:
    attempts = _plural(step.attempts, "attempt")
    if step.round > 1:
        attempts += f" in {step.round} rounds"
    match step.state:
        case StepState.IN_PROGRESS:
            again = f" again (round {step.round})" if before is StepState.ERROR else ""
            return f"▶ {name} started{again}"
        case StepState.COMPLETE:
            return f"✓ {name} complete ({attempts})"
        case StepState.ERROR:
            return f"✗ {name} failed after {attempts}: {error_text(step.error)}"
        case StepState.SKIPPED:
            return f"» {name} skipped"
        case StepState.RESOLVED_MANUALLY:
            return f"✓ {name} resolved manually"
        case StepState.COMPENSATED:
            return f"↩ {name} compensated"
    return None


def _undo_line(undo: CompensationStatus) -> str | None:
    what = f"↩ {undo.activity} (undo {undo.for_step})"
    match undo.state:
        case StepState.IN_PROGRESS:
            return f"{what} started"
        case StepState.COMPLETE:
            return f"{what} done"
        case StepState.ERROR:
            return f"{what} failed: {error_text(undo.error)}"
    return None


def _awaiting_lines(status: SagaStatus) -> list[str]:
    intervention = status.intervention
    if intervention is None:
        return [f"⏸ {status.workflow_id} awaits an operator"]
    return [
        f"⏸ {intervention.step} awaits an operator: {error_text(intervention.error)}",
        *(f"  {line}" for line in intervention_lines(status.workflow_id, intervention)),
    ]


def intervention_lines(workflow_id: str, intervention: Intervention) -> list[str]:
    """What an operator needs: the answers allowed, the deadline and what happens then, and
    the exact command and API call that answer."""
    allowed = [action.value for action in intervention.allowed]
    then = (
        f", then {intervention.on_timeout.value} automatically" if intervention.on_timeout else ""
    )
    return [
        f"allowed: {', '.join(allowed)}; until {stamp(intervention.deadline)}{then}",
        f"run: {intervene_command(workflow_id, allowed)}",
        f"or:  {intervene_call(workflow_id, allowed)}",
    ]


def _answered(before: SagaState, status: SagaStatus) -> list[str]:
    """The operator's answer, once the saga no longer waits for it."""
    decision = status.intervention.decision if status.intervention else None
    if before is not SagaState.AWAITING_INTERVENTION or status.state is before or not decision:
        return []
    return [f"▶ {answer_text(decision)}"]


def answer_text(decision: InterventionRequest) -> str:
    """``alice answered retry ("stock arrived")``."""
    reason = f" ({json.dumps(decision.reason)})" if decision.reason else ""
    return f"{decision.operator} answered {decision.action.value}{reason}"


def _saga_lines(before: SagaState, status: SagaStatus) -> list[str]:
    if status.state is before or status.state is SagaState.IN_PROGRESS:
        return []
    if status.state is SagaState.AWAITING_INTERVENTION:
        return _awaiting_lines(status)
    return [f"■ saga {status.state.value}"]


def _attempt_lines(previous: Snapshot | None, current: Snapshot, now: datetime) -> list[str]:
    """A line per pending activity whose attempt moved on since the last poll."""
    lines = []
    for activity, attempt in current.pending.items():
        seen = previous.pending.get(activity) if previous else None
        if attempt.attempt <= 1 or not attempt.last_failure:
            continue
        if seen is not None and seen.attempt >= attempt.attempt:
            continue
        first = seen.attempt if seen else 1
        lines.append(f"  {attempt_line(current.status, attempt, now, first)}")
    return lines


def changes(previous: Snapshot | None, current: Snapshot, now: datetime) -> list[str]:
    """The events between two polls, in the order a reader wants them: steps that started
    or ended, attempts that failed, compensations, then the saga's own state."""
    before = previous.status if previous else None
    was = before.state if before else SagaState.IN_PROGRESS
    lines = _answered(was, current.status)
    for name, step in current.status.steps.items():
        earlier = before.steps.get(name) if before else None
        step_was = earlier.state if earlier else StepState.PENDING
        if step.state is not step_was and (line := _step_line(name, step, step_was)):
            lines.append(line)
    lines += _attempt_lines(previous, current, now)
    undone = before.compensations if before else []
    for index, undo in enumerate(current.status.compensations):
        earlier_undo = undone[index] if index < len(undone) else None
        if (earlier_undo is None or earlier_undo.state is not undo.state) and (
            line := _undo_line(undo)
        ):
            lines.append(line)
    lines += _saga_lines(was, current.status)
    return lines


def waiting_line(current: Snapshot, now: datetime) -> str:
    """What the saga waits for right now (a terminal's redrawn last line)."""
    status = current.status
    if status.state is SagaState.AWAITING_INTERVENTION and status.intervention:
        left = (status.intervention.deadline - now).total_seconds()
        return f"… {status.intervention.step} awaits an operator (deadline in {span(left)})"
    waits = []
    for attempt in current.pending.values():
        label = _label(status, attempt.activity)
        which = _attempt_number(status, attempt, attempt.attempt)
        if attempt.running and attempt.started_at:
            running = (now - attempt.started_at).total_seconds()
            waits.append(f"{label}: {which} running for {span(running)}")
        elif attempt.next_attempt_at:
            waits.append(
                f"{label}: {which} in {span((attempt.next_attempt_at - now).total_seconds())}"
            )
    return f"… {'; '.join(waits)}" if waits else ""


# -- following a saga ------------------------------------------------------------------------


class Printer:
    """Event lines, plus on a terminal one transient line redrawn in place."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        self._shown = False

    def lines(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        self._clear()
        for line in lines:
            print(line, file=self.out)
        self.out.flush()

    def transient(self, text: str) -> None:
        if not self.live:
            return
        self._clear()
        if text:
            width = shutil.get_terminal_size().columns - 1
            self.out.write(text[:width])
            self._shown = True
        self.out.flush()

    def _clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self._shown = False


async def _snapshot(
    handle: WorkflowHandle[Any, Any], described: WorkflowExecutionDescription
) -> Snapshot | None:
    """The status and pending activities now; None when no worker answered the query."""
    try:
        raw = await handle.query("status", rpc_timeout=QUERY_TIMEOUT)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, RPCError):
        return None
    return Snapshot(SagaStatus.model_validate(raw), await attempts_now(described))


async def _ended(handle: WorkflowHandle[Any, Any]) -> None:
    """Returns when the saga's workflow closes, however it ends."""
    with contextlib.suppress(WorkflowFailureError, RPCError):  # final_status reports them
        await handle.result()


async def follow(
    handle: WorkflowHandle[Any, Any], out: TextIO, *, interval: float = POLL_INTERVAL
) -> SagaStatus:
    """Print the saga's progress on ``out`` until it ends; return its final status. Polls
    every ``interval`` seconds, and stops as soon as the workflow closes."""
    printer = Printer(out)
    previous: Snapshot | None = None
    ended = asyncio.ensure_future(_ended(handle))
    try:
        while not ended.done():
            described = await handle.describe()
            if described.status is not WorkflowExecutionStatus.RUNNING:
                break
            current = await _snapshot(handle, described)
            now = datetime.now(UTC)
            if current is None:
                printer.transient("… waiting for a worker to answer")
            else:
                printer.lines(changes(previous, current, now))
                printer.transient(waiting_line(current, now))
                previous = current
            await asyncio.wait([ended], timeout=interval)
    finally:
        ended.cancel()
    status = await final_status(handle)
    printer.transient("")
    printer.lines(changes(previous, Snapshot(status, {}), datetime.now(UTC)))
    return status


async def outcome(handle: WorkflowHandle[Any, Any], out: TextIO | None) -> SagaStatus:
    """The saga's final status; its progress is printed on ``out`` meanwhile, if given."""
    return await (final_status(handle) if out is None else follow(handle, out))
