"""The order saga's activities: the five Tasker step handlers and two compensations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.client import ServiceClient
from activities.outcomes import permanent, retryable
from activities.step import current_workflow_id, step_activity
from models.money import to_money
from models.order import (
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
    reservation_order_id,
)

PAYMENT_RATE_LIMIT_DELAY = timedelta(seconds=30)
EMAIL_RATE_LIMIT_DELAY = timedelta(seconds=60)
DELIVERY_DAYS = 7


class CompensationResult(BaseModel):
    status: str
    details: list[dict[str, Any]] = []


def _now() -> datetime:
    return datetime.now(UTC)


def estimated_delivery(created_at: datetime) -> str:
    """Seven days on, written the way the customer reads it: "November 28, 2026"."""
    day = created_at + timedelta(days=DELIVERY_DAYS)
    return f"{day:%B} {day.day}, {day.year}"


class OrderActivities:
    """Activities bound to one HTTP client; register with ``worker.activities()``."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def all(self) -> list[Any]:
        return [
            self.validate_cart,
            self.process_payment,
            self.update_inventory,
            self.create_order,
            self.send_confirmation,
            self.refund_payment,
            self.release_inventory,
        ]

    @activity.defn(name="validate_cart")
    @step_activity
    async def validate_cart(self, arg: ValidateCartInput) -> CartValidation:
        """Check every line against the catalogue (prices come from there) and price the cart."""
        if not arg.cart_items:
            raise permanent("MISSING_CART_ITEMS", "Cart items are required")
        items: list[ValidatedItem] = []
        for index, line in enumerate(arg.cart_items):
            if line.product_id is None:
                raise permanent("MISSING_PRODUCT_ID", f"Cart item {index} has no product_id")
            if line.quantity is None or line.quantity < 1:
                raise permanent(
                    "INVALID_QUANTITY", f"Invalid quantity {line.quantity} for item {index}"
                )
            response = await self.client.request(
                "GET",
                f"/catalog/products/{line.product_id}",
                correlation_id=arg.correlation_id,
                codes={404: "PRODUCT_NOT_FOUND"},
            )
            product = response.json()
            if not product["active"]:
                raise permanent("PRODUCT_INACTIVE", f"Product {product['name']} is not available")
            if product["stock"] < line.quantity:
                raise retryable(
                    "INSUFFICIENT_STOCK",
                    f"Insufficient stock for {product['name']}. "
                    f"Available: {product['stock']}, Requested: {line.quantity}",
                )
            price = to_money(product["price"])
            items.append(
                ValidatedItem(
                    product_id=product["id"],
                    name=product["name"],
                    price=price,
                    quantity=line.quantity,
                    line_total=price * line.quantity,
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

    @activity.defn(name="process_payment")
    @step_activity
    async def process_payment(self, arg: ProcessPaymentInput) -> PaymentResult:
        """Charge exactly the validated total, once: the idempotency key is per workflow."""
        payment = arg.payment_info
        if not payment.method:
            raise permanent("MISSING_PAYMENT_METHOD", "Payment method is required")
        if not payment.token:
            raise permanent("MISSING_PAYMENT_TOKEN", "Payment token is required")
        if arg.cart is None:
            raise permanent("MISSING_CART_TOTAL", "Cart validation result with a total is required")
        if payment.amount != arg.cart.total:
            raise permanent(
                "PAYMENT_AMOUNT_MISMATCH",
                f"Payment amount {payment.amount} does not match order total {arg.cart.total}",
            )
        response = await self.client.request(
            "POST",
            "/payments/charges",
            correlation_id=arg.correlation_id,
            json={
                "amount": str(arg.cart.total),
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

    @activity.defn(name="update_inventory")
    @step_activity
    async def update_inventory(self, arg: UpdateInventoryInput) -> InventoryResult:
        """Reserve every line; reservations are idempotent per (order, product)."""
        if not arg.validated_items:
            raise permanent("MISSING_VALIDATED_ITEMS", "Validated cart items are required")
        if arg.customer_info is None:
            raise permanent("MISSING_CUSTOMER_INFO", "Customer information is required")
        order_id = reservation_order_id(current_workflow_id(), arg.customer_info.id)
        existing = await self._reservations(order_id, arg.correlation_id)
        updated: list[UpdatedProduct] = []
        changes: list[InventoryChange] = []
        for item in arg.validated_items:
            reservation = existing.get(item.product_id)
            if reservation is None:
                reservation = await self._reserve(order_id, item, arg.correlation_id)
            updated.append(
                UpdatedProduct(
                    product_id=item.product_id,
                    name=item.name,
                    previous_stock=reservation["previous_stock"],
                    new_stock=reservation["new_stock"],
                    quantity_reserved=reservation["quantity"],
                    reservation_id=reservation["reservation_id"],
                )
            )
            changes.append(
                InventoryChange(
                    product_id=item.product_id,
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

    async def _reservations(self, order_id: str, correlation_id: str) -> dict[int, Any]:
        """Reservations already held (an earlier attempt may have made some)."""
        response = await self.client.request(
            "GET",
            "/inventory/reservations",
            params={"order_id": order_id},
            correlation_id=correlation_id,
        )
        return {
            r["product_id"]: r
            for r in response.json()["reservations"]
            if r.get("status") == "reserved"
        }

    async def _reserve(self, order_id: str, item: ValidatedItem, correlation_id: str) -> Any:
        check = await self.client.request(
            "GET",
            f"/inventory/products/{item.product_id}/availability",
            params={"quantity": item.quantity},
            correlation_id=correlation_id,
        )
        if not check.json()["available"]:
            raise retryable(
                "INVENTORY_UNAVAILABLE",
                f"{item.name} is not available in quantity {item.quantity}",
            )
        response = await self.client.request(
            "POST",
            "/inventory/reservations",
            key_suffix=str(item.product_id),
            correlation_id=correlation_id,
            json={"order_id": order_id, "product_id": item.product_id, "quantity": item.quantity},
        )
        reservation = response.json()
        if response.status_code == 409 or reservation.get("status") != "reserved":
            raise retryable(
                "INVENTORY_CONFLICT",
                f"Reservation of {item.name} is {reservation.get('status', 'conflicting')}",
            )
        return reservation

    @activity.defn(name="create_order")
    @step_activity
    async def create_order(self, arg: CreateOrderInput) -> OrderResult:
        """Persist the confirmed order; idempotent per workflow."""
        if arg.customer_info is None:
            raise permanent("MISSING_CUSTOMER_INFO", "Customer information is required")
        if arg.cart is None:
            raise permanent("MISSING_CART_VALIDATION", "Cart validation result is required")
        if arg.payment is None:
            raise permanent("MISSING_PAYMENT_RESULT", "Payment result is required")
        if arg.inventory is None:
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
                "reservation_ids": [p.reservation_id for p in arg.inventory.updated_products],
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

    @activity.defn(name="send_confirmation")
    @step_activity
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

    @activity.defn(name="refund_payment")
    @step_activity
    async def refund_payment(self, arg: RefundPaymentInput) -> CompensationResult:
        """Refund the charge in full; a payment that never completed has nothing to undo."""
        if arg.payment is None:
            return CompensationResult(status="nothing_to_refund")
        response = await self.client.request(
            "POST",
            "/payments/refunds",
            step="process_payment",
            correlation_id=arg.correlation_id,
            json={
                "charge_id": arg.payment.payment_id,
                "amount": str(arg.payment.amount_charged),
                "reason": arg.reason,
            },
        )
        refund = response.json()
        return CompensationResult(status="refunded", details=[refund])

    @activity.defn(name="release_inventory")
    @step_activity
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
