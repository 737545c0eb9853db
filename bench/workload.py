"""Workflows to run, started the way their users start them, timed from start call to result.

Sagas go through ``sagas.prepare.prepare`` and ``sagas.lifecycle.start_saga`` /
``final_status`` exactly as ``starter.py`` does; the floor workflows are plain
``start_workflow`` / ``result`` calls. Every saga gets its own workflow id (a unique
correlation id per order, a unique email per registration).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from adapter.models import TaskTemplate
from bench.floor import DIAMOND_WORKFLOW, FLOOR_WORKFLOW
from models.status import SagaState
from plumbing.processes import PROJECT_ROOT
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare

KINDS: Final = ("floor", "order", "diamond", "registration")
BASELINES: Final = {"order": "floor", "registration": "diamond"}
"""Each saga and the floor workflow of its shape."""
SERVED_BY: Final = {
    "floor": "floor_worker",
    "diamond": "floor_worker",
    "order": "worker",
    "registration": "worker",
}
COMPLETE: Final = SagaState.COMPLETE.value
UNFINISHED: Final = "unfinished"

_FLOOR_NAMES: Final = {"floor": FLOOR_WORKFLOW, "diamond": DIAMOND_WORKFLOW}
_SAGA_SAMPLES: Final = {
    "order": ("order", "order_sample.json"),
    "registration": ("register", "registration_sample.json"),
}

Handle = WorkflowHandle[Any, Any]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    """One workflow to run: how to start it and how to read how it ended."""

    kind: str
    workflow_id: str
    start: Callable[[Client, str], Awaitable[Handle]]
    finish: Callable[[Handle], Awaitable[str]]
    request: Mapping[str, Any] | None = None
    """A saga's input, as the starter would read it from a file (None for the floor)."""


@dataclass(frozen=True)
class Outcome:
    """How one job ended (a saga state, ``unfinished``, or ``failed: …``) and how long it
    took from the start call to the result."""

    job: Job
    state: str
    latency: float | None = None
    finished_at: float | None = None

    @property
    def completed(self) -> bool:
        return self.state == COMPLETE


class Jobs:
    """Makes jobs of every kind; each saga template is loaded once, each id is fresh."""

    def __init__(self) -> None:
        self._run = uuid.uuid4().hex[:8]
        self._serial = itertools.count()
        self._templates: dict[str, TaskTemplate] = {}

    def make(self, kind: str, count: int) -> list[Job]:
        return [self._one(kind, f"{self._run}-{next(self._serial)}") for _ in range(count)]

    def _one(self, kind: str, unique: str) -> Job:
        if kind in _FLOOR_NAMES:
            return _floor_job(kind, _FLOOR_NAMES[kind], f"bench-{kind}-{unique}")
        saga_name, sample = _SAGA_SAMPLES[kind]
        data = copy.deepcopy(_sample(sample))
        if kind == "order":
            data["correlation_id"] = f"bench-{unique}"
        else:
            data["user_info"]["email"] = f"bench-{unique}@example.com"
        descriptor = saga(saga_name)
        if kind not in self._templates:
            self._templates[kind] = descriptor.template()
        prepared = prepare(descriptor, data, template=self._templates[kind])

        async def start(client: Client, queue: str) -> Handle:
            handle = (await start_saga(client, prepared, queue)).handle
            return handle

        async def finish(handle: Handle) -> str:
            return (await final_status(handle)).state.value

        return Job(kind, prepared.workflow_id, start, finish, data)


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PROJECT_ROOT / "examples" / name).read_text())
    return data


def _floor_job(kind: str, workflow_name: str, workflow_id: str) -> Job:
    value = workflow_id

    async def start(client: Client, queue: str) -> Handle:
        return await client.start_workflow(workflow_name, value, id=workflow_id, task_queue=queue)

    async def finish(handle: Handle) -> str:
        return COMPLETE if await handle.result() == value else "wrong_result"

    return Job(kind, workflow_id, start, finish)


def interleave(*groups: Sequence[Job]) -> list[Job]:
    """Jobs of several groups, mixed evenly, so every kind starts throughout the burst."""
    placed = [
        (index / len(group), order, job)
        for order, group in enumerate(groups)
        for index, job in enumerate(group)
    ]
    return [job for _, _, job in sorted(placed, key=lambda item: (item[0], item[1]))]


async def run_job(client: Client, job: Job, queue: str) -> Outcome:
    started = time.monotonic()
    try:
        state = await job.finish(await job.start(client, queue))
    except Exception as err:  # one saga's failure is a result, not the end of the run
        state = f"failed: {type(err).__name__}: {err}"
    finished = time.monotonic()
    return Outcome(job, state, finished - started, finished)


async def run_jobs(
    client: Client, jobs: Sequence[Job], queue: str, *, concurrent: bool, time_limit: float
) -> list[Outcome]:
    """Run every job, all at once or one after the other; what is not done within
    ``time_limit`` seconds is ``unfinished`` (and no longer awaited)."""
    if not jobs:
        return []
    if concurrent:
        tasks = [asyncio.create_task(run_job(client, job, queue)) for job in jobs]
        await asyncio.wait(tasks, timeout=time_limit)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return [
            task.result() if task.done() and not task.cancelled() else Outcome(job, UNFINISHED)
            for task, job in zip(tasks, jobs, strict=True)
        ]
    deadline = time.monotonic() + time_limit
    outcomes = []
    for job in jobs:
        try:
            remaining = deadline - time.monotonic()
            outcomes.append(await asyncio.wait_for(run_job(client, job, queue), remaining))
        except TimeoutError:
            outcomes.append(Outcome(job, UNFINISHED))
    return outcomes


async def bounded(fn: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int) -> list[R]:
    """``fn`` over ``items``, at most ``limit`` at a time (kind to the server under test)."""
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await fn(item)

    return await asyncio.gather(*(one(item) for item in items))


async def terminate(client: Client, workflow_ids: Iterable[str], reason: str) -> None:
    """Terminate workflows that may still run, 20 calls at a time."""

    async def one(workflow_id: str) -> None:
        with contextlib.suppress(RPCError):  # never started, or ended meanwhile
            await client.get_workflow_handle(workflow_id).terminate(reason=reason)

    await bounded(one, workflow_ids, 20)


async def terminate_unfinished(client: Client, outcomes: Sequence[Outcome]) -> None:
    """Stop what a timed-out round left running, so it does not load the next round."""
    unfinished = [o.job.workflow_id for o in outcomes if o.state == UNFINISHED]
    await terminate(client, unfinished, "benchmark timeout")
