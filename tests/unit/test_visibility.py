"""What the Web UI says about a saga: its summary and details, its activities' summaries,
and the current details while it runs or waits for an operator (no personal data)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.status import (
    Intervention,
    InterventionAction,
    SagaState,
    SagaStatus,
    StepError,
    StepState,
    StepStatus,
)
from sagas.catalogue import saga
from sagas.prepare import Prepared, prepare
from workflows.visibility import (
    current_details,
    start_details,
    step_summary,
)

EXAMPLES = Path(__file__).parents[2] / "examples"
ORDER: dict[str, Any] = json.loads((EXAMPLES / "order_sample.json").read_text())
REGISTRATION: dict[str, Any] = json.loads((EXAMPLES / "registration_sample.json").read_text())
PERSONAL = ("jane@example.com", "Jane Doe", "sarah@growthcorp.com", "Sarah Chen", "GrowthCorp",
            "tok_visa_4242", "1 Main St", "Springfield")  # fmt: skip


def _order() -> Prepared:
    return prepare(saga("order"), ORDER, workflow_id="order-ui")


def _no_personal_data(text: str) -> None:
    leaked = [value for value in PERSONAL if value in text]
    assert not leaked, f"personal data in {text!r}: {leaked}"


def test_order_summary_says_which_saga_how_many_items_and_the_total() -> None:
    summary = saga("order").summary_of(_order().request)
    assert summary == "Order: 3 items in 2 lines, 124.76 USD"


def test_express_orders_say_so() -> None:
    prepared = prepare(saga("order"), {**ORDER, "priority": "express"})
    assert prepared.saga.summary_of(prepared.request).endswith("124.76 USD, express")


def test_registration_summary_names_the_plan_not_the_person() -> None:
    prepared = prepare(saga("register"), REGISTRATION)
    summary = prepared.saga.summary_of(prepared.request)
    assert summary == "User registration: pro plan, from web"
    _no_personal_data(summary + start_details(prepared.plan))


def test_static_details_say_what_each_step_does_and_what_failure_means() -> None:
    details = start_details(_order().plan)
    assert details.startswith("**process_order** v1.0.0 (development config)")
    assert (
        "3. **update_inventory**: Reserve stock for every line (may require manual"
        " intervention) (2 attempts, up to 20 by strategy, then intervene)"
    ) in details
    _no_personal_data(details)


def test_activity_summaries_start_with_the_step_and_say_what_it_does() -> None:
    step = _order().plan.step("process_payment")
    summary = step_summary(step)
    assert summary == "process_payment: Charge the payment method (idempotent per order)"


def _stuck() -> SagaStatus:
    """An order saga waiting for an operator after update_inventory gave up."""
    plan_step = "update_inventory"
    states = {
        "validate_cart": StepState.COMPLETE,
        "process_payment": StepState.COMPLETE,
        plan_step: StepState.ERROR,
        "create_order": StepState.PENDING,
        "send_confirmation": StepState.PENDING,
    }
    error = StepError(type="SERVICE_ERROR", message="inventory said 500", non_retryable=False)
    return SagaStatus(
        workflow_id="order-ui",
        workflow="process_order",
        correlation_id="ord_1_abc",
        state=SagaState.AWAITING_INTERVENTION,
        current_step=plan_step,
        failed_steps=[plan_step],
        steps={name: StepStatus(state=state) for name, state in states.items()},
        intervention=Intervention(
            step=plan_step,
            error=error,
            allowed=[
                InterventionAction.RETRY,
                InterventionAction.RESOLVE,
                InterventionAction.COMPENSATE,
            ],
            deadline=datetime(2026, 11, 29, 18, 0, tzinfo=UTC),
        ),
    )


def test_details_awaiting_an_operator_say_why_what_by_when_and_how() -> None:
    details = current_details(_stuck(), _order().plan)
    assert details.startswith("**Awaiting an operator**")
    assert "Step **update_inventory** failed: SERVICE_ERROR: inventory said 500." in details
    assert "Allowed: retry, resolve, compensate, until 2026-11-29 18:00:00Z" in details
    assert "(then compensate)" in details
    assert "`python starter.py intervene order-ui retry|resolve|compensate`" in details
    assert "- ✗ update_inventory" in details
    assert "- ✓ process_payment" in details


def test_details_while_running_name_the_step_and_what_it_does() -> None:
    status = _stuck().model_copy(
        update={"state": SagaState.IN_PROGRESS, "current_step": "process_payment"}
    )
    status.steps["process_payment"].state = StepState.IN_PROGRESS
    details = current_details(status, _order().plan)
    first = details.splitlines()[0]
    assert first == (
        "**In progress**: process_payment: Charge the payment method (idempotent per order)"
    )
    assert "Allowed" not in details
    assert "- ▶ process_payment" in details


def test_a_reruns_details_start_with_the_saga_it_reruns() -> None:
    plan = _order().plan.model_copy(update={"rerun_of": "order-1f0c"})
    lines = start_details(plan).splitlines()
    assert lines[2] == "Rerun of `order-1f0c`"
    assert "Rerun of" not in start_details(_order().plan)
