"""Product catalogue, stock reservations and restocks of returned goods.

Reservations are idempotent per (order_id, product_id) even without a header, because a
saga that retries "reserve" after a lost response must not take the stock twice; restocks
are, for the same reason, per (return_id, product_id). The batch endpoints (many products,
a whole order's reservations, a whole return's restocks) let a saga step make one call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.routing import Route

from .api import (
    MAX_LINES,
    Answer,
    ApiError,
    Call,
    as_id,
    as_quantity,
    find_id,
    invalid,
    new_id,
    require_str,
)
from .db import Database, Row, Tx
from .pipeline import Context, route

SEED_PRODUCTS: Final = (
    (1, "Widget A", "29.99", 100, True),
    (2, "Widget B", "49.99", 50, True),
    (3, "Widget C (discontinued)", "19.99", 25, False),
    (4, "Widget D", "9.99", 0, True),
    (5, "Gadget Pro", "199.99", 10, True),
)


def seed(db: Database) -> None:
    """Fill the catalogue on first start only, so a restart keeps the stock levels."""
    with db.transaction() as tx:
        if tx.count("products"):
            return
        for pid, name, price, stock, active in SEED_PRODUCTS:
            row = {"id": pid, "name": name, "price": price, "stock": stock, "active": active}
            tx.insert("products", row)


def _product(tx: Tx, raw_id: Any) -> Row:
    product_id = find_id(raw_id)
    row = None if product_id is None else tx.find_one("products", id=product_id)
    if row is None:
        raise ApiError(404, "product_not_found", f"Product {raw_id} not found")
    return row


def _product_json(row: Row) -> dict[str, Any]:
    keys = ("id", "name", "price", "stock", "active")
    return {k: row[k] for k in keys}


def _move_stock(tx: Tx, product: Row, change: int) -> int:
    """Add `change` (negative to take) to the product's stock; returns the new level."""
    stock: int = product["stock"] + change
    tx.update("products", ("id", product["id"]), {"stock": stock})
    return stock


def _known_products(tx: Tx, product_ids: list[int]) -> dict[int, Row]:
    """The products by id, in one query; any unknown id refuses the whole batch (404)."""
    products = {p["id"]: p for p in tx.find_in("products", "id", product_ids)}
    unknown = [product_id for product_id in product_ids if product_id not in products]
    if unknown:
        listed = ", ".join(str(product_id) for product_id in unknown)
        raise ApiError(
            404,
            "product_not_found",
            f"Product {listed} not found",
            details={"product_ids": unknown},
        )
    return products


def _reservation_json(row: Row) -> dict[str, Any]:
    return {
        "reservation_id": row["id"],
        "order_id": row["order_id"],
        "product_id": row["product_id"],
        "quantity": row["quantity"],
        "status": row["status"],
        "previous_stock": row["previous_stock"],
        "new_stock": row["new_stock"],
        "created_at": row["created_at"],
        "released_at": row["released_at"],
    }


def get_product(tx: Tx, call: Call) -> Answer:
    """GET /catalog/products/{product_id}."""
    return Answer(200, _product_json(_product(tx, call.params["product_id"])))


def _ids(raw: str) -> list[int]:
    parts = raw.split(",")
    if len(parts) > MAX_LINES:
        raise invalid("ids", f"must name at most {MAX_LINES} products")
    return list(dict.fromkeys(as_id(part, "ids") for part in parts))


def list_products(tx: Tx, call: Call) -> Answer:
    """GET /catalog/products?ids=1,2: a whole cart's products in one call (all without `ids`).

    Unknown ids are left out rather than failing the call, so the caller can report each
    cart line on its own.
    """
    raw = call.query.get("ids")
    rows = tx.find("products") if raw is None else tx.find_in("products", "id", _ids(raw))
    return Answer(200, {"products": [_product_json(r) for r in rows]})


def check_availability(tx: Tx, call: Call) -> Answer:
    """GET /inventory/products/{product_id}/availability?quantity=q (stock only)."""
    product = _product(tx, call.params["product_id"])
    requested = as_quantity(call.query.get("quantity", "1"), "quantity")
    body = {
        "product_id": product["id"],
        "available": product["stock"] >= requested,
        "stock": product["stock"],
        "requested": requested,
        "active": product["active"],
    }
    return Answer(200, body)


def _shortage_message(product_id: int, available: int, requested: int) -> str:
    return f"Only {available} of product {product_id} available, {requested} requested"


def _take(tx: Tx, order_id: str, product: Row, quantity: int, timestamp: str) -> Row:
    """Take `quantity` off the product's stock and record the reservation (stock checked)."""
    new_stock = _move_stock(tx, product, -quantity)
    row = {
        "id": new_id("res"),
        "order_id": order_id,
        "product_id": product["id"],
        "quantity": quantity,
        "status": "reserved",
        "previous_stock": product["stock"],
        "new_stock": new_stock,
        "created_at": timestamp,
        "released_at": None,
    }
    tx.insert("reservations", row)
    return row


def reserve(tx: Tx, call: Call) -> Answer:
    """POST /inventory/reservations: take stock for one order line."""
    order_id = require_str(call.body, "order_id")
    product_id = as_id(call.body.get("product_id"), "product_id")
    quantity = as_quantity(call.body.get("quantity"), "quantity")
    existing = tx.find_one("reservations", order_id=order_id, product_id=product_id)
    if existing is not None:
        return Answer(200, _reservation_json(existing))
    product = _product(tx, product_id)
    stock = product["stock"]
    if stock < quantity:
        raise ApiError(
            409,
            "insufficient_stock",
            _shortage_message(product_id, stock, quantity),
            extra={"status": "insufficient_stock", "available": stock, "requested": quantity},
        )
    return Answer(201, _reservation_json(_take(tx, order_id, product, quantity, call.timestamp)))


def _batch_lines(body: Mapping[str, Any]) -> dict[int, int]:
    """{product_id: quantity} in request order; one line per product, as reservations are."""
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise invalid("items", "must be a non-empty list of {product_id, quantity}")
    if len(items) > MAX_LINES:
        raise invalid("items", f"must have at most {MAX_LINES} lines")
    lines: dict[int, int] = {}
    for index, item in enumerate(items):
        name = f"items[{index}]"
        if not isinstance(item, dict):
            raise invalid(name, "must be an object with product_id and quantity")
        product_id = as_id(item.get("product_id"), f"{name}.product_id")
        if product_id in lines:
            raise invalid(f"{name}.product_id", f"repeats product {product_id}")
        lines[product_id] = as_quantity(item.get("quantity"), f"{name}.quantity")
    return lines


def reserve_batch(tx: Tx, call: Call) -> Answer:
    """POST /inventory/reservations/batch: reserve every line of an order, or none.

    Lines the order already holds come back as they are (never taken twice), so a retry
    after a lost answer is harmless and no Idempotency-Key replay is needed: a shortage
    (409) is checked again on every retry. 201 when anything new was reserved, else 200.
    """
    order_id = require_str(call.body, "order_id")
    lines = _batch_lines(call.body)
    held = {r["product_id"]: r for r in tx.find("reservations", order_id=order_id)}
    wanted = [product_id for product_id in lines if product_id not in held]
    products = _known_products(tx, wanted)
    shortages = [
        {
            "product_id": product_id,
            "name": products[product_id]["name"],
            "available": products[product_id]["stock"],
            "requested": lines[product_id],
        }
        for product_id in wanted
        if products[product_id]["stock"] < lines[product_id]
    ]
    if shortages:
        raise ApiError(
            409,
            "insufficient_stock",
            "; ".join(
                _shortage_message(s["product_id"], s["available"], s["requested"])
                for s in shortages
            ),
            extra={"status": "insufficient_stock", "shortages": shortages},
        )
    for product_id in wanted:
        held[product_id] = _take(
            tx, order_id, products[product_id], lines[product_id], call.timestamp
        )
    body = {
        "order_id": order_id,
        "reservations": [_reservation_json(held[product_id]) for product_id in lines],
    }
    return Answer(201 if wanted else 200, body)


def release(tx: Tx, call: Call) -> Answer:
    """POST /inventory/reservations/{reservation_id}/release: give the stock back once."""
    reservation_id = call.params["reservation_id"]
    row = tx.find_one("reservations", id=reservation_id)
    if row is None:
        raise ApiError(404, "reservation_not_found", f"Reservation {reservation_id} not found")
    if row["status"] != "released":
        _move_stock(tx, _product(tx, row["product_id"]), row["quantity"])
        changes = {"status": "released", "released_at": call.timestamp}
        tx.update("reservations", ("id", reservation_id), changes)
        row = {**row, **changes}
    body = {
        "reservation_id": row["id"],
        "order_id": row["order_id"],
        "product_id": row["product_id"],
        "status": "released",
        "quantity": row["quantity"],
        "released_at": row["released_at"],
    }
    return Answer(200, body)


def list_reservations(tx: Tx, call: Call) -> Answer:
    """GET /inventory/reservations?order_id=X."""
    rows = tx.find("reservations", order_id=call.query.get("order_id"))
    return Answer(200, {"reservations": [_reservation_json(r) for r in rows]})


def _restock_json(row: Row) -> dict[str, Any]:
    return {
        "restock_id": row["id"],
        "order_id": row["order_id"],
        "return_id": row["return_id"],
        "product_id": row["product_id"],
        "quantity": row["quantity"],
        "status": row["status"],
        "created_at": row["created_at"],
        "reversed_at": row["reversed_at"],
    }


def _put_back(
    tx: Tx, order_id: str, return_id: str, product: Row, quantity: int, timestamp: str
) -> Row:
    """Add `quantity` to the product's stock and record the restock."""
    _move_stock(tx, product, quantity)
    row = {
        "id": new_id("rst"),
        "order_id": order_id,
        "return_id": return_id,
        "product_id": product["id"],
        "quantity": quantity,
        "status": "restocked",
        "created_at": timestamp,
        "reversed_at": None,
    }
    tx.insert("restocks", row)
    return row


def restock(tx: Tx, call: Call) -> Answer:
    """POST /inventory/restocks: put every returned line back in stock, or none.

    Lines the return already restocked come back as they are, reversed or not (never added
    twice), so a retry after a lost answer is harmless even without an Idempotency-Key.
    201 when anything new was restocked, else 200.
    """
    order_id = require_str(call.body, "order_id")
    return_id = require_str(call.body, "return_id")
    lines = _batch_lines(call.body)
    done = {r["product_id"]: r for r in tx.find("restocks", return_id=return_id)}
    wanted = [product_id for product_id in lines if product_id not in done]
    products = _known_products(tx, wanted)
    for product_id in wanted:
        done[product_id] = _put_back(
            tx, order_id, return_id, products[product_id], lines[product_id], call.timestamp
        )
    body = {"restocks": [_restock_json(done[product_id]) for product_id in lines]}
    return Answer(201 if wanted else 200, body)


def reverse_restock(tx: Tx, call: Call) -> Answer:
    """POST /inventory/restocks/{restock_id}/reverse: take the units back out once.

    Never refused for want of stock: a compensation must be able to finish, so units sold
    meanwhile leave the stock below zero (an oversell the catalogue then shows).
    """
    restock_id = call.params["restock_id"]
    row = tx.find_one("restocks", id=restock_id)
    if row is None:
        raise ApiError(404, "restock_not_found", f"Restock {restock_id} not found")
    if row["status"] != "reversed":
        _move_stock(tx, _product(tx, row["product_id"]), -row["quantity"])
        changes = {"status": "reversed", "reversed_at": call.timestamp}
        tx.update("restocks", ("id", restock_id), changes)
        row = {**row, **changes}
    return Answer(200, _restock_json(row))


def list_restocks(tx: Tx, call: Call) -> Answer:
    """GET /inventory/restocks?order_id=X&return_id=Y (either, both or neither), oldest first."""
    query = call.query
    rows = tx.find("restocks", order_id=query.get("order_id"), return_id=query.get("return_id"))
    return Answer(200, {"restocks": [_restock_json(r) for r in rows]})


def routes(ctx: Context) -> list[Route]:
    """Catalogue and inventory routes."""
    return [
        route(ctx, "GET", "/catalog/products", list_products, "catalog.get_product"),
        route(ctx, "GET", "/catalog/products/{product_id}", get_product, "catalog.get_product"),
        route(
            ctx,
            "GET",
            "/inventory/products/{product_id}/availability",
            check_availability,
            "inventory.check",
        ),
        route(ctx, "POST", "/inventory/reservations", reserve, "inventory.reserve"),
        route(
            ctx,
            "POST",
            "/inventory/reservations/batch",
            reserve_batch,
            "inventory.reserve",
            replay=False,
        ),
        route(ctx, "GET", "/inventory/reservations", list_reservations),
        route(
            ctx,
            "POST",
            "/inventory/reservations/{reservation_id}/release",
            release,
            "inventory.release",
        ),
        route(ctx, "POST", "/inventory/restocks", restock, "inventory.restock"),
        route(ctx, "GET", "/inventory/restocks", list_restocks),
        route(
            ctx,
            "POST",
            "/inventory/restocks/{restock_id}/reverse",
            reverse_restock,
            "inventory.unrestock",
        ),
    ]
