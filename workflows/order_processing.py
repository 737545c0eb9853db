"""The e-commerce order saga: which step needs what, and what the outcome says.

Ordering, retries, compensation and intervention come from the plan (the YAML) and the
shared step runner; this module only wires inputs and results.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from models.order import (
    CancelOrderInput,
    CartValidation,
    ConfirmationResult,
    CreateOrderInput,
    InventoryResult,
    OrderResult,
    PaymentResult,
    ProcessPaymentInput,
    RefundPaymentInput,
    ReleaseInventoryInput,
    SendConfirmationInput,
    UpdateInventoryInput,
    ValidateCartInput,
    reservation_order_id,
)
from models.requests import OrderRequest
from models.status import SagaStatus
from workflows.saga import SagaWorkflow
from workflows.steps import Results, StepRunner, StepSpec, new_correlation_id, result_of

STEP_RESULTS: dict[str, type[BaseModel]] = {
    "validate_cart": CartValidation,
    "process_payment": PaymentResult,
    "update_inventory": InventoryResult,
    "create_order": OrderResult,
    "send_confirmation": ConfirmationResult,
}
"""The steps this code runs, each with the result it reads back: a config is checked
against it before anything starts."""


@workflow.defn(name="OrderProcessingWorkflow")
class OrderProcessingWorkflow(SagaWorkflow):
    @workflow.init
    def __init__(self, request: OrderRequest) -> None:
        order = request.order
        self._status = SagaStatus(
            workflow_id=workflow.info().workflow_id,
            workflow=request.plan.workflow,
            correlation_id=order.correlation_id or new_correlation_id("ord"),
        )
        correlation_id = self._status.correlation_id
        customer = order.customer_info
        reservations = reservation_order_id(workflow.info().workflow_id, customer.id)

        def cart(results: Results) -> CartValidation | None:
            return result_of(CartValidation, results, "validate_cart")

        def payment(results: Results) -> PaymentResult | None:
            return result_of(PaymentResult, results, "process_payment")

        specs = {
            "validate_cart": StepSpec(
                lambda _: ValidateCartInput(
                    correlation_id=correlation_id, cart_items=order.cart_items
                )
            ),
            "process_payment": StepSpec(
                lambda r: ProcessPaymentInput(
                    correlation_id=correlation_id,
                    payment_info=order.payment_info,
                    amount_due=c.total if (c := cart(r)) else None,
                ),
                compensation_input=lambda r: RefundPaymentInput(
                    correlation_id=correlation_id, payment=payment(r)
                ),
            ),
            "update_inventory": StepSpec(
                lambda r: UpdateInventoryInput(
                    correlation_id=correlation_id,
                    validated_items=c.validated_items if (c := cart(r)) else None,
                    reservation_order_id=reservations,
                ),
                compensation_input=lambda _: ReleaseInventoryInput(
                    correlation_id=correlation_id, reservation_order_id=reservations
                ),
            ),
            "create_order": StepSpec(
                lambda r: CreateOrderInput(
                    correlation_id=correlation_id,
                    customer_info=customer,
                    cart=cart(r),
                    payment=payment(r),
                    reservation_ids=(
                        [p.reservation_id for p in held.updated_products]
                        if (held := result_of(InventoryResult, r, "update_inventory"))
                        else None
                    ),
                ),
                compensation_input=lambda _: CancelOrderInput(correlation_id=correlation_id),
            ),
            "send_confirmation": StepSpec(
                lambda r: SendConfirmationInput(
                    correlation_id=correlation_id,
                    customer_info=customer,
                    order=result_of(OrderResult, r, "create_order"),
                    cart=cart(r),
                ),
                fallback=lambda error: {"email_sent": False, "error": error.type},
            ),
        }
        self.runner = StepRunner(request.plan, self._status, specs, STEP_RESULTS)

    @workflow.run
    async def run(self, request: OrderRequest) -> SagaStatus:
        results = await self.run_steps()
        self._status.result = order_outcome(results, self._status)
        return self.runner.final_document()


def order_outcome(results: Results, status: SagaStatus) -> dict[str, Any]:
    """The summary a caller wants: the order, the money, and whether the email went out."""
    order = results.get("create_order", {})
    payment = results.get("process_payment", {})
    confirmation = status.steps["send_confirmation"]
    return {
        "order_id": order.get("order_id"),
        "order_number": order.get("order_number"),
        "total": results.get("validate_cart", {}).get("total"),
        "payment_id": payment.get("payment_id"),
        "amount_charged": payment.get("amount_charged"),
        "estimated_delivery": order.get("estimated_delivery"),
        "confirmation": "sent" if confirmation.state.value == "complete" else "failed",
    }
