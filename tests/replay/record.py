"""Record the replay fixtures: ``python -m tests.replay.record`` (after a deliberate change
of what the workflows do; see the README on changing workflows safely).

Each scenario runs the real workflow on the time-skipping test server with activity doubles
and writes its history to ``tests/replay/histories/<scenario>.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.outcomes import retryable
from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus
from plumbing.converter import PLAIN_CONVERTER
from sagas.lifecycle import query_status
from tests.conftest import _test_server_binary
from tests.workflows import registration_doubles as reg
from tests.workflows.doubles import OrderDoubles, always, fail_times
from tests.workflows.harness import saga_started
from tests.workflows.test_order_workflow import SAMPLE as ORDER
from tests.workflows.test_registration_workflow import SAMPLE as REGISTRATION

HISTORIES = Path(__file__).parent / "histories"
Handle = WorkflowHandle[Any, Any]
Drive = Callable[[WorkflowEnvironment, Handle], Awaitable[None]]


async def _until(env: WorkflowEnvironment, handle: Handle, state: SagaState) -> SagaStatus:
    for _ in range(120):
        status = await query_status(handle)
        if status.state is state:
            return status
        await env.sleep(1)
    raise AssertionError(f"{handle.id} never reached {state}")


async def _finish(env: WorkflowEnvironment, handle: Handle) -> None:
    with contextlib.suppress(WorkflowFailureError):  # compensated and cancelled sagas fail
        await handle.result()


def _intervene(action: InterventionAction, before: Callable[[], None] = lambda: None) -> Drive:
    async def drive(env: WorkflowEnvironment, handle: Handle) -> None:
        await _until(env, handle, SagaState.AWAITING_INTERVENTION)
        before()
        request = InterventionRequest(action=action, reason="replay fixture")
        await handle.execute_update("intervene", request, result_type=SagaStatus)
        await _finish(env, handle)

    return drive


async def _cancel(env: WorkflowEnvironment, handle: Handle) -> None:
    await _until(env, handle, SagaState.AWAITING_INTERVENTION)
    await handle.cancel()
    await _finish(env, handle)


def _inventory_down() -> OrderDoubles:
    return OrderDoubles(failures={"update_inventory": always(lambda: retryable("X", "no"))})


def _order_scenarios() -> dict[str, tuple[OrderDoubles, Drive]]:
    down = _inventory_down()
    return {
        "order_happy": (OrderDoubles(), _finish),
        "order_retried": (
            OrderDoubles(failures={"process_payment": fail_times(2, lambda: retryable("T", "t"))}),
            _finish,
        ),
        "order_compensated": (
            OrderDoubles(failures={"create_order": always(lambda: retryable("DB", "down"))}),
            _finish,
        ),
        "order_intervention": (down, _intervene(InterventionAction.RETRY, down.failures.clear)),
        "order_cancelled": (_inventory_down(), _cancel),
    }


def _registration_scenarios() -> dict[str, tuple[reg.FakeServices, Drive]]:
    status_down = {"users.update": reg.always(lambda: reg.status(500))}
    return {
        "registration_happy": (reg.FakeServices(), _finish),
        "registration_retried": (
            reg.FakeServices(script={"billing.create": reg.fail_times(2, lambda: reg.status(500))}),
            _finish,
        ),
        "registration_degraded": (
            reg.FakeServices(script={"preferences.create": reg.always(lambda: reg.status(500))}),
            _finish,
        ),
        "registration_intervention": (
            reg.FakeServices(script=dict(status_down)),
            _intervene(InterventionAction.RESOLVE),
        ),
        "registration_cancelled": (reg.FakeServices(script=dict(status_down)), _cancel),
    }


async def _record(env: WorkflowEnvironment, name: str, saga: str, activities: list[Any],
                  data: dict[str, Any], drive: Drive) -> None:  # fmt: skip
    queue = f"replay-{uuid.uuid4().hex[:8]}"
    async with saga_started(
        env.client, saga, activities, queue, data, workflow_id=f"replay-{name}"
    ) as handle:
        await drive(env, handle)
        history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
    print(f"recorded {name}: {len(history.events)} events")


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server_binary(), data_converter=PLAIN_CONVERTER
    )
    try:
        for name, (order_doubles, drive) in _order_scenarios().items():
            await _record(env, name, "order", order_doubles.all(), ORDER, drive)
        for name, (services, drive) in _registration_scenarios().items():
            registration_doubles = reg.RegistrationDoubles(services)
            try:
                await _record(
                    env, name, "register", registration_doubles.all(), REGISTRATION, drive
                )
            finally:
                await registration_doubles.aclose()
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
