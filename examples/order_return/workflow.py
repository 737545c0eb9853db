"""The order-return saga: what each step is given, and what the outcome says.

Ordering, retries, compensation and intervention come from the plan (order_return.yaml)
and the shared step runner; the steps and what they read are declared in models.py.
Deterministic workflow code: it runs in the sandbox and replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow

from models.status import SagaStatus, StepState
from order_return.models import (
    REFUND_PAYMENT,
    RESTOCK_ITEMS,
    RETURN_STEPS,
    SEND_RETURN_CONFIRMATION,
    VALIDATE_RETURN,
    ConfirmationInput,
    RefundInput,
    RestockInput,
    ReturnInput,
    ReturnRequest,
    ReverseRestockInput,
    ValidateReturnInput,
    confirmation_failed,
)
from workflows.saga import SagaWorkflow
from workflows.steps import Results, StepSpec


@workflow.defn(name="OrderReturnWorkflow")
class OrderReturnWorkflow(SagaWorkflow[ReturnInput]):
    steps = RETURN_STEPS
    correlation_prefix = "ret"

    @workflow.init
    def __init__(self, request: ReturnRequest) -> None:
        super().__init__(request.order_return, request.plan)

    @workflow.run
    async def run(self, request: ReturnRequest) -> SagaStatus:
        return await self.run_saga()

    def specs(self) -> Mapping[Any, StepSpec]:
        ret, cid = self.input, self.correlation_id
        return_id = workflow.info().workflow_id
        return {
            VALIDATE_RETURN: StepSpec(
                lambda _: ValidateReturnInput(
                    correlation_id=cid, order_id=ret.order_id, items=ret.items
                )
            ),
            # No compensation: a refund is final. The goods have come back, so the
            # customer's money is owed whatever happens to the later steps.
            REFUND_PAYMENT: StepSpec(
                lambda r: RefundInput(
                    correlation_id=cid, validation=r[VALIDATE_RETURN], reason=ret.reason
                )
            ),
            RESTOCK_ITEMS: StepSpec(
                lambda r: RestockInput(
                    correlation_id=cid, validation=r[VALIDATE_RETURN], return_id=return_id
                ),
                compensation_input=lambda _: ReverseRestockInput(
                    correlation_id=cid, return_id=return_id
                ),
            ),
            SEND_RETURN_CONFIRMATION: StepSpec(
                lambda r: ConfirmationInput(
                    correlation_id=cid,
                    to=ret.customer_email
                    or (v.customer_email if (v := r[VALIDATE_RETURN]) else None),
                    validation=r[VALIDATE_RETURN],
                    refund=r[REFUND_PAYMENT],
                    restock=r[RESTOCK_ITEMS],
                    return_id=return_id,
                ),
                fallback=lambda error, _: confirmation_failed(error.type),
            ),
        }

    def outcome(self, results: Results) -> dict[str, Any]:
        """The order, the money back, the units back, and whether the email went out."""
        validation = results.get(VALIDATE_RETURN.name, {})
        refund = results.get(REFUND_PAYMENT.name, {})
        restock = results.get(RESTOCK_ITEMS.name, {})
        confirmation = self._status.steps[SEND_RETURN_CONFIRMATION.name]
        return {
            "order_id": validation.get("order_id"),
            "refund_amount": validation.get("refund_amount"),
            "refund_id": refund.get("refund_id"),
            "units_restocked": restock.get("units_restocked"),
            "confirmation": "sent" if confirmation.state is StepState.COMPLETE else "failed",
        }
