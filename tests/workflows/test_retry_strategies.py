"""Tasker's ``retry_strategies`` at run time: per-error-type limits and delay curves.

Temporal has one exponential policy per activity; the activity wrapper applies a matching
strategy through ``next_retry_delay`` and stops at the strategy's limit, while other
retryable errors keep the step's own limit (config/order_processing.yaml: payment_timeout
covers SERVICE_TIMEOUT on process_payment, inventory_conflict covers INVENTORY_CONFLICT on
update_inventory).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.outcomes import retryable
from adapter.loader import load_template
from models.status import SagaState, SagaStatus
from sagas.lifecycle import final_status, query_status
from tests.workflows.doubles import OrderDoubles, always
from tests.workflows.harness import saga_started

ROOT = Path(__file__).resolve().parents[2]
SAMPLE: dict[str, Any] = json.loads((ROOT / "examples" / "order_sample.json").read_text())


def gaps(calls: list[tuple[str, int, datetime]], step: str) -> list[float]:
    times = [when for name, _, when in calls if name == step]
    return [(later - earlier).total_seconds() for earlier, later in pairwise(times)]


async def run(
    client: Client, doubles: OrderDoubles, task_queue: str, config: Path | None = None
) -> SagaStatus:
    template = load_template(config) if config else None
    async with saga_started(
        client, "order", doubles.all(), task_queue, SAMPLE,
        workflow_id=f"order-{task_queue}", template=template,
    ) as handle:  # fmt: skip
        return await final_status(handle)


async def test_payment_timeout_follows_its_strategy(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"process_payment": always(lambda: retryable("SERVICE_TIMEOUT", "gateway"))}
    )
    status = await run(ts_env.client, doubles, task_queue)

    assert status.state is SagaState.ERROR
    assert doubles.attempts["process_payment"] == 5
    payment = status.steps["process_payment"]
    assert payment.attempts == 5
    assert payment.error is not None
    assert "strategy payment_timeout: 5 attempts" in payment.error.message
    # exponential, base 2 s, cap 60 s, ±10 % jitter: 2, 4, 8, 16
    for gap, expected in zip(gaps(doubles.calls, "process_payment"), [2, 4, 8, 16], strict=True):
        assert expected * 0.9 <= gap <= expected * 1.1 + 1, (gap, expected)


async def test_other_retryable_errors_keep_the_step_limit(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"process_payment": always(lambda: retryable("SERVICE_ERROR", "500"))}
    )
    status = await run(ts_env.client, doubles, task_queue)

    assert status.state is SagaState.ERROR
    assert doubles.attempts["process_payment"] == 3
    assert status.steps["process_payment"].attempts == 3
    error = status.steps["process_payment"].error
    assert error is not None
    assert error.non_retryable is False
    assert "step limit: 3 attempts" in error.message


async def test_a_step_without_rules_takes_its_limit_from_the_retry_policy(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Without retry strategies, validate_cart gets no rules argument at all."""
    config = yaml.safe_load((ROOT / "config" / "order_processing.yaml").read_text())
    del config["retry_strategies"]
    bare = tmp_path / "order_processing.yaml"
    bare.write_text(yaml.safe_dump(config))
    doubles = OrderDoubles(
        failures={"validate_cart": always(lambda: retryable("SERVICE_UNAVAILABLE", "503"))}
    )
    status = await run(ts_env.client, doubles, task_queue, bare)

    assert status.state is SagaState.ERROR
    assert doubles.attempts["validate_cart"] == 3
    error = status.steps["validate_cart"].error
    assert error is not None
    assert "step limit: 3 attempts" in error.message


async def test_an_outage_is_ridden_out_for_minutes(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Refused connections for 3 minutes (a margin below the 5-minute budget: the last
    failed attempt may wait up to 66 s more): validate_cart keeps retrying (exponential to 60 s)
    and the order completes."""
    first_attempt: list[datetime] = []

    def down(attempt: int) -> ApplicationError | None:
        started = activity.info().started_time
        first_attempt.append(started)
        if started < first_attempt[0] + timedelta(minutes=3):
            return retryable("SERVICE_UNAVAILABLE", "connection refused")
        return None

    doubles = OrderDoubles(failures={"validate_cart": down})
    status = await run(ts_env.client, doubles, task_queue)

    assert status.state is SagaState.COMPLETE
    attempts = doubles.attempts["validate_cart"]
    assert 6 <= attempts <= 12
    assert status.steps["validate_cart"].attempts == attempts
    # 1, 2, 4, 8, 16, 32, then 60 s at most (±10 %)
    curve = [1, 2, 4, 8, 16, 32, 60]
    for gap, expected in zip(gaps(doubles.calls, "validate_cart"), curve, strict=False):
        assert expected * 0.9 <= gap <= expected * 1.1 + 3, (gap, expected)  # + a late pickup


async def test_an_outage_does_not_use_up_the_steps_own_limit(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """update_inventory may fail twice of its own accord (limit 2); two attempts lost to an
    outage before one business failure leave it one more try, and it completes."""
    script = {
        1: retryable("SERVICE_UNAVAILABLE", "connection refused"),
        2: retryable("SERVICE_TIMEOUT", "timed out"),
        3: retryable("SERVICE_ERROR", "500"),
    }
    doubles = OrderDoubles(failures={"update_inventory": lambda attempt: script.get(attempt)})
    status = await run(ts_env.client, doubles, task_queue)

    assert status.state is SagaState.COMPLETE, status.model_dump_json(indent=2)
    assert doubles.attempts["update_inventory"] == 4
    assert status.steps["update_inventory"].attempts == 4


async def test_an_outage_longer_than_the_budget_fails_the_step(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = OrderDoubles(
        failures={"validate_cart": always(lambda: retryable("SERVICE_UNAVAILABLE", "503"))}
    )
    status = await run(ts_env.client, doubles, task_queue)

    assert status.state is SagaState.ERROR
    calls = [when for name, _, when in doubles.calls if name == "validate_cart"]
    # the last attempt starts within one maximal delay (60 s, +10 % jitter) of the budget
    assert 300 - 66 <= (calls[-1] - calls[0]).total_seconds() <= 300
    error = status.steps["validate_cart"].error
    assert error is not None
    assert "strategy infrastructure: 300 s budget" in error.message


async def test_changing_a_number_in_the_config_changes_behaviour(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    config = yaml.safe_load((ROOT / "config" / "order_processing.yaml").read_text())
    for step in config["step_templates"]:
        if step["name"] == "process_payment":
            step["default_retry_limit"] = 4
    changed = tmp_path / "order_processing.yaml"
    changed.write_text(yaml.safe_dump(config))
    doubles = OrderDoubles(
        failures={"process_payment": always(lambda: retryable("SERVICE_ERROR", "500"))}
    )
    status = await run(ts_env.client, doubles, task_queue, changed)

    assert doubles.attempts["process_payment"] == 4
    assert status.steps["process_payment"].attempts == 4


async def linear_inventory_gaps(
    client: Client, task_queue: str, advance: Callable[[], Awaitable[None]], measure: str
) -> list[float]:
    """Run until update_inventory is exhausted (3 INVENTORY_CONFLICT failures) and return
    the gaps between its attempts, from ``measure`` ("started" or "scheduled" times)."""
    doubles = OrderDoubles(
        failures={"update_inventory": always(lambda: retryable("INVENTORY_CONFLICT", "busy"))}
    )
    async with saga_started(
        client, "order", doubles.all(), task_queue, SAMPLE,
        workflow_id=f"order-linear-{task_queue}",
    ) as handle:  # fmt: skip
        for _ in range(200):  # bounded poll of the status query
            status = await query_status(handle)
            if status.state is SagaState.AWAITING_INTERVENTION:
                break
            await advance()
        await handle.terminate("test done")
    assert status.state is SagaState.AWAITING_INTERVENTION
    assert status.steps["update_inventory"].attempts == 3
    return gaps(doubles.calls if measure == "started" else doubles.scheduled, "update_inventory")


def assert_linear(measured: list[float]) -> None:
    """Linear, base 1 s: 1 s then 2 s, each ±10 % (plus a little scheduling slack)."""
    assert len(measured) == 2
    for gap, expected in zip(measured, [1.0, 2.0], strict=True):
        assert expected * 0.9 - 0.05 <= gap <= expected * 1.1 + 0.25, (measured, expected)


async def test_inventory_conflict_is_linear_on_the_dev_server(
    dev_client: Client, task_queue: str
) -> None:
    """Real time, measured from each attempt's ``current_attempt_scheduled_time``."""

    async def poll() -> None:
        await asyncio.sleep(0.1)

    assert_linear(await linear_inventory_gaps(dev_client, task_queue, poll, "scheduled"))


async def test_inventory_conflict_is_linear_in_skipped_time(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The time-skipping server stamps a retry as scheduled when the previous attempt fails
    (before the backoff), so here the attempts' actual start times are measured."""

    async def skip() -> None:
        await ts_env.sleep(1)

    assert_linear(await linear_inventory_gaps(ts_env.client, task_queue, skip, "started"))
