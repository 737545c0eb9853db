"""The order saga's input, step inputs and step results, plus its pure business rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from models.limits import MAX_CART_ITEMS, Email, Id, Identifier, IdOrText, Quantity, Text
from models.money import CENT, Amount, Money, to_money
from models.plan import SagaPlan
from models.steps import Step, Steps

TAX_RATE = Decimal("0.08")
UNIT_WEIGHT_LB = Decimal("0.5")
SHIPPING_TIERS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("2"), Decimal("5.99")),
    (Decimal("10"), Decimal("9.99")),
)
HEAVY_SHIPPING = Decimal("14.99")


# -- input ---------------------------------------------------------------------------------


# Required fields, types, enums and minimums are the config schema's; the types here add
# the bounds of models/limits.py (see the README's "Input limits").


class CartItem(BaseModel):
    product_id: Id | None = None
    quantity: Quantity | None = None
    price: Amount | None = None
    name: Text | None = None


class PaymentInfo(BaseModel):
    method: Text | None = None
    amount: Annotated[Amount, Field(gt=0)] | None = None
    """What the customer agrees to pay: never nothing (the schema allows 0)."""
    currency: Text = "USD"
    card_last_four: Text | None = None
    token: Text | None = None


class CustomerInfo(BaseModel):
    email: Email | None = None
    name: Text | None = None
    id: IdOrText | None = None
    tier: Text = "standard"
    phone: Text | None = None


class ShippingInfo(BaseModel):
    address: Text | None = None
    city: Text | None = None
    state: Text | None = None
    zip: Text | None = None


class OrderInput(BaseModel):
    cart_items: list[CartItem] = Field(default_factory=list, max_length=MAX_CART_ITEMS)
    payment_info: PaymentInfo = Field(default_factory=PaymentInfo)
    customer_info: CustomerInfo = Field(default_factory=CustomerInfo)
    shipping_info: ShippingInfo | None = None
    priority: Literal["standard", "express", "overnight"] = "standard"
    correlation_id: Identifier | None = None


class OrderRequest(BaseModel):
    """OrderProcessingWorkflow's argument: the customer's order and the plan it runs with."""

    order: OrderInput
    plan: SagaPlan


def order_customer(data: dict[str, Any]) -> str | None:
    """Whose order it is: ``customer_info.id`` (``list --customer 42``)."""
    customer = (data.get("customer_info") or {}).get("id")
    return None if customer is None else str(customer)


def order_summary(request: OrderRequest) -> str:
    """The saga's one-line summary in the Web UI: how many, how much (no personal data)."""
    order = request.order
    units = sum(item.quantity or 0 for item in order.cart_items)
    payment = order.payment_info
    total = f"{payment.amount:.2f} {payment.currency}" if payment.amount else "no total"
    priority = "" if order.priority == "standard" else f", {order.priority}"
    return f"Order: {units} items in {len(order.cart_items)} lines, {total}{priority}"


# -- step results --------------------------------------------------------------------------


class ValidatedItem(BaseModel):
    product_id: int
    name: str
    price: Money
    quantity: int
    line_total: Money


class CartValidation(BaseModel):
    validated_items: list[ValidatedItem]
    subtotal: Money
    tax: Money
    shipping: Money
    total: Money
    item_count: int
    validated_at: datetime


class PaymentResult(BaseModel):
    payment_id: str
    amount_charged: Money
    currency: str
    payment_method_type: str
    transaction_id: str
    processed_at: datetime
    status: Literal["completed"] = "completed"


class UpdatedProduct(BaseModel):
    product_id: int
    name: str
    previous_stock: int
    new_stock: int
    quantity_reserved: int
    reservation_id: str


class InventoryChange(BaseModel):
    product_id: int
    change_type: Literal["reservation"] = "reservation"
    quantity: int
    reason: str = "order_checkout"
    timestamp: datetime
    reservation_id: str


class InventoryResult(BaseModel):
    updated_products: list[UpdatedProduct]
    total_items_reserved: int
    inventory_changes: list[InventoryChange]
    updated_at: datetime


class OrderResult(BaseModel):
    order_id: int
    order_number: str
    status: Literal["confirmed"] = "confirmed"
    total_amount: Money
    customer_email: str
    created_at: datetime
    estimated_delivery: str


class ConfirmationResult(BaseModel):
    email_sent: bool = True
    recipient: str
    email_type: Literal["order_confirmation"] = "order_confirmation"
    sent_at: datetime
    message_id: str


# -- step inputs ---------------------------------------------------------------------------


class StepInput(BaseModel):
    """Every step input carries the saga's correlation id, for headers and log lines."""

    correlation_id: str


class ValidateCartInput(StepInput):
    cart_items: list[CartItem]


class ProcessPaymentInput(StepInput):
    payment_info: PaymentInfo
    amount_due: Money | None
    """The validated cart's total (not the whole cart: inputs carry only what the step uses,
    every input is stored in the history)."""


class UpdateInventoryInput(StepInput):
    validated_items: list[ValidatedItem] | None
    reservation_order_id: str
    """What the reservations are held under (see :func:`reservation_order_id`)."""


class CreateOrderInput(StepInput):
    customer_info: CustomerInfo | None
    cart: CartValidation | None
    payment: PaymentResult | None
    reservation_ids: list[str] | None
    """The reservations update_inventory made; None when it produced no result."""


class SendConfirmationInput(StepInput):
    customer_info: CustomerInfo | None
    order: OrderResult | None
    cart: CartValidation | None


class RefundPaymentInput(StepInput):
    """Compensation of process_payment: refunds whatever the payment step charged."""

    payment: PaymentResult | None
    reason: str = "saga_compensation"


class CancelOrderInput(StepInput):
    """Compensation of create_order: cancels the order this saga created, if it exists."""

    reason: str = "saga_compensation"


class ReleaseInventoryInput(StepInput):
    """Compensation of update_inventory: releases every reservation made for the order."""

    reservation_order_id: str


class ConfirmationFallback(BaseModel):
    """What send_confirmation records when the email could not go out (the order stands)."""

    email_sent: bool = False
    error: str


# -- the steps -----------------------------------------------------------------------------

VALIDATE_CART = Step("validate_cart", CartValidation)
PROCESS_PAYMENT = Step("process_payment", PaymentResult, reads=(VALIDATE_CART,))
UPDATE_INVENTORY = Step("update_inventory", InventoryResult, reads=(VALIDATE_CART,))
CREATE_ORDER = Step(
    "create_order", OrderResult, reads=(VALIDATE_CART, PROCESS_PAYMENT, UPDATE_INVENTORY)
)
SEND_CONFIRMATION = Step(
    "send_confirmation", ConfirmationResult, reads=(VALIDATE_CART, CREATE_ORDER)
)
ORDER_STEPS = Steps(
    VALIDATE_CART,
    PROCESS_PAYMENT,
    UPDATE_INVENTORY,
    CREATE_ORDER,
    SEND_CONFIRMATION,
    compensations=("refund_payment", "release_inventory", "cancel_order"),
)


# -- pure rules ----------------------------------------------------------------------------


def shipping_for(units: int) -> Decimal:
    """Shipping by weight, 0.5 lb a unit: ≤ 2 lb 5.99, ≤ 10 lb 9.99, above 14.99."""
    weight = UNIT_WEIGHT_LB * units
    for limit, price in SHIPPING_TIERS:
        if weight <= limit:
            return price
    return HEAVY_SHIPPING


def cart_totals(items: list[ValidatedItem]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(subtotal, tax, shipping, total); tax is 8 % rounded half-up to cents."""
    subtotal = sum((item.line_total for item in items), Decimal("0.00"))
    tax = to_money(subtotal * TAX_RATE)
    shipping = shipping_for(sum(item.quantity for item in items))
    return subtotal, tax, shipping, (subtotal + tax + shipping).quantize(CENT)


def reservation_order_id(workflow_id: str, customer_id: int | str | None) -> str:
    """Reservations are keyed per (order, product); the order is this saga and its customer."""
    return f"{workflow_id}:{customer_id if customer_id is not None else 'guest'}"
