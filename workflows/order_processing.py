"""The e-commerce order saga: what each step is given, and what the outcome says.

Ordering, retries, compensation and intervention come from the plan (the YAML) and the
shared step runner; the steps and what they read are declared in ``models.order``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow

from models.order import (
    CREATE_ORDER,
    ORDER_STEPS,
    PROCESS_PAYMENT,
    SEND_CONFIRMATION,
    UPDATE_INVENTORY,
    VALIDATE_CART,
    CancelOrderInput,
    ConfirmationFallback,
    CreateOrderInput,
    OrderInput,
    OrderRequest,
    ProcessPaymentInput,
    RefundPaymentInput,
    ReleaseInventoryInput,
    SendConfirmationInput,
    UpdateInventoryInput,
    ValidateCartInput,
    reservation_order_id,
)
from models.status import SagaStatus
from workflows.saga import SagaWorkflow
from workflows.steps import Results, StepSpec


@workflow.defn(name="OrderProcessingWorkflow")
class OrderProcessingWorkflow(SagaWorkflow[OrderInput]):
    steps = ORDER_STEPS
    correlation_prefix = "ord"

    @workflow.init
    def __init__(self, request: OrderRequest) -> None:
        super().__init__(request.order, request.plan)

    @workflow.run
    async def run(self, request: OrderRequest) -> SagaStatus:
        return await self.run_saga()

    def specs(self) -> Mapping[Any, StepSpec]:
        order, cid = self.input, self.correlation_id
        customer = order.customer_info
        reservations = reservation_order_id(workflow.info().workflow_id, customer.id)
        return {
            VALIDATE_CART: StepSpec(
                lambda _: ValidateCartInput(correlation_id=cid, cart_items=order.cart_items)
            ),
            PROCESS_PAYMENT: StepSpec(
                lambda r: ProcessPaymentInput(
                    correlation_id=cid,
                    payment_info=order.payment_info,
                    amount_due=c.total if (c := r[VALIDATE_CART]) else None,
                ),
                compensation_input=lambda r: RefundPaymentInput(
                    correlation_id=cid, payment=r[PROCESS_PAYMENT]
                ),
            ),
            UPDATE_INVENTORY: StepSpec(
                lambda r: UpdateInventoryInput(
                    correlation_id=cid,
                    validated_items=c.validated_items if (c := r[VALIDATE_CART]) else None,
                    reservation_order_id=reservations,
                ),
                compensation_input=lambda _: ReleaseInventoryInput(
                    correlation_id=cid, reservation_order_id=reservations
                ),
            ),
            CREATE_ORDER: StepSpec(
                lambda r: CreateOrderInput(
                    correlation_id=cid,
                    customer_info=customer,
                    cart=r[VALIDATE_CART],
                    payment=r[PROCESS_PAYMENT],
                    reservation_ids=(
                        [p.reservation_id for p in held.updated_products]
                        if (held := r[UPDATE_INVENTORY])
                        else None
                    ),
                ),
                compensation_input=lambda _: CancelOrderInput(correlation_id=cid),
            ),
            SEND_CONFIRMATION: StepSpec(
                lambda r: SendConfirmationInput(
                    correlation_id=cid,
                    customer_info=customer,
                    order=r[CREATE_ORDER],
                    cart=r[VALIDATE_CART],
                ),
                fallback=lambda error, _: ConfirmationFallback(email_sent=False, error=error.type),
            ),
        }

    def outcome(self, results: Results) -> dict[str, Any]:
        """The order, the money, and whether the email went out."""
        order = results.get("create_order", {})
        payment = results.get("process_payment", {})
        confirmation = self._status.steps["send_confirmation"]
        return {
            "order_id": order.get("order_id"),
            "order_number": order.get("order_number"),
            "total": results.get("validate_cart", {}).get("total"),
            "payment_id": payment.get("payment_id"),
            "amount_charged": payment.get("amount_charged"),
            "estimated_delivery": order.get("estimated_delivery"),
            "confirmation": "sent" if confirmation.state.value == "complete" else "failed",
        }
