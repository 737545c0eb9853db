"""The order-return saga's input, step inputs and step results, and its pure rules.

Imported inside the workflow sandbox (the descriptor's ``request`` names this module, so the
worker passes it through): plain data and pure functions only, no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from models.limits import MAX_CART_ITEMS, Email, Id, Identifier, Quantity, Text
from models.money import Money, to_money
from models.plan import SagaPlan
from models.steps import Step, Steps

DEFAULT_RETURN_WINDOW_DAYS = 30
"""Used only when the config's ``validate_return.handler_config`` names no window."""


# -- input ---------------------------------------------------------------------------------

# Required fields, types and minimums are the config schema's (order_return.yaml); the
# types here add the bounds of models/limits.py.


class ReturnItem(BaseModel):
    product_id: Id
    quantity: Quantity


class ReturnInput(BaseModel):
    order_id: Id
    items: list[ReturnItem] = Field(max_length=MAX_CART_ITEMS)
    reason: Text | None = None
    customer_email: Email | None = None
    """Where the confirmation goes; the order's own address when absent."""
    correlation_id: Identifier | None = None


class ReturnRequest(BaseModel):
    """OrderReturnWorkflow's argument: the customer's return and the plan it runs with."""

    order_return: ReturnInput
    plan: SagaPlan


def return_summary(request: ReturnRequest) -> str:
    """The saga's one-line summary in the Web UI: which order, how many units, no reason,
    no address (the reason is free text a customer may fill with anything)."""
    ret = request.order_return
    units = sum(item.quantity for item in ret.items)
    lines = len(ret.items)
    return (
        f"Order return: {units} unit{'s' * (units != 1)} in {lines} line{'s' * (lines != 1)}"
        f" of order {ret.order_id}"
    )


# -- step results --------------------------------------------------------------------------


class ReturnedLine(BaseModel):
    """One returned product, priced as the order charged it."""

    product_id: int
    name: str
    price: Money
    quantity: int
    line_total: Money


class ReturnValidation(BaseModel):
    order_id: int
    order_number: str
    payment_id: str
    lines: list[ReturnedLine]
    """One line per product (the request's lines of one product are added up)."""
    returned_subtotal: Money
    tax_refund: Money
    refund_amount: Money
    """returned_subtotal + the order's tax in proportion; shipping is not refunded."""
    customer_email: str | None
    order_created_at: datetime
    return_window_days: int
    validated_at: datetime


class RefundResult(BaseModel):
    refund_id: str | None
    """None when nothing was owed (the returned lines cost nothing): no refund is made."""
    charge_id: str
    amount: Money
    status: str
    refunded_at: datetime


class RestockedLine(BaseModel):
    restock_id: str
    product_id: int
    quantity: int
    status: str


class RestockResult(BaseModel):
    return_id: str
    restocks: list[RestockedLine]
    units_restocked: int
    restocked_at: datetime


class ReturnConfirmation(BaseModel):
    """What send_return_confirmation records: sent, or (on_exhausted: continue) why not."""

    email_sent: bool
    message_id: str | None = None
    sent_at: datetime | None = None
    error: str | None = None


class ReturnCompensation(BaseModel):
    """The result of the compensation ``order_return.reverse_restock``."""

    status: str
    details: list[dict[str, Any]] = Field(default_factory=list)
    nothing_to_undo: bool = False
    """No restock was made: the step runner must not mark restock_items compensated."""


# -- step inputs ---------------------------------------------------------------------------


class ReturnStepInput(BaseModel):
    """Every step input carries the saga's correlation id, for headers and log lines."""

    correlation_id: str


class ValidateReturnInput(ReturnStepInput):
    order_id: int
    items: list[ReturnItem]


class RefundInput(ReturnStepInput):
    validation: ReturnValidation | None
    reason: str | None


class RestockInput(ReturnStepInput):
    validation: ReturnValidation | None
    return_id: str
    """The workflow id: restocks are idempotent per (return_id, product_id)."""


class ReverseRestockInput(ReturnStepInput):
    return_id: str


class ConfirmationInput(ReturnStepInput):
    to: str | None
    validation: ReturnValidation | None
    refund: RefundResult | None
    restock: RestockResult | None
    return_id: str


# -- pure rules ----------------------------------------------------------------------------


class OrderedLine(BaseModel):
    """A line as the order store holds it (what create_order sent)."""

    product_id: int
    name: str
    price: Money
    quantity: int


def requested_units(items: list[ReturnItem]) -> dict[int, int]:
    """Units asked for, per product, in request order (lines of one product added up)."""
    units: dict[int, int] = {}
    for item in items:
        units[item.product_id] = units.get(item.product_id, 0) + item.quantity
    return units


def line_problems(
    requested: dict[int, int], ordered: list[OrderedLine], already_returned: dict[int, int]
) -> list[str]:
    """Why the requested units cannot be returned: a product the order lacks, or more units
    than it holds less those already returned (restocked by earlier returns)."""
    held: dict[int, int] = {}
    for line in ordered:
        held[line.product_id] = held.get(line.product_id, 0) + line.quantity
    problems = []
    for product_id, units in requested.items():
        if units < 1:
            problems.append(f"product {product_id}: quantity {units} is not a positive number")
        elif product_id not in held:
            problems.append(f"product {product_id} is not in the order")
        else:
            left = held[product_id] - already_returned.get(product_id, 0)
            if units > left:
                problems.append(
                    f"product {product_id}: {units} returned, {left} of"
                    f" {held[product_id]} ordered can still be returned"
                )
    return problems


def returned_lines(requested: dict[int, int], ordered: list[OrderedLine]) -> list[ReturnedLine]:
    """The requested units priced as ordered (a product's first order line sets its price)."""
    first: dict[int, OrderedLine] = {}
    for line in ordered:
        first.setdefault(line.product_id, line)
    return [
        ReturnedLine(
            product_id=product_id,
            name=first[product_id].name,
            price=first[product_id].price,
            quantity=units,
            line_total=first[product_id].price * units,
        )
        for product_id, units in requested.items()
    ]


def refund_amounts(
    lines: list[ReturnedLine], order_subtotal: Decimal, order_tax: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(returned subtotal, tax refunded, refund): the order's tax in the proportion the
    returned lines bear to its subtotal, rounded half-up to cents. Shipping is not refunded."""
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    tax = to_money(order_tax * subtotal / order_subtotal) if order_subtotal else Decimal("0.00")
    return subtotal, tax, to_money(subtotal + tax)


def window_closed(created_at: datetime, now: datetime, days: int) -> bool:
    """The return window runs ``days`` full days from the order's creation."""
    return now - created_at > timedelta(days=days)


def confirmation_failed(error: str) -> ReturnConfirmation:
    """The fallback when the email could not go out: the return stands."""
    return ReturnConfirmation(email_sent=False, error=error)


# -- the steps -----------------------------------------------------------------------------
# Activity names are namespaced: "refund_payment" is already the order saga's activity on
# the same task queue, and the worker refuses a name two sagas define.

VALIDATE_RETURN = Step("validate_return", ReturnValidation, activity="order_return.validate_return")
REFUND_PAYMENT = Step(
    "refund_payment", RefundResult, reads=(VALIDATE_RETURN,), activity="order_return.refund_payment"
)
RESTOCK_ITEMS = Step(
    "restock_items", RestockResult, reads=(VALIDATE_RETURN,), activity="order_return.restock_items"
)
SEND_RETURN_CONFIRMATION = Step(
    "send_return_confirmation",
    ReturnConfirmation,
    reads=(VALIDATE_RETURN, REFUND_PAYMENT, RESTOCK_ITEMS),
    activity="order_return.send_return_confirmation",
)
REVERSE_RESTOCK = "order_return.reverse_restock"
"""The compensation of restock_items (the config's ``saga.compensation``). refund_payment
has none: a refund is final (the goods have come back)."""
RETURN_STEPS = Steps(
    VALIDATE_RETURN,
    REFUND_PAYMENT,
    RESTOCK_ITEMS,
    SEND_RETURN_CONFIRMATION,
    compensations=(REVERSE_RESTOCK,),
)
