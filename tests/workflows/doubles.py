"""Activity doubles registered under the real activity names, with scripted failures.

They go through the real ``step_activity`` wrapper, so attempts and error shapes are the
ones the real activities produce; only the I/O is replaced.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.order import CompensationResult
from activities.step import step_activity
from models.order import (
    CancelOrderInput,
    CartValidation,
    ConfirmationResult,
    CreateOrderInput,
    InventoryChange,
    InventoryResult,
    OrderResult,
    PaymentResult,
    ProcessPaymentInput,
    RefundPaymentInput,
    ReleaseInventoryInput,
    SendConfirmationInput,
    UpdatedProduct,
    UpdateInventoryInput,
    ValidateCartInput,
    ValidatedItem,
    cart_totals,
)
from models.status import SagaStatus

NOW = datetime(2026, 11, 22, tzinfo=UTC)
Failure = Callable[[int], ApplicationError | None]


def fail_times(n: int, error: Callable[[], ApplicationError]) -> Failure:
    """Fail the first ``n`` attempts with ``error()``, then succeed."""
    return lambda attempt: error() if attempt <= n else None


def always(error: Callable[[], ApplicationError]) -> Failure:
    return lambda attempt: error()


class OrderDoubles:
    """Records every call (step, attempt, server time it started) and fails where the script
    says. The start time, not ``current_attempt_scheduled_time``: the time-skipping server
    reports the previous attempt's failure time as a retry's scheduled time, before backoff.

    Activities named in ``blocking`` heartbeat until they are cancelled (a step still
    running when the saga is cancelled).
    """

    def __init__(
        self, failures: dict[str, Failure] | None = None, blocking: Iterable[str] = ()
    ) -> None:
        self.failures = failures or {}
        self.blocking = set(blocking)
        self.calls: list[tuple[str, int, datetime]] = []
        self.scheduled: list[tuple[str, int, datetime]] = []
        """(step, attempt, ``current_attempt_scheduled_time``): right on the dev server."""
        self.attempts: dict[str, int] = defaultdict(int)
        self.order_created = False
        """Set once create_order succeeded (after ``_enter``, which raises the scripted failure)."""

    def all(self) -> list[Any]:
        return [
            self.validate_cart,
            self.process_payment,
            self.update_inventory,
            self.create_order,
            self.send_confirmation,
            self.refund_payment,
            self.release_inventory,
            self.cancel_order,
        ]

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    async def _enter(self) -> None:
        info = activity.info()
        self.calls.append((info.activity_type, info.attempt, info.started_time))
        self.scheduled.append(
            (info.activity_type, info.attempt, info.current_attempt_scheduled_time)
        )
        self.attempts[info.activity_type] += 1
        failure = self.failures.get(info.activity_type)
        error = failure(info.attempt) if failure else None
        if error is not None:
            raise error
        while info.activity_type in self.blocking:
            activity.heartbeat()
            await asyncio.sleep(0.05)

    @step_activity("validate_cart")
    async def validate_cart(self, arg: ValidateCartInput) -> CartValidation:
        await self._enter()
        prices = {1: Decimal("29.99"), 2: Decimal("49.99")}
        items = [
            ValidatedItem(
                product_id=line.product_id or 0,
                name=f"Widget {line.product_id}",
                price=prices.get(line.product_id or 0, Decimal("10.00")),
                quantity=line.quantity or 0,
                line_total=prices.get(line.product_id or 0, Decimal("10.00"))
                * (line.quantity or 0),
            )
            for line in arg.cart_items
        ]
        subtotal, tax, shipping, total = cart_totals(items)
        return CartValidation(
            validated_items=items,
            subtotal=subtotal,
            tax=tax,
            shipping=shipping,
            total=total,
            item_count=len(items),
            validated_at=NOW,
        )

    @step_activity("process_payment")
    async def process_payment(self, arg: ProcessPaymentInput) -> PaymentResult:
        await self._enter()
        assert arg.amount_due is not None
        return PaymentResult(
            payment_id="ch_test",
            amount_charged=arg.amount_due,
            currency="USD",
            payment_method_type=arg.payment_info.method or "",
            transaction_id="txn_test",
            processed_at=NOW,
        )

    @step_activity("update_inventory")
    async def update_inventory(self, arg: UpdateInventoryInput) -> InventoryResult:
        await self._enter()
        items = arg.validated_items or []
        return InventoryResult(
            updated_products=[
                UpdatedProduct(
                    product_id=i.product_id,
                    name=i.name,
                    previous_stock=100,
                    new_stock=100 - i.quantity,
                    quantity_reserved=i.quantity,
                    reservation_id=f"res_{i.product_id}",
                )
                for i in items
            ],
            total_items_reserved=sum(i.quantity for i in items),
            inventory_changes=[
                InventoryChange(
                    product_id=i.product_id,
                    quantity=-i.quantity,
                    timestamp=NOW,
                    reservation_id=f"res_{i.product_id}",
                )
                for i in items
            ],
            updated_at=NOW,
        )

    @step_activity("create_order")
    async def create_order(self, arg: CreateOrderInput) -> OrderResult:
        await self._enter()
        self.order_created = True
        assert arg.cart is not None
        return OrderResult(
            order_id=1,
            order_number="ORD-20261122-0000ABCD",
            total_amount=arg.cart.total,
            customer_email=(arg.customer_info.email if arg.customer_info else None) or "",
            created_at=NOW,
            estimated_delivery="November 29, 2026",
        )

    @step_activity("send_confirmation")
    async def send_confirmation(self, arg: SendConfirmationInput) -> ConfirmationResult:
        await self._enter()
        return ConfirmationResult(recipient="x@example.com", sent_at=NOW, message_id="msg_1")

    @step_activity("refund_payment")
    async def refund_payment(self, arg: RefundPaymentInput) -> CompensationResult:
        await self._enter()
        return CompensationResult(status="refunded")

    @step_activity("release_inventory")
    async def release_inventory(self, arg: ReleaseInventoryInput) -> CompensationResult:
        await self._enter()
        return CompensationResult(status="released")

    @step_activity("cancel_order")
    async def cancel_order(self, arg: CancelOrderInput) -> CompensationResult:
        """An order exists only once create_order has succeeded."""
        await self._enter()
        if self.order_created:
            return CompensationResult(status="cancelled")
        return CompensationResult(status="nothing_to_cancel", nothing_to_undo=True)


def status_of(raw: BaseModel | dict[str, Any]) -> SagaStatus:
    return SagaStatus.model_validate(raw)
