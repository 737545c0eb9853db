"""A step declared once (models.steps): what is derived from it, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from activities.base import SagaActivities, step_results
from activities.step import step_activity
from models.order import ORDER_STEPS, PROCESS_PAYMENT, VALIDATE_CART, PaymentResult
from models.registration import REGISTRATION_STEPS
from models.steps import Step, StepDeclarationError, Steps
from sagas.catalogue import catalogue
from sagas.descriptor import SagaModuleError
from sagas.worker import check_activities
from workflows.steps import Reads, UndeclaredRead


class Thing(BaseModel):
    value: int = 0


class Other(BaseModel):
    other: str = ""


class ThingInput(BaseModel):
    correlation_id: str = "c"


A = Step("a", Thing)
B = Step("b", Thing, reads=(A,))
C = Step("c", Other, reads=(A, B))


def test_results_and_readers_come_from_the_declarations() -> None:
    assert ORDER_STEPS.results["process_payment"] is PaymentResult
    assert ORDER_STEPS.readers_of("process_payment") == ["create_order"]
    assert ORDER_STEPS.readers_of("send_confirmation") == []
    assert REGISTRATION_STEPS.readers_of("setup_billing_profile") == [
        "send_welcome_sequence",
        "update_user_status",
    ]


def test_an_activity_name_defaults_to_the_step_and_can_be_namespaced() -> None:
    assert VALIDATE_CART.activity == "validate_cart"
    assert Step("refund_payment", Thing, activity="returns.refund_payment").activity == (
        "returns.refund_payment"
    )


@pytest.mark.parametrize(
    ("depends_on", "sequential", "expected"),
    [
        ({"a": [], "b": ["a"], "c": ["b"]}, False, {}),  # c after a through b
        ({"a": [], "b": ["a"], "c": ["a"]}, False, {"c": ["b"]}),
        ({"a": [], "b": [], "c": []}, False, {"b": ["a"], "c": ["a", "b"]}),
        ({"a": [], "b": [], "c": []}, True, {}),  # concurrent: false orders them all
        ({"c": [], "b": [], "a": []}, True, {"b": ["a"], "c": ["a", "b"]}),
    ],
)
def test_reads_must_be_ordered_by_the_dependencies(
    depends_on: dict[str, list[str]], sequential: bool, expected: dict[str, list[str]]
) -> None:
    assert Steps(A, B, C).unordered_reads(depends_on, sequential=sequential) == expected


def test_declarations_that_cannot_describe_a_saga_are_refused() -> None:
    with pytest.raises(StepDeclarationError, match="declared twice"):
        Steps(A, Step("a", Other))
    with pytest.raises(StepDeclarationError, match="reads undeclared steps"):
        Steps(B)


def test_a_step_reads_only_what_it_declares() -> None:
    results: dict[str, dict[str, Any]] = {"a": {"value": 1}, "b": {"value": 2}}
    assert Reads(results, C)[B] == Thing(value=2)
    assert Reads(results, B)[B] == Thing(value=2)  # its own result, for its undo
    assert Reads({}, B)[A] is None
    with pytest.raises(UndeclaredRead, match="step b reads c without declaring it"):
        Reads(results, B)[C]


def test_an_activity_must_return_its_steps_result() -> None:
    with pytest.raises(TypeError, match="declared with Thing"):

        class Wrong(SagaActivities):
            @step_activity(A)
            async def a(self, arg: ThingInput) -> Other:
                return Other()


def test_a_worker_refuses_activities_that_do_not_fit_the_declarations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order = catalogue()["order"]
    check_activities(order)  # the real one fits

    class Partial(SagaActivities):
        @step_activity(PROCESS_PAYMENT)
        async def process_payment(self, arg: ThingInput) -> PaymentResult:
            raise NotImplementedError

        @step_activity("refund_paymnt")
        async def refund(self, arg: ThingInput) -> Thing:
            return Thing()

    assert set(step_results(Partial)) == {"process_payment", "refund_paymnt"}
    monkeypatch.setattr(type(order), "activities_class", lambda _self: Partial)
    with pytest.raises(SagaModuleError) as refused:
        check_activities(order)
    message = str(refused.value)
    assert "declared but not provided: cancel_order, create_order" in message
    assert "provided but not declared: refund_paymnt" in message
