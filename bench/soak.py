"""``python -m bench.soak``: orders and registrations under injected faults and worker
crashes, then the services' own records checked against how every saga ended (see
bench/README.md).

Passes (exit 0) only if every saga settled (ended, or awaits an operator with a reason),
the worker was killed as often as asked, and every money, stock, order, email and user
invariant holds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from bench.faultplan import FaultInjector, FaultReport, build_plan, kinds
from bench.invariants import AWAITING, Invariant, SagaRecord, check, read_records, read_stock
from bench.report import table
from bench.session import run_session
from bench.stack import (
    Stack,
    WorkerProcess,
    add_arguments,
    add_mix_arguments,
    check_mix,
    queue_pollers,
    wait_until_polling,
)
from bench.workload import UNFINISHED, Handle, Job, Jobs, interleave, terminate
from models.status import SagaState, SagaStatus, StepState
from plumbing.connection import TemporalSettings, connect
from plumbing.shutdown import exit_now
from sagas.lifecycle import final_status, query_status

PROG = "python -m bench.soak"
WORKER_COMMAND: Final = ("worker.py",)
STATES: Final = ("complete", "compensated", "error", "cancelled", AWAITING, UNFINISHED, "failed")
"""Table columns: the saga states, then no known end (timed out; start or read failed)."""
WATCH_INTERVAL: Final = 2.0
"""Seconds between two looks for sagas waiting for an operator."""
QUERY_RETRY: Final = 1.0
"""Seconds before asking a saga's status again (no worker answers while one restarts)."""
HISTORIES_SHOWN: Final = 10
SETTINGS: Final = (
    "orders",
    "registrations",
    "kills",
    "fault_rate",
    "lost_reply_rate",
    "refusal_rate",
    "seed",
    "timeout",
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_mix_arguments(parser)
    parser.add_argument(
        "--kills",
        type=int,
        default=2,
        help="times the worker is killed with SIGKILL and replaced (default 2)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.10,
        help="share of each operation's calls given a transient fault: 503, 502, timeout "
        "or rate limit (default 0.10)",
    )
    parser.add_argument(
        "--lost-reply-rate",
        type=float,
        default=0.05,
        help="share of each side-effecting operation's calls whose reply is lost after "
        "the write committed (default 0.05)",
    )
    parser.add_argument(
        "--refusal-rate",
        type=float,
        default=0.02,
        help="share of the calls of a charge, reservation, order, email, user creation or "
        "update, billing profile or preferences refused for good (402, 404 or 422), which "
        "sagas answer by failing, compensating, degrading or waiting for an operator "
        "(default 0.02)",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the fault plan (default: a random one, reported)"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_mix(parser, args)
    if args.kills < 0:
        parser.error("--kills must be 0 or more")
    rates = ("fault_rate", "lost_reply_rate", "refusal_rate")
    for name in rates:
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    if sum(getattr(args, name) for name in rates) > 1:
        parser.error("--fault-rate, --lost-reply-rate and --refusal-rate add up to more than 1")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    return args


@dataclass(frozen=True)
class Settled:
    """How one saga ended (or that it did not), with its status document when read."""

    job: Job
    state: str
    status: SagaStatus | None = None


@dataclass
class Soak:
    """Runs the sagas on one worker at a time, kills and replaces it, and notices sagas
    that wait for an operator (they never end by themselves)."""

    client: Client
    stack: Stack
    worker: WorkerProcess
    kills: list[dict[str, Any]] = field(default_factory=list)
    _flagged: dict[str, asyncio.Event] = field(default_factory=dict, init=False)
    _began: float = field(default_factory=time.monotonic, init=False)

    async def run(
        self, jobs: Sequence[Job], kills: int, time_limit: float, injector: FaultInjector
    ) -> list[Settled]:
        """Settle every job within ``time_limit`` seconds; the ``kills`` happen as the
        settled count passes 1/(kills+1), 2/(kills+1), … of the jobs."""
        self._began = time.monotonic()
        deadline = self._began + time_limit
        self._flagged = {job.workflow_id: asyncio.Event() for job in jobs}
        stop_injecting = asyncio.Event()
        injecting = asyncio.create_task(injector.run(stop_injecting))
        tasks = [asyncio.create_task(self._settle(job)) for job in jobs]
        thresholds = [math.ceil(len(jobs) * (i + 1) / (kills + 1)) for i in range(kills)]
        pending: set[asyncio.Task[Settled]] = set(tasks)
        next_watch = 0.0
        try:
            while pending and (left := deadline - time.monotonic()) > 0:
                _, pending = await asyncio.wait(
                    pending, timeout=min(1.0, left), return_when=asyncio.FIRST_COMPLETED
                )
                if injecting.done():
                    injecting.result()  # the injector failed: stop here, with its error
                    raise RuntimeError("the fault injector stopped early")
                settled = len(jobs) - len(pending)
                if thresholds and settled >= thresholds[0] and pending:
                    thresholds.pop(0)
                    await self._kill_and_replace(settled)
                if time.monotonic() >= next_watch:
                    await self._flag_awaiting()
                    next_watch = time.monotonic() + WATCH_INTERVAL
        finally:
            stop_injecting.set()
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await injecting
        return [
            task.result() if task.done() and not task.cancelled() else Settled(job, UNFINISHED)
            for task, job in zip(tasks, jobs, strict=True)
        ]

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._began

    async def _settle(self, job: Job) -> Settled:
        try:
            handle = await job.start(self.client, self.worker.task_queue)
            status = await self._end_of(handle, self._flagged[job.workflow_id])
        except Exception as err:  # one saga's failure is a result, not the end of the run
            return Settled(job, f"failed: {type(err).__name__}: {err}")
        return Settled(job, status.state.value, status)

    async def _end_of(self, handle: Handle, flagged: asyncio.Event) -> SagaStatus:
        """The final document, or the live one once the saga waits for an operator."""
        ended = asyncio.create_task(final_status(handle))
        waiting: asyncio.Task[Any] | None = None
        try:
            while True:
                waiting = asyncio.create_task(flagged.wait())
                done, _ = await asyncio.wait({ended, waiting}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                if ended in done:
                    return ended.result()
                status = await self._query(handle)
                if status.state is SagaState.AWAITING_INTERVENTION:
                    return status
                flagged.clear()  # the list was out of date
        finally:
            ended.cancel()
            if waiting is not None:
                waiting.cancel()

    async def _query(self, handle: Handle) -> SagaStatus:
        """The ``status`` query, asked again while no worker answers (one is restarting)."""
        while True:
            try:
                return await query_status(handle)
            except (RPCError, WorkflowQueryFailedError):
                await asyncio.sleep(QUERY_RETRY)

    async def _flag_awaiting(self) -> None:
        """Flag every saga the server lists as waiting for an operator (``SagaState``)."""
        query = (
            f'TaskQueue="{self.worker.task_queue}" AND SagaState="{AWAITING}" '
            'AND ExecutionStatus="Running"'
        )
        try:
            async for execution in self.client.list_workflows(query):
                flagged = self._flagged.get(execution.id)
                if flagged is not None:
                    flagged.set()
        except RPCError as err:
            print(f"listing sagas awaiting an operator failed: {err}", file=sys.stderr)

    async def _kill_and_replace(self, settled: int) -> None:
        """SIGKILL the worker, start a fresh one on the same queue, wait until it polls."""
        queue = self.worker.task_queue
        known = await queue_pollers(self.client, queue)
        killed, killed_at = self.worker, self.elapsed
        killed.kill()
        number = len(self.kills) + 2
        self.worker = self.stack.start_worker(f"worker-{number}", WORKER_COMMAND, queue)
        await wait_until_polling(self.client, self.worker, ignore=known)
        kill = {
            "at_s": round(killed_at, 1),
            "settled_before": settled,
            "killed_pid": killed.pid,
            "replacement_pid": self.worker.pid,
            "replacement_polling_after_s": round(self.elapsed - killed_at, 1),
        }
        self.kills.append(kill)
        print(
            f"killed worker pid {killed.pid} at {kill['at_s']} s ({settled} settled); "
            f"pid {self.worker.pid} polling {kill['replacement_polling_after_s']} s later",
            file=sys.stderr,
        )


def saga_record(settled: Settled) -> SagaRecord:
    """What the invariants need of one saga: its end, and what its input says it keeps."""
    job, status = settled.job, settled.status
    request = job.request or {}
    state = settled.state if status else settled.state.split(":", 1)[0]
    intervention = status.intervention if status else None
    reason = (
        f"{intervention.error.type}: {intervention.error.message}"
        if intervention and intervention.error
        else None
    )
    if job.kind == "registration":
        email = request["user_info"]["email"]
        return SagaRecord(job.kind, job.workflow_id, state, email=email, intervention_error=reason)
    quantities: Counter[int] = Counter()
    for line in request["cart_items"]:
        quantities[int(line["product_id"])] += int(line["quantity"])
    confirmation = status.steps.get("send_confirmation") if status else None
    return SagaRecord(
        job.kind,
        job.workflow_id,
        state,
        total=Decimal(str(request["payment_info"]["amount"])),
        quantities=dict(quantities),
        confirmation_sent=None
        if confirmation is None
        else confirmation.state is StepState.COMPLETE,
        intervention_error=reason,
    )


def _column(state: str) -> str:
    return "failed" if state.startswith("failed") else state


def counts(settled: Sequence[Settled]) -> dict[str, dict[str, int]]:
    """Sagas per kind and state (``all`` too)."""
    result: dict[str, dict[str, int]] = {}
    for kind in ("order", "registration", "all"):
        found = Counter(_column(s.state) for s in settled if kind in ("all", s.job.kind))
        result[kind] = {"sagas": found.total(), **{state: found[state] for state in STATES}}
    return result


def not_complete(settled: Sequence[Settled]) -> list[dict[str, Any]]:
    """Every saga that did not complete: where it stopped and why."""
    found = []
    for s in settled:
        if s.state == SagaState.COMPLETE.value:
            continue
        entry: dict[str, Any] = {
            "workflow_id": s.job.workflow_id,
            "kind": s.job.kind,
            "state": s.state,
        }
        if s.status is not None:
            entry["failed_steps"] = s.status.failed_steps
            entry["errors"] = {
                name: f"{step.error.type}: {step.error.message}"
                for name, step in s.status.steps.items()
                if step.error is not None
            }
            entry["compensations"] = [
                f"{c.activity}: {c.state.value}" for c in s.status.compensations
            ]
            if s.status.intervention is not None:
                entry["intervention_step"] = s.status.intervention.step
        found.append(entry)
    return found


async def history_summary(client: Client, workflow_id: str) -> list[str]:
    """A saga's history in one line per activity event (workflow tasks left out)."""
    activity_of: dict[int, str] = {}
    lines = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if name.startswith("WORKFLOW_TASK"):
            continue
        detail = ""
        if event.HasField("activity_task_scheduled_event_attributes"):
            activity = event.activity_task_scheduled_event_attributes.activity_type.name
            activity_of[event.event_id] = activity
            detail = activity
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            detail = f"{activity_of.get(started.scheduled_event_id, '?')} attempt {started.attempt}"
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            detail = activity_of.get(completed.scheduled_event_id, "?")
        elif event.HasField("activity_task_failed_event_attributes"):
            failed = event.activity_task_failed_event_attributes
            detail = f"{activity_of.get(failed.scheduled_event_id, '?')}: {failed.failure.message}"
        elif event.HasField("activity_task_timed_out_event_attributes"):
            timed_out = event.activity_task_timed_out_event_attributes
            detail = (
                f"{activity_of.get(timed_out.scheduled_event_id, '?')}: {timed_out.failure.message}"
            )
        lines.append(f"{event.event_id} {name} {detail}".rstrip())
    return lines


async def offender_histories(client: Client, invariants: Sequence[Invariant]) -> dict[str, Any]:
    """History summaries of the first sagas named by a failed invariant."""
    ids = list(
        dict.fromkeys(
            o.id
            for invariant in invariants
            for o in invariant.offenders
            if o.id.startswith(("order-", "registration-"))
        )
    )[:HISTORIES_SHOWN]
    histories: dict[str, Any] = {}
    for workflow_id in ids:
        try:
            histories[workflow_id] = await history_summary(client, workflow_id)
        except RPCError as err:
            histories[workflow_id] = [f"history unavailable: {err}"]
    return histories


async def run(args: argparse.Namespace, stack: Stack, document: dict[str, Any]) -> int:
    db_path = stack.data_dir / "services.db"
    initial_stock = read_stock(db_path)
    client = await connect(TemporalSettings(address=stack.server.address))
    worker = stack.start_worker("worker", WORKER_COMMAND)
    await wait_until_polling(client, worker)
    settings = {key: getattr(args, key) for key in SETTINGS}
    document["settings"] = settings
    print(f"seed {args.seed}", file=sys.stderr)
    plan = build_plan(
        args.seed,
        args.orders,
        args.registrations,
        args.fault_rate,
        args.lost_reply_rate,
        args.refusal_rate,
    )
    jobs = Jobs()
    sagas = interleave(
        jobs.make("order", args.orders), jobs.make("registration", args.registrations)
    )
    soak = Soak(client, stack, worker)
    async with httpx.AsyncClient(base_url=stack.services.url, timeout=30) as http:
        injector = FaultInjector(http, db_path, plan, args.seed)
        settled = await soak.run(sagas, args.kills, args.timeout, injector)
        duration = soak.elapsed
        faults = await injector.finish()
    unfinished = [s.job.workflow_id for s in settled if s.status is None]
    await terminate(client, unfinished, "soak timeout")
    invariants = check([saga_record(s) for s in settled], read_records(db_path), initial_stock)
    passed = all(i.passed for i in invariants) and len(soak.kills) == args.kills
    result = document["soak"] = {
        "duration_s": round(duration, 1),
        "counts": counts(settled),
        "faults": {"planned_by_kind": kinds(plan), **faults.as_dict()},
        "kills": soak.kills,
        "kills_done": len(soak.kills),
        "invariants": [i.as_dict() for i in invariants],
        "not_complete": not_complete(settled),
        "offender_histories": await offender_histories(client, invariants),
        "passed": passed,
    }
    print(render(result, settings, faults, invariants))
    return 0 if passed else 1


def render(
    result: dict[str, Any],
    settings: dict[str, Any],
    faults: FaultReport,
    invariants: Sequence[Invariant],
) -> str:
    by_kind = result["counts"]
    rows = [[kind, *by_kind[kind].values()] for kind in ("order", "registration", "all")]
    headers = ["kind", "sagas", *("awaiting" if s == AWAITING else s for s in STATES)]
    kills = "; ".join(
        f"at {k['at_s']} s ({k['settled_before']} settled), pid {k['killed_pid']} -> "
        f"{k['replacement_pid']} polling {k['replacement_polling_after_s']} s later"
        for k in result["kills"]
    )
    lines = [
        table(headers, rows),
        "",
        f"duration: {result['duration_s']} s (first start to the last saga settled)",
        f"faults (seed {faults.seed}): {faults.planned} planned, {faults.injected} injected, "
        f"{faults.hit} hit {faults.hit_by_kind}, {faults.pending_at_end} never hit",
        f"worker kills (SIGKILL): {result['kills_done']} of {settings['kills']}"
        + (f": {kills}" if kills else ""),
        "",
    ]
    for invariant in invariants:
        lines.append(f"{'PASS' if invariant.passed else 'FAIL'}  {invariant.name}")
        for offender in invariant.offenders[:HISTORIES_SHOWN]:
            lines.append(f"        {offender.id}: {offender.problem}")
        if len(invariant.offenders) > HISTORIES_SHOWN:
            lines.append(f"        … {len(invariant.offenders) - HISTORIES_SHOWN} more in the JSON")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_session(
        args,
        PROG,
        "soak-",
        lambda stack, document: run(args, stack, document),
        services_test_api=True,
    )


if __name__ == "__main__":
    exit_now(main())
