"""The order-return saga's activities: four steps and the undo of the restock.

Each step's activity name is namespaced (``order_return.<step>``, declared in models.py):
the shared client still finds a call's service URL and idempotency key by the step's own
name. Every call here names the step whose service it goes to, so the undo of the restock
reads and writes at the restock's service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from activities.base import SagaActivities
from activities.outcomes import permanent
from activities.step import current_workflow_id, step_activity
from models.money import to_money
from models.steps import Step
from order_return import RETURN
from order_return.models import (
    DEFAULT_RETURN_WINDOW_DAYS,
    REFUND_PAYMENT,
    RESTOCK_ITEMS,
    REVERSE_RESTOCK,
    SEND_RETURN_CONFIRMATION,
    VALIDATE_RETURN,
    ConfirmationInput,
    OrderedLine,
    RefundInput,
    RefundResult,
    RestockedLine,
    RestockInput,
    RestockResult,
    ReturnCompensation,
    ReturnConfirmation,
    ReturnStepInput,
    ReturnValidation,
    ReverseRestockInput,
    ValidateReturnInput,
    line_problems,
    refund_amounts,
    requested_units,
    returned_lines,
    window_closed,
)

EMAIL_RATE_LIMIT_DELAY = timedelta(seconds=60)
DEFAULT_REFUND_REASON = "customer_return"


def _now() -> datetime:
    return datetime.now(UTC)


def return_window_days() -> int:
    """``validate_return.handler_config.return_window_days`` of the saga's config (this
    worker's environment overlay applied); the plan does not carry handler settings."""
    config = RETURN.template().step(VALIDATE_RETURN.name).handler_config
    days = config.get("return_window_days", DEFAULT_RETURN_WINDOW_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise permanent(
            "RETURN_WINDOW_MISCONFIGURED",
            f"validate_return.handler_config.return_window_days is {days!r}, not a number of days",
        )
    return days


def _validated(arg: RefundInput | RestockInput | ConfirmationInput) -> ReturnValidation:
    if arg.validation is None:
        raise permanent("MISSING_RETURN_VALIDATION", "The validated return is required")
    return arg.validation


class ReturnActivities(SagaActivities):
    """Activities bound to one HTTP client; the worker registers ``all()`` of them."""

    async def _call(
        self, step: Step[Any], method: str, path: str, arg: ReturnStepInput, **options: Any
    ) -> httpx.Response:
        """One service call for ``step`` (its URL, its idempotency key)."""
        return await self.client.request(
            method, path, correlation_id=arg.correlation_id, step=step.name, **options
        )

    @step_activity(VALIDATE_RETURN)
    async def validate_return(self, arg: ValidateReturnInput) -> ReturnValidation:
        """Check the order (exists, confirmed, inside the return window) and every returned
        line (in the order, no more units than are left to return), and price the refund.
        Every refusal is permanent: retrying cannot make a return valid."""
        requested = requested_units(arg.items)
        if not requested:
            raise permanent("RETURN_LINE_INVALID", "A return needs at least one line")
        response = await self._call(
            VALIDATE_RETURN, "GET", f"/orders/{arg.order_id}", arg, codes={404: "ORDER_NOT_FOUND"}
        )
        order = response.json()
        if order.get("status") != "confirmed":
            raise permanent(
                "ORDER_NOT_RETURNABLE",
                f"Order {arg.order_id} is {order.get('status')!r}, not confirmed",
            )
        try:
            created_at = datetime.fromisoformat(order["created_at"])
            ordered = [OrderedLine.model_validate(line) for line in order["items"]]
            subtotal, tax = to_money(order["subtotal"]), to_money(order["tax"])
            payment_id = str(order["payment_id"])
        except (KeyError, TypeError, ValueError, ValidationError) as err:
            raise permanent(
                "ORDER_NOT_RETURNABLE", f"Order {arg.order_id} cannot be read: {err}"
            ) from None
        days = return_window_days()
        if window_closed(created_at, _now(), days):
            raise permanent(
                "RETURN_WINDOW_CLOSED",
                f"Order {arg.order_id} was placed on {created_at:%Y-%m-%d}: the {days}-day"
                " return window has closed",
            )
        restocks = await self._call(
            VALIDATE_RETURN, "GET", "/inventory/restocks", arg,
            params={"order_id": str(arg.order_id)},
        )  # fmt: skip
        this_return = current_workflow_id()
        returned: dict[int, int] = {}
        for restock in restocks.json()["restocks"]:
            # Units back in stock from other returns; this return's own (an earlier run of
            # the same workflow id) and reversed restocks do not count.
            if restock["status"] != "reversed" and restock["return_id"] != this_return:
                product_id = restock["product_id"]
                returned[product_id] = returned.get(product_id, 0) + restock["quantity"]
        problems = line_problems(requested, ordered, returned)
        if problems:
            raise permanent("RETURN_LINE_INVALID", "; ".join(problems))
        lines = returned_lines(requested, ordered)
        returned_subtotal, tax_refund, refund = refund_amounts(lines, subtotal, tax)
        return ReturnValidation(
            order_id=arg.order_id,
            order_number=str(order.get("order_number", "")),
            payment_id=payment_id,
            lines=lines,
            returned_subtotal=returned_subtotal,
            tax_refund=tax_refund,
            refund_amount=refund,
            customer_email=order.get("customer_email"),
            order_created_at=created_at,
            return_window_days=days,
            validated_at=_now(),
        )

    @step_activity(REFUND_PAYMENT)
    async def refund_payment(self, arg: RefundInput) -> RefundResult:
        """Refund exactly the validated amount on the order's charge. The client's
        idempotency key (workflow + activity) makes a retry after a lost reply replay the
        refund instead of making a second one."""
        validation = _validated(arg)
        if validation.refund_amount <= 0:
            return RefundResult(
                refund_id=None,
                charge_id=validation.payment_id,
                amount=validation.refund_amount,
                status="not_needed",
                refunded_at=_now(),
            )
        response = await self._call(
            REFUND_PAYMENT, "POST", "/payments/refunds", arg,
            json={
                "charge_id": validation.payment_id,
                "amount": str(validation.refund_amount),
                "reason": arg.reason or DEFAULT_REFUND_REASON,
            },
            codes={404: "CHARGE_NOT_FOUND", 422: "REFUND_REJECTED"},
        )  # fmt: skip
        refund = response.json()
        return RefundResult(
            refund_id=refund["id"],
            charge_id=refund["charge_id"],
            amount=to_money(refund["amount"]),
            status=refund["status"],
            refunded_at=_now(),
        )

    @step_activity(RESTOCK_ITEMS)
    async def restock_items(self, arg: RestockInput) -> RestockResult:
        """Put every returned line back in stock in one all-or-nothing call, under the
        return's id: the service never restocks a (return, product) twice."""
        validation = _validated(arg)
        response = await self._call(
            RESTOCK_ITEMS, "POST", "/inventory/restocks", arg,
            json={
                "order_id": str(validation.order_id),
                "return_id": arg.return_id,
                "items": [
                    {"product_id": line.product_id, "quantity": line.quantity}
                    for line in validation.lines
                ],
            },
            codes={404: "PRODUCT_NOT_FOUND"},
        )  # fmt: skip
        restocks = [RestockedLine.model_validate(r) for r in response.json()["restocks"]]
        undone = [r.restock_id for r in restocks if r.status != "restocked"]
        if undone:
            raise permanent("RESTOCK_REVERSED", f"Restocks already reversed: {', '.join(undone)}")
        return RestockResult(
            return_id=arg.return_id,
            restocks=restocks,
            units_restocked=sum(r.quantity for r in restocks),
            restocked_at=_now(),
        )

    @step_activity(SEND_RETURN_CONFIRMATION)
    async def send_return_confirmation(self, arg: ConfirmationInput) -> ReturnConfirmation:
        """One confirmation email per return (idempotent per workflow)."""
        validation = _validated(arg)
        if not arg.to:
            raise permanent("MISSING_CUSTOMER_EMAIL", "No address to confirm the return to")
        response = await self._call(
            SEND_RETURN_CONFIRMATION, "POST", "/emails", arg,
            json={
                "to": arg.to,
                "subject": f"Your return for order {validation.order_number}",
                "template": "return_confirmation",
                "data": {
                    "order_number": validation.order_number,
                    "return_id": arg.return_id,
                    "refund_amount": str(validation.refund_amount),
                    "refund_id": arg.refund.refund_id if arg.refund else None,
                    "lines": [line.model_dump(mode="json") for line in validation.lines],
                    "units_restocked": arg.restock.units_restocked if arg.restock else 0,
                },
            },
            codes={400: "INVALID_EMAIL", 422: "INVALID_EMAIL"},
            rate_limit_delay=EMAIL_RATE_LIMIT_DELAY,
        )  # fmt: skip
        sent = response.json()
        return ReturnConfirmation(email_sent=True, message_id=sent["message_id"], sent_at=_now())

    # -- compensation ----------------------------------------------------------------------

    @step_activity(REVERSE_RESTOCK)
    async def reverse_restock(self, arg: ReverseRestockInput) -> ReturnCompensation:
        """Take back out of stock whatever this return restocked, found by its return id
        at the service (so a restock whose reply was lost is found too)."""
        response = await self._call(
            RESTOCK_ITEMS, "GET", "/inventory/restocks", arg, params={"return_id": arg.return_id}
        )
        restocks = response.json()["restocks"]
        if not restocks:
            return ReturnCompensation(status="nothing_to_reverse", nothing_to_undo=True)
        reversed_ = []
        for restock in restocks:
            reply = await self._call(
                RESTOCK_ITEMS, "POST", f"/inventory/restocks/{restock['restock_id']}/reverse",
                arg, key_suffix=restock["restock_id"],
            )  # fmt: skip
            reversed_.append(reply.json())
        return ReturnCompensation(status="reversed", details=reversed_)
