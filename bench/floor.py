"""The floor: the same shapes as the sagas with nothing in them.

``floor`` is five sequential no-op activities (the order saga's shape); ``diamond`` is
1 → 2 in parallel → 1 → 1 (the registration saga's shape). Whatever a saga costs beyond
these is the cost of the saga machinery, its activities and its services.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

NOOP_TIMEOUT = timedelta(seconds=30)
FLOOR_WORKFLOW = "BenchFloorWorkflow"
DIAMOND_WORKFLOW = "BenchDiamondWorkflow"


@activity.defn(name="bench_noop")
async def noop(value: str) -> str:
    return value


async def _step(value: str) -> str:
    return await workflow.execute_activity(noop, value, start_to_close_timeout=NOOP_TIMEOUT)


@workflow.defn(name=FLOOR_WORKFLOW)
class FloorWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        for _ in range(5):
            value = await _step(value)
        return value


@workflow.defn(name=DIAMOND_WORKFLOW)
class DiamondWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        value = await _step(value)
        left, right = await asyncio.gather(_step(value), _step(value))
        value = await _step(left if left == right else left + right)
        return await _step(value)


WORKFLOWS = [FloorWorkflow, DiamondWorkflow]
ACTIVITIES = [noop]
