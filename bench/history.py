"""What the histories of a round's workflows say: their size, and whether any workflow
task timed out or failed (the sign of a worker too slow for its load)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError

from bench.workload import Outcome, bounded

BYTES_MEASURE = "serialized protobuf size of the workflow's History message (ByteSize)"
FETCH_CONCURRENCY = 20


@dataclass(frozen=True)
class _One:
    completed: bool
    events: int
    size: int
    task_timeouts: Counter[str]
    task_failures: int


@dataclass(frozen=True)
class HistoryScan:
    """Mean history size over the completed workflows, task problems over all of them."""

    fetched: int
    missing: int
    mean_events: float | None
    mean_bytes: float | None
    task_timeouts: int
    task_timeouts_by_type: dict[str, int]
    """``SCHEDULE_TO_START`` is a sticky queue given up on (the task went to the normal
    queue); ``START_TO_CLOSE`` is a worker that took a task and did not answer in time."""
    task_failures: int
    workflows_with_task_problems: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bytes_measure": BYTES_MEASURE}


def _facts(completed: bool, events: Sequence[HistoryEvent]) -> _One:
    timeouts = Counter(
        TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type).removeprefix(
            "TIMEOUT_TYPE_"
        )
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    )
    return _One(
        completed=completed,
        events=len(events),
        size=History(events=events).ByteSize(),
        task_timeouts=timeouts,
        task_failures=sum(
            1 for event in events if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ),
    )


async def scan(client: Client, outcomes: Sequence[Outcome]) -> HistoryScan:
    """Every outcome's history, ``FETCH_CONCURRENCY`` at a time."""

    async def fetch(outcome: Outcome) -> _One | None:
        handle = client.get_workflow_handle(outcome.job.workflow_id)
        try:
            history = await handle.fetch_history()
        except RPCError:
            return None  # the start itself failed
        return _facts(outcome.completed, history.events)

    found = [one for one in await bounded(fetch, outcomes, FETCH_CONCURRENCY) if one]
    completed = [one for one in found if one.completed]
    return HistoryScan(
        fetched=len(found),
        missing=len(outcomes) - len(found),
        mean_events=fmean(one.events for one in completed) if completed else None,
        mean_bytes=fmean(one.size for one in completed) if completed else None,
        task_timeouts=sum(one.task_timeouts.total() for one in found),
        task_timeouts_by_type=dict(sum((one.task_timeouts for one in found), Counter[str]())),
        task_failures=sum(one.task_failures for one in found),
        workflows_with_task_problems=sum(
            1 for one in found if one.task_timeouts.total() or one.task_failures
        ),
    )
