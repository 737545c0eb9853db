"""Issue 10, item 5, on the time-skipping server: ``resolve`` refuses a missing result that
later steps need (an order resolved without its reservation used to be compensated), the
refusals reach callers by kind (sagas/operations.py: 409 or 422), and a step that
completes after an operator's retry keeps its old error as earlier, not as its own."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from frontends.report import render_status
from models.order import InventoryResult
from models.status import (
    InterventionAction,
    InterventionRefusal,
    InterventionRequest,
    SagaState,
    StepState,
)
from sagas.lifecycle import final_status, query_status
from sagas.operations import AnswerRefused, SagaConflict, intervene, saga_status
from tests.workflows.doubles import NOW
from tests.workflows.test_order_workflow import awaiting, inventory_down, started, wait_until

RESOLVE = InterventionRequest(action=InterventionAction.RESOLVE, reason="done by hand")
COMPENSATE = InterventionRequest(action=InterventionAction.COMPENSATE)


async def test_resolve_without_a_result_later_steps_need_is_refused(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        before = await wait_until(ts_env, handle, awaiting)

        with pytest.raises(WorkflowUpdateFailedError) as raw:
            await handle.execute_update("intervene", RESOLVE)
        cause = raw.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == InterventionRefusal.RESULT_REQUIRED
        assert cause.message == (
            "resolving update_inventory needs a result (InventoryResult): later steps read"
            " it (create_order)"
        )
        with pytest.raises(AnswerRefused, match="needs a result"):
            await intervene(ts_env.client, handle.id, RESOLVE.model_copy(update={"result": {}}))
        assert await query_status(handle) == before  # nothing taken, still awaiting

        await intervene(ts_env.client, handle.id, COMPENSATE)
        status = await final_status(handle)
    assert status.state is SagaState.COMPENSATED
    assert "create_order" not in doubles.names()


async def test_refusals_reach_callers_by_kind(ts_env: WorkflowEnvironment, task_queue: str) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        fail = InterventionRequest(action=InterventionAction.FAIL)
        with pytest.raises(SagaConflict, match="action 'fail' not allowed here"):
            await intervene(ts_env.client, handle.id, fail)
        misfit = RESOLVE.model_copy(update={"result": {"note": "done"}})
        with pytest.raises(AnswerRefused, match="does not fit InventoryResult"):
            await intervene(ts_env.client, handle.id, misfit)
        await intervene(ts_env.client, handle.id, COMPENSATE)
        await final_status(handle)
    with pytest.raises(SagaConflict, match="the saga has ended"):
        await intervene(ts_env.client, handle.id, COMPENSATE)


async def test_a_retried_step_that_completes_shows_its_error_as_earlier(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    doubles = inventory_down()
    async with started(ts_env, doubles, task_queue) as handle:
        stuck = await wait_until(ts_env, handle, awaiting)
        error = stuck.steps["update_inventory"].error
        assert error is not None
        assert error.type == "OUT_OF_STOCK"
        doubles.failures.clear()
        await intervene(
            ts_env.client, handle.id, InterventionRequest(action=InterventionAction.RETRY)
        )
        await final_status(handle)
    # The worker is gone: an ended saga's status is read from its result and history.
    status = await saga_status(ts_env.client, handle.id)

    inventory = status.steps["update_inventory"]
    assert (inventory.state, inventory.attempts) == (StepState.COMPLETE, 3)
    assert inventory.error is None
    assert inventory.earlier_error == error
    assert inventory.result is not None  # put back from the history
    rendered = render_status(status).splitlines()
    [line] = [line for line in rendered if line.startswith("  update_inventory ")]
    assert line.split()[1:4] == ["complete", "3", "(earlier:"]
    assert inventory.round == 2  # the operator's retry started a second round
    [answer] = [line for line in rendered if line.startswith("  update_inventory:")]
    assert answer.startswith("  update_inventory: operator answered retry")


async def test_a_resolved_step_keeps_its_error_as_earlier(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    manual = InventoryResult(
        updated_products=[], total_items_reserved=3, inventory_changes=[], updated_at=NOW
    ).model_dump(mode="json")
    async with started(ts_env, inventory_down(), task_queue) as handle:
        await wait_until(ts_env, handle, awaiting)
        answer = RESOLVE.model_copy(update={"result": manual})
        await intervene(ts_env.client, handle.id, answer)
        status = await final_status(handle)

    inventory = status.steps["update_inventory"]
    assert inventory.state is StepState.RESOLVED_MANUALLY
    assert inventory.error is None
    assert inventory.earlier_error is not None
    assert inventory.earlier_error.type == "OUT_OF_STOCK"
