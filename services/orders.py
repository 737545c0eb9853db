"""The order store: the last, irreversible-looking step of the order saga.

Orders are unique per workflow_id, so re-running "create order" after a lost response
returns the order that already exists instead of creating a second one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from starlette.routing import Route

from .api import (
    Answer,
    ApiError,
    Call,
    find_id,
    money,
    optional_str,
    parse_money,
    require_str,
)
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
TEXT_FIELDS: Final = ("workflow_id", "customer_email", "customer_name", "payment_id")
OPTIONAL_TEXT_FIELDS: Final = ("transaction_id", "status", "payment_status")
LIST_FIELDS: Final = ("items", "reservation_ids")
"""Free-form lists, kept as sent (bounded like every body)."""
MONEY_FIELDS: Final = ("subtotal", "tax", "shipping", "total")


def _order_json(row: Row) -> dict[str, Any]:
    body = {k: v for k, v in row.items() if k != "id"}
    return {"order_id": row["id"], **body}


@contextmanager
def _field(name: str) -> Iterator[None]:
    """A field refused by the shared checks is refused as `order_validation_failed`."""
    try:
        yield
    except ApiError as err:
        raise _failed(err.message, [name]) from None


def _customer_id(body: dict[str, Any]) -> str | None:
    """Text, or an integer kept as text: customer ids are either."""
    value = body.get("customer_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return optional_str(body, "customer_id")


def _failed(message: str, fields: list[str]) -> ApiError:
    return ApiError(422, "order_validation_failed", message, details={"fields": fields})


def _columns(body: dict[str, Any]) -> dict[str, Any]:
    """The order's stored columns, each field checked; the first refusal names its field."""
    missing = [f for f in REQUIRED if body.get(f) in (None, "", [])]
    if missing:
        raise _failed(f"Missing required fields: {', '.join(missing)}", missing)
    columns: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        with _field(name):
            columns[name] = require_str(body, name)
    for name in OPTIONAL_TEXT_FIELDS:
        with _field(name):
            columns[name] = optional_str(body, name)
    with _field("customer_id"):
        columns["customer_id"] = _customer_id(body)
    for name in LIST_FIELDS:
        value = body.get(name) or []
        if not isinstance(value, list):
            raise _failed(f"'{name}' must be a list", [name])
        columns[name] = value
    for name in MONEY_FIELDS:
        with _field(name):
            amount = parse_money(body[name], name)
        if amount < 0:
            raise _failed(f"'{name}' must not be negative", [name])
        columns[name] = money(amount)
    return columns


def create(tx: Tx, call: Call) -> Answer:
    """POST /orders: store a confirmed order (200 with the existing one on a repeat)."""
    body = dict(call.body)
    workflow_id = body.get("workflow_id")
    if isinstance(workflow_id, str) and workflow_id:
        existing = tx.find_one("orders", workflow_id=workflow_id)
        if existing is not None:
            return Answer(200, _order_json(existing))
    columns = _columns(body)
    row: dict[str, Any] = {
        "order_number": f"ORD-{call.now:%Y%m%d}-{secrets.token_hex(4).upper()}",
        **columns,
        "status": columns["status"] or "confirmed",
        "payment_status": columns["payment_status"] or "completed",
        "created_at": call.timestamp,
    }
    order_id = tx.insert("orders", row)
    return Answer(201, _order_json({"id": order_id, **row}))


def get_order(tx: Tx, call: Call) -> Answer:
    """GET /orders/{order_id}."""
    raw = call.params["order_id"]
    order_id = find_id(raw)
    row = None if order_id is None else tx.find_one("orders", id=order_id)
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
    workflow_id = require_str(call.body, "workflow_id")
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
