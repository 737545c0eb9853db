"""Run a batch of jobs and measure it: wall time, latencies, CPU and memory of the
processes under test, and what the histories say."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from temporalio.client import Client

from bench.history import HistoryScan, scan
from bench.procstats import Memory, cpu_seconds, memory
from bench.workload import Job, Outcome, run_jobs, terminate_unfinished

CLIENT = "client"
"""The benchmark process itself: it starts and awaits every workflow on the same cores."""


@dataclass(frozen=True)
class Batch:
    """What one batch measured; ``report.batch_summary`` turns it into plain data."""

    outcomes: list[Outcome]
    wall: float
    """From the first start call to the last result (to the timeout, when it struck)."""
    timed_out: bool
    cpu: dict[str, float]
    """CPU seconds each process (with its descendants) used during the batch, by role."""
    memory: dict[str, Memory]
    """Each process's memory right after the batch, by role."""
    history: HistoryScan


def _own_cpu() -> float:
    """This process alone: its children are the processes under test, counted apart."""
    times = os.times()
    return times.user + times.system


def _cpu(pids: Mapping[str, int]) -> dict[str, float]:
    return {CLIENT: _own_cpu(), **{role: cpu_seconds(pid) for role, pid in pids.items()}}


async def measure(
    client: Client,
    jobs: Sequence[Job],
    queue: str,
    pids: Mapping[str, int],
    *,
    concurrent: bool,
    time_limit: float,
) -> Batch:
    """Run ``jobs`` on ``queue``; metre the processes in ``pids`` (role → PID)."""
    before = _cpu(pids)
    began = time.monotonic()
    outcomes = await run_jobs(client, jobs, queue, concurrent=concurrent, time_limit=time_limit)
    after = _cpu(pids)
    timed_out = any(outcome.finished_at is None for outcome in outcomes)
    ends = [outcome.finished_at for outcome in outcomes if outcome.finished_at is not None]
    wall = (time.monotonic() if timed_out or not ends else max(ends)) - began
    if timed_out:
        await terminate_unfinished(client, outcomes)
    return Batch(
        outcomes=outcomes,
        wall=wall,
        timed_out=timed_out,
        cpu={role: after[role] - before[role] for role in after},
        memory={role: memory(pid) for role, pid in pids.items()},
        history=await scan(client, outcomes),
    )
