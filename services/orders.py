"""The order store: the last, irreversible-looking step of the order saga.

Orders are unique per workflow_id, so re-running "create order" after a lost response
returns the order that already exists instead of creating a second one.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any, Final

from starlette.routing import Route

from .api import Answer, ApiError, Call, money, parse_money
from .db import Row, Tx
from .pipeline import Context, route

REQUIRED: Final = (
    "workflow_id",
    "customer_email",
    "customer_name",
    "items",
    "subtotal",
    "tax",
    "shipping",
    "total",
    "payment_id",
)
MONEY_FIELDS: Final = ("subtotal", "tax", "shipping", "total")


def _order_json(row: Row) -> dict[str, Any]:
    body = {k: v for k, v in row.items() if k != "id"}
    return {"order_id": row["id"], **body}


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _failed(message: str, fields: list[str]) -> ApiError:
    return ApiError(422, "order_validation_failed", message, details={"fields": fields})


def _validate(body: dict[str, Any]) -> dict[str, Decimal]:
    missing = [f for f in REQUIRED if body.get(f) in (None, "", [])]
    if missing:
        raise _failed(f"Missing required fields: {', '.join(missing)}", missing)
    if not isinstance(body["items"], list):
        raise _failed("'items' must be a list", ["items"])
    reservation_ids = body.get("reservation_ids", [])
    if not isinstance(reservation_ids, list):
        raise _failed("'reservation_ids' must be a list", ["reservation_ids"])
    amounts: dict[str, Decimal] = {}
    for name in MONEY_FIELDS:
        try:
            amounts[name] = parse_money(body[name], name)
        except ApiError:
            raise _failed(f"'{name}' must be a decimal amount", [name]) from None
        if amounts[name] < 0:
            raise _failed(f"'{name}' must not be negative", [name])
    return amounts


def create(tx: Tx, call: Call) -> Answer:
    """POST /orders: store a confirmed order (200 with the existing one on a repeat)."""
    body = dict(call.body)
    workflow_id = body.get("workflow_id")
    if isinstance(workflow_id, str) and workflow_id:
        existing = tx.find_one("orders", workflow_id=workflow_id)
        if existing is not None:
            return Answer(200, _order_json(existing))
    amounts = _validate(body)
    row: dict[str, Any] = {
        "order_number": f"ORD-{call.now:%Y%m%d}-{secrets.token_hex(4).upper()}",
        "workflow_id": str(workflow_id),
        "customer_email": str(body["customer_email"]),
        "customer_name": str(body["customer_name"]),
        "customer_id": _optional_text(body.get("customer_id")),
        "items": body["items"],
        **{name: money(value) for name, value in amounts.items()},
        "payment_id": str(body["payment_id"]),
        "transaction_id": _optional_text(body.get("transaction_id")),
        "reservation_ids": body.get("reservation_ids") or [],
        "status": str(body.get("status") or "confirmed"),
        "payment_status": str(body.get("payment_status") or "completed"),
        "created_at": call.timestamp,
    }
    order_id = tx.insert("orders", row)
    return Answer(201, _order_json({"id": order_id, **row}))


def get_order(tx: Tx, call: Call) -> Answer:
    """GET /orders/{order_id}."""
    raw = call.params["order_id"]
    row = tx.find_one("orders", id=int(raw)) if raw.isdigit() else None
    if row is None:
        raise ApiError(404, "order_not_found", f"Order {raw} not found")
    return Answer(200, _order_json(row))


def list_orders(tx: Tx, call: Call) -> Answer:
    """GET /orders?workflow_id=X."""
    rows = tx.find("orders", workflow_id=call.query.get("workflow_id"))
    return Answer(200, {"orders": [_order_json(r) for r in rows]})


def cancel(tx: Tx, call: Call) -> Answer:
    """POST /orders/cancel {"workflow_id", "reason"}: undo the order a saga created, found by
    the saga's identity (the order may exist though its creator never heard back). Cancelling
    twice, or where no order exists, changes nothing."""
    workflow_id = call.body.get("workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise ApiError(422, "invalid_request", "'workflow_id' is required")
    row = tx.find_one("orders", workflow_id=workflow_id)
    if row is None:
        return Answer(200, {"workflow_id": workflow_id, "status": "nothing_to_cancel"})
    if row["status"] != "cancelled":
        changes = {"status": "cancelled", "payment_status": "refunded"}
        tx.update("orders", ("id", row["id"]), changes)
        row = {**row, **changes}
    return Answer(200, _order_json(row))


def routes(ctx: Context) -> list[Route]:
    """Order store routes."""
    return [
        route(ctx, "POST", "/orders", create, "orders.create"),
        route(ctx, "POST", "/orders/cancel", cancel, "orders.cancel"),
        route(ctx, "GET", "/orders", list_orders),
        route(ctx, "GET", "/orders/{order_id}", get_order),
    ]
