"""The order saga's activities: the five Tasker step handlers and two compensations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from activities.base import SagaActivities
from activities.outcomes import permanent, retryable
from activities.step import current_workflow_id, step_activity
from models.money import to_money
from models.order import (
    CREATE_ORDER,
    PROCESS_PAYMENT,
    SEND_CONFIRMATION,
    UPDATE_INVENTORY,
    VALIDATE_CART,
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

PAYMENT_RATE_LIMIT_DELAY = timedelta(seconds=30)
EMAIL_RATE_LIMIT_DELAY = timedelta(seconds=60)
DELIVERY_DAYS = 7


class CompensationResult(BaseModel):
    status: str
    details: list[dict[str, Any]] = []
    nothing_to_undo: bool = False
    """The step left no effect to undo: its status must not claim it was compensated."""


def _now() -> datetime:
    return datetime.now(UTC)


def _per_product(items: list[ValidatedItem]) -> tuple[dict[int, str], dict[int, int]]:
    """(names, quantities) by product, in cart order: a reservation is per (order, product),
    so two cart lines of one product are reserved together."""
    names: dict[int, str] = {}
    quantities: dict[int, int] = {}
    for item in items:
        names.setdefault(item.product_id, item.name)
        quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity
    return names, quantities


def estimated_delivery(created_at: datetime) -> str:
    """Seven days on, written the way the customer reads it: "November 28, 2026"."""
    day = created_at + timedelta(days=DELIVERY_DAYS)
    return f"{day:%B} {day.day}, {day.year}"


class OrderActivities(SagaActivities):
    """Activities bound to one HTTP client; register with ``worker.activities()``."""

    @step_activity(VALIDATE_CART)
    async def validate_cart(self, arg: ValidateCartInput) -> CartValidation:
        """Check every line against the catalogue (prices come from there) and price the cart.

        The lines' shape is checked before any I/O; then one call fetches every product.
        """
        if not arg.cart_items:
            raise permanent("MISSING_CART_ITEMS", "Cart items are required")
        lines: list[tuple[int, int]] = []
        for index, line in enumerate(arg.cart_items):
            if line.product_id is None:
                raise permanent("MISSING_PRODUCT_ID", f"Cart item {index} has no product_id")
            if line.quantity is None or line.quantity < 1:
                raise permanent(
                    "INVALID_QUANTITY", f"Invalid quantity {line.quantity} for item {index}"
                )
            lines.append((line.product_id, line.quantity))
        response = await self.client.request(
            "GET",
            "/catalog/products",
            params={"ids": ",".join(str(product_id) for product_id, _ in lines)},
            correlation_id=arg.correlation_id,
        )
        catalogue = {p["id"]: p for p in response.json()["products"]}
        items: list[ValidatedItem] = []
        for product_id, quantity in lines:
            product = catalogue.get(product_id)
            if product is None:
                raise permanent("PRODUCT_NOT_FOUND", f"Product {product_id} not found")
            if not product["active"]:
                raise permanent("PRODUCT_INACTIVE", f"Product {product['name']} is not available")
            if product["stock"] < quantity:
                raise retryable(
                    "INSUFFICIENT_STOCK",
                    f"Insufficient stock for {product['name']}. "
                    f"Available: {product['stock']}, Requested: {quantity}",
                )
            price = to_money(product["price"])
            items.append(
                ValidatedItem(
                    product_id=product["id"],
                    name=product["name"],
                    price=price,
                    quantity=quantity,
                    line_total=price * quantity,
                )
            )
        subtotal, tax, shipping, total = cart_totals(items)
        return CartValidation(
            validated_items=items,
            subtotal=subtotal,
            tax=tax,
            shipping=shipping,
            total=total,
            item_count=len(items),
            validated_at=_now(),
        )

    @step_activity(PROCESS_PAYMENT)
    async def process_payment(self, arg: ProcessPaymentInput) -> PaymentResult:
        """Charge exactly the validated total, once: the idempotency key is per workflow."""
        payment = arg.payment_info
        if not payment.method:
            raise permanent("MISSING_PAYMENT_METHOD", "Payment method is required")
        if not payment.token:
            raise permanent("MISSING_PAYMENT_TOKEN", "Payment token is required")
        if arg.amount_due is None:
            raise permanent("MISSING_CART_TOTAL", "Cart validation result with a total is required")
        if payment.amount != arg.amount_due:
            raise permanent(
                "PAYMENT_AMOUNT_MISMATCH",
                f"Payment amount {payment.amount} does not match order total {arg.amount_due}",
            )
        response = await self.client.request(
            "POST",
            "/payments/charges",
            correlation_id=arg.correlation_id,
            json={
                "amount": str(arg.amount_due),
                "currency": payment.currency,
                "token": payment.token,
                "method": payment.method,
                "description": f"Order {current_workflow_id()}",
            },
            codes={402: "PAYMENT_DECLINED"},
            rate_limit_delay=PAYMENT_RATE_LIMIT_DELAY,
        )
        charge = response.json()
        if charge.get("status") != "succeeded":
            raise retryable(
                "PAYMENT_PENDING", f"Charge {charge.get('id')} is {charge.get('status')}"
            )
        return PaymentResult(
            payment_id=charge["id"],
            amount_charged=to_money(charge["amount"]),
            currency=charge["currency"],
            payment_method_type=payment.method,
            transaction_id=charge["transaction_id"],
            processed_at=_now(),
        )

    @step_activity(UPDATE_INVENTORY)
    async def update_inventory(self, arg: UpdateInventoryInput) -> InventoryResult:
        """Reserve every line in one all-or-nothing call; reservations are idempotent per
        (order, product), so a retry gets back what an earlier attempt already took."""
        if not arg.validated_items:
            raise permanent("MISSING_VALIDATED_ITEMS", "Validated cart items are required")
        order_id = arg.reservation_order_id
        names, quantities = _per_product(arg.validated_items)
        response = await self.client.request(
            "POST",
            "/inventory/reservations/batch",
            correlation_id=arg.correlation_id,
            json={
                "order_id": order_id,
                "items": [
                    {"product_id": product_id, "quantity": quantity}
                    for product_id, quantity in quantities.items()
                ],
            },
        )
        body = response.json()
        if response.status_code == 409:
            raise retryable(
                "INVENTORY_UNAVAILABLE",
                "; ".join(
                    f"{names[s['product_id']]} is not available in quantity {s['requested']}"
                    for s in body["shortages"]
                ),
            )
        updated: list[UpdatedProduct] = []
        changes: list[InventoryChange] = []
        for reservation in body["reservations"]:
            name = names[reservation["product_id"]]
            if reservation["status"] != "reserved":
                raise retryable(
                    "INVENTORY_CONFLICT", f"Reservation of {name} is {reservation['status']}"
                )
            updated.append(
                UpdatedProduct(
                    product_id=reservation["product_id"],
                    name=name,
                    previous_stock=reservation["previous_stock"],
                    new_stock=reservation["new_stock"],
                    quantity_reserved=reservation["quantity"],
                    reservation_id=reservation["reservation_id"],
                )
            )
            changes.append(
                InventoryChange(
                    product_id=reservation["product_id"],
                    quantity=-reservation["quantity"],
                    timestamp=_now(),
                    reservation_id=reservation["reservation_id"],
                )
            )
        return InventoryResult(
            updated_products=updated,
            total_items_reserved=sum(p.quantity_reserved for p in updated),
            inventory_changes=changes,
            updated_at=_now(),
        )

    @step_activity(CREATE_ORDER)
    async def create_order(self, arg: CreateOrderInput) -> OrderResult:
        """Persist the confirmed order; idempotent per workflow."""
        if arg.customer_info is None:
            raise permanent("MISSING_CUSTOMER_INFO", "Customer information is required")
        if arg.cart is None:
            raise permanent("MISSING_CART_VALIDATION", "Cart validation result is required")
        if arg.payment is None:
            raise permanent("MISSING_PAYMENT_RESULT", "Payment result is required")
        if arg.reservation_ids is None:
            raise permanent("MISSING_INVENTORY_RESULT", "Inventory result is required")
        cart, payment = arg.cart, arg.payment
        response = await self.client.request(
            "POST",
            "/orders",
            correlation_id=arg.correlation_id,
            json={
                "workflow_id": current_workflow_id(),
                "customer_email": arg.customer_info.email,
                "customer_name": arg.customer_info.name,
                "customer_id": arg.customer_info.id,
                "items": [item.model_dump(mode="json") for item in cart.validated_items],
                "subtotal": str(cart.subtotal),
                "tax": str(cart.tax),
                "shipping": str(cart.shipping),
                "total": str(cart.total),
                "payment_id": payment.payment_id,
                "transaction_id": payment.transaction_id,
                "reservation_ids": arg.reservation_ids,
                "status": "confirmed",
                "payment_status": "completed",
            },
            codes={400: "ORDER_VALIDATION_FAILED", 422: "ORDER_VALIDATION_FAILED"},
        )
        order = response.json()
        created_at = datetime.fromisoformat(order["created_at"])
        return OrderResult(
            order_id=order["order_id"],
            order_number=order["order_number"],
            total_amount=to_money(order["total"]),
            customer_email=order["customer_email"],
            created_at=created_at,
            estimated_delivery=estimated_delivery(created_at),
        )

    @step_activity(SEND_CONFIRMATION)
    async def send_confirmation(self, arg: SendConfirmationInput) -> ConfirmationResult:
        """One confirmation email per order (idempotent per workflow)."""
        if arg.customer_info is None or not arg.customer_info.email:
            raise permanent("MISSING_CUSTOMER_EMAIL", "Customer email is required")
        if arg.order is None:
            raise permanent("MISSING_ORDER_RESULT", "Order result is required")
        if arg.cart is None:
            raise permanent("MISSING_CART_VALIDATION", "Cart validation result is required")
        response = await self.client.request(
            "POST",
            "/emails",
            correlation_id=arg.correlation_id,
            json={
                "to": arg.customer_info.email,
                "subject": f"Order confirmation {arg.order.order_number}",
                "template": "order_confirmation",
                "data": {
                    "customer_name": arg.customer_info.name,
                    "order_number": arg.order.order_number,
                    "total": str(arg.order.total_amount),
                    "items": [item.model_dump(mode="json") for item in arg.cart.validated_items],
                    "estimated_delivery": arg.order.estimated_delivery,
                },
            },
            codes={400: "INVALID_EMAIL", 422: "INVALID_EMAIL"},
            rate_limit_delay=EMAIL_RATE_LIMIT_DELAY,
        )
        sent = response.json()
        return ConfirmationResult(
            recipient=arg.customer_info.email, sent_at=_now(), message_id=sent["message_id"]
        )

    # -- compensations ---------------------------------------------------------------------

    @step_activity("refund_payment")
    async def refund_payment(self, arg: RefundPaymentInput) -> CompensationResult:
        """Refund the charge in full. The charge is the payment step's result or, when the
        saga never got one (cancelled mid-call, reply lost), whatever the gateway holds under
        the step's idempotency key; no charge anywhere means nothing to undo."""
        if arg.payment is not None:
            charge_id, amount = arg.payment.payment_id, str(arg.payment.amount_charged)
        else:
            charge = await self.client.effect_of("process_payment", arg.correlation_id)
            if charge is None:
                return CompensationResult(status="nothing_to_refund", nothing_to_undo=True)
            charge_id, amount = charge["id"], charge["amount"]
        response = await self.client.request(
            "POST",
            "/payments/refunds",
            step="process_payment",
            correlation_id=arg.correlation_id,
            json={"charge_id": charge_id, "amount": amount, "reason": arg.reason},
        )
        refund = response.json()
        return CompensationResult(status="refunded", details=[refund])

    @step_activity("release_inventory")
    async def release_inventory(self, arg: ReleaseInventoryInput) -> CompensationResult:
        """Release every reservation held for the order, including partial ones."""
        response = await self.client.request(
            "GET",
            "/inventory/reservations",
            params={"order_id": arg.reservation_order_id},
            step="update_inventory",
            correlation_id=arg.correlation_id,
        )
        released = []
        for reservation in response.json()["reservations"]:
            reply = await self.client.request(
                "POST",
                f"/inventory/reservations/{reservation['reservation_id']}/release",
                key_suffix=reservation["reservation_id"],
                step="update_inventory",
                correlation_id=arg.correlation_id,
            )
            released.append(reply.json())
        return CompensationResult(status="released", details=released)

    @step_activity("cancel_order")
    async def cancel_order(self, arg: CancelOrderInput) -> CompensationResult:
        """Cancel the saga's order (its payment marked refunded); the order is found by the
        saga's identity, so an order whose creation reply was lost is cancelled too."""
        response = await self.client.request(
            "POST",
            "/orders/cancel",
            step="create_order",
            correlation_id=arg.correlation_id,
            json={"workflow_id": current_workflow_id(), "reason": arg.reason},
        )
        order = response.json()
        if order.get("status") == "nothing_to_cancel":
            return CompensationResult(status="nothing_to_cancel", nothing_to_undo=True)
        return CompensationResult(status="cancelled", details=[order])
