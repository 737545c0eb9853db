"""A Stripe-like payment gateway: charges and refunds, outcomes chosen by test token.

Failed attempts record nothing, so a declined or timed-out charge never needs compensating.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from starlette.routing import Route

from .api import (
    Answer,
    ApiError,
    Call,
    invalid,
    money,
    new_id,
    optional_str,
    parse_money,
    require_str,
)
from .db import Row, Tx
from .pipeline import Context, route

# prefix -> (status, code, message, retryable)
TOKEN_OUTCOMES: Final = {
    "tok_decline": (402, "card_declined", "Your card was declined.", False),
    "tok_insufficient": (402, "insufficient_funds", "Your card has insufficient funds.", False),
    "tok_invalid": (402, "invalid_card", "Your card number is invalid.", False),
    "tok_timeout": (504, "timeout", "The card network timed out; nothing was charged.", True),
    "tok_rate_limit": (429, "rate_limited", "Too many requests to the card network.", True),
}
RATE_LIMIT_RETRY_AFTER: Final = 30


def _positive_amount(value: Any, name: str) -> Decimal:
    amount = parse_money(value, name)
    if amount <= 0:
        raise ApiError(
            422, "invalid_amount", f"'{name}' must be greater than 0", details={"field": name}
        )
    return amount


def _refunded(tx: Tx, charge_id: str) -> Decimal:
    return sum((Decimal(r["amount"]) for r in tx.find("refunds", charge_id=charge_id)), Decimal(0))


def _charge_json(row: Row, refunded: Decimal | None = None) -> dict[str, Any]:
    keys = ("id", "status", "amount", "currency", "method", "description", "metadata")
    body = {k: row[k] for k in keys}
    body["transaction_id"] = row["transaction_id"]
    body["created_at"] = row["created_at"]
    if refunded is not None:
        body["refunded"] = money(refunded)
    return body


def charge(tx: Tx, call: Call) -> Answer:
    """POST /payments/charges."""
    body = call.body
    amount = _positive_amount(body.get("amount"), "amount")
    currency = (optional_str(body, "currency", "USD") or "USD").upper()
    token = require_str(body, "token")
    method = optional_str(body, "method", "credit_card") or "credit_card"
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise invalid("metadata", "must be an object")
    for prefix, (status, code, message, retryable) in TOKEN_OUTCOMES.items():
        if token.startswith(prefix):
            headers = {"Retry-After": str(RATE_LIMIT_RETRY_AFTER)} if status == 429 else {}
            raise ApiError(status, code, message, details={"retryable": retryable}, headers=headers)
    row = {
        "id": new_id("ch"),
        "amount": money(amount),
        "currency": currency,
        "method": method,
        "description": optional_str(body, "description"),
        "metadata": metadata,
        "transaction_id": new_id("txn", 8),
        "status": "succeeded",
        "created_at": call.timestamp,
    }
    tx.insert("charges", row)
    return Answer(201, _charge_json(row))


def list_charges(tx: Tx, call: Call) -> Answer:
    """GET /payments/charges, each with the amount refunded so far."""
    rows = tx.find("charges")
    return Answer(200, {"charges": [_charge_json(r, _refunded(tx, r["id"])) for r in rows]})


def _get(tx: Tx, charge_id: str) -> Row:
    row = tx.find_one("charges", id=charge_id)
    if row is None:
        raise ApiError(404, "charge_not_found", f"Charge {charge_id} not found")
    return row


def get_charge(tx: Tx, call: Call) -> Answer:
    """GET /payments/charges/{charge_id}."""
    row = _get(tx, call.params["charge_id"])
    return Answer(200, _charge_json(row, _refunded(tx, row["id"])))


def refund(tx: Tx, call: Call) -> Answer:
    """POST /payments/refunds: amount defaults to whatever is left on the charge."""
    charge_id = require_str(call.body, "charge_id")
    row = _get(tx, charge_id)
    remaining = Decimal(row["amount"]) - _refunded(tx, charge_id)
    raw = call.body.get("amount")
    amount = remaining if raw is None else _positive_amount(raw, "amount")
    if amount <= 0 or amount > remaining:
        raise ApiError(
            422,
            "refund_exceeds_charge",
            f"Refund of {money(amount)} exceeds the {money(remaining)} left on {charge_id}",
            details={"remaining": money(remaining)},
        )
    refund_row = {
        "id": new_id("re"),
        "charge_id": charge_id,
        "amount": money(amount),
        "reason": optional_str(call.body, "reason"),
        "status": "succeeded",
        "created_at": call.timestamp,
    }
    tx.insert("refunds", refund_row)
    return Answer(201, refund_row)


def list_refunds(tx: Tx, call: Call) -> Answer:
    """GET /payments/refunds?charge_id=X."""
    return Answer(200, {"refunds": tx.find("refunds", charge_id=call.query.get("charge_id"))})


def routes(ctx: Context) -> list[Route]:
    """Payment gateway routes."""
    return [
        route(ctx, "POST", "/payments/charges", charge, "payments.charge"),
        route(ctx, "GET", "/payments/charges", list_charges),
        route(ctx, "GET", "/payments/charges/{charge_id}", get_charge),
        route(ctx, "POST", "/payments/refunds", refund, "payments.refund"),
        route(ctx, "GET", "/payments/refunds", list_refunds),
    ]
