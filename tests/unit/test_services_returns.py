"""What an order-return saga needs from the simulated services: restocks (and their undo),
and orders that show what a return is checked against. Driven over HTTP in-process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from services import Settings, create_app
from services.api import INT64_MAX, MAX_LINES, MAX_QUANTITY

NOW: Final = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
STAMP: Final = "2025-01-15T12:00:00.000000+00:00"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tmp_path / "s.db", clock=lambda: NOW, settings=Settings(test_api=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as c:
        yield c
    app.state.db.close()


def _return(return_id: str, *lines: tuple[int, int], order_id: str = "o-1") -> dict[str, Any]:
    items = [{"product_id": p, "quantity": q} for p, q in lines]
    return {"order_id": order_id, "return_id": return_id, "items": items}


async def _stock(client: httpx.AsyncClient, product_id: int) -> int:
    stock: int = (await client.get(f"/catalog/products/{product_id}")).json()["stock"]
    return stock


async def _stocks(client: httpx.AsyncClient) -> list[int]:
    products = (await client.get("/catalog/products")).json()["products"]
    return [p["stock"] for p in products]


async def _listed(client: httpx.AsyncClient, **query: str) -> list[dict[str, Any]]:
    r = await client.get("/inventory/restocks", params=query)
    assert r.status_code == 200, r.text
    restocks: list[dict[str, Any]] = r.json()["restocks"]
    return restocks


def _ids(response: httpx.Response) -> list[str]:
    return [x["restock_id"] for x in response.json()["restocks"]]


# --- restocking --------------------------------------------------------------------------


async def test_restock_adds_stock_once_per_return_and_product(client: httpx.AsyncClient) -> None:
    first = await client.post("/inventory/restocks", json=_return("ret-1", (2, 3), (1, 2)))
    assert first.status_code == 201, first.text
    restocks = first.json()["restocks"]
    assert all(re.fullmatch(r"rst_[0-9a-f]{24}", x["restock_id"]) for x in restocks)
    assert [{k: v for k, v in x.items() if k != "restock_id"} for x in restocks] == [
        {
            "order_id": "o-1",
            "return_id": "ret-1",
            "product_id": product_id,
            "quantity": quantity,
            "status": "restocked",
            "created_at": STAMP,
            "reversed_at": None,
        }
        for product_id, quantity in ((2, 3), (1, 2))
    ]
    assert (await _stock(client, 2), await _stock(client, 1)) == (53, 102)
    again = await client.post("/inventory/restocks", json=_return("ret-1", (2, 3), (1, 2)))
    assert (again.status_code, again.json()) == (200, first.json())
    grown = await client.post("/inventory/restocks", json=_return("ret-1", (1, 2), (5, 1)))
    assert grown.status_code == 201
    assert _ids(grown)[0] == _ids(first)[1]  # product 1 comes back as it was
    assert [await _stock(client, p) for p in (1, 2, 5)] == [102, 53, 11]
    other = await client.post("/inventory/restocks", json=_return("ret-2", (1, 2)))
    assert other.status_code == 201  # another return of the same order adds again
    assert await _stock(client, 1) == 104


async def test_restock_with_idempotency_key(client: httpx.AsyncClient) -> None:
    body = _return("ret-k", (1, 4))
    headers = {"Idempotency-Key": "restock-ret-k"}
    first = await client.post("/inventory/restocks", json=body, headers=headers)
    replay = await client.post("/inventory/restocks", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    fresh_key = await client.post(
        "/inventory/restocks", json=body, headers={"Idempotency-Key": "x"}
    )
    assert (fresh_key.status_code, _ids(fresh_key)) == (200, _ids(first))
    assert await _stock(client, 1) == 104
    assert len(await _listed(client, return_id="ret-k")) == 1


async def test_unknown_product_restocks_nothing(client: httpx.AsyncClient) -> None:
    before = await _stocks(client)
    r = await client.post("/inventory/restocks", json=_return("ret-u", (1, 1), (77, 1), (88, 2)))
    assert r.status_code == 404
    error = r.json()["error"]
    assert (error["code"], error["product_ids"]) == ("product_not_found", [77, 88])
    assert await _stocks(client) == before
    assert await _listed(client, return_id="ret-u") == []


async def test_listing_by_order_and_by_return(client: httpx.AsyncClient) -> None:
    a = await client.post("/inventory/restocks", json=_return("ret-a", (1, 1), (2, 1)))
    b = await client.post("/inventory/restocks", json=_return("ret-b", (5, 1)))
    c = await client.post("/inventory/restocks", json=_return("ret-c", (1, 1), order_id="o-2"))
    await client.post(f"/inventory/restocks/{_ids(b)[0]}/reverse")

    async def ids(**query: str) -> list[str]:
        return [x["restock_id"] for x in await _listed(client, **query)]

    assert await ids(order_id="o-1") == _ids(a) + _ids(b)
    assert await ids(return_id="ret-a") == _ids(a)
    assert await ids(order_id="o-2", return_id="ret-c") == _ids(c)
    assert await ids(order_id="o-2", return_id="ret-a") == []
    assert await ids(order_id="o-none") == []
    assert await ids() == _ids(a) + _ids(b) + _ids(c)
    statuses = [x["status"] for x in await _listed(client, order_id="o-1")]
    assert statuses == ["restocked", "restocked", "reversed"]


# --- the undo ----------------------------------------------------------------------------


async def test_reverse_takes_the_stock_back_out_once(client: httpx.AsyncClient) -> None:
    body = _return("ret-r", (2, 5))
    restock_id = _ids(await client.post("/inventory/restocks", json=body))[0]
    assert await _stock(client, 2) == 55
    first = await client.post(f"/inventory/restocks/{restock_id}/reverse")
    assert first.status_code == 200, first.text
    assert first.json()["restock_id"] == restock_id
    assert (first.json()["status"], first.json()["reversed_at"]) == ("reversed", STAMP)
    assert await _stock(client, 2) == 50
    second = await client.post(f"/inventory/restocks/{restock_id}/reverse")
    assert (second.status_code, second.json()) == (200, first.json())
    late_retry = await client.post("/inventory/restocks", json=body)
    assert (late_retry.status_code, late_retry.json()["restocks"]) == (200, [first.json()])
    assert await _stock(client, 2) == 50
    assert await _listed(client, return_id="ret-r") == [first.json()]
    unknown = await client.post("/inventory/restocks/rst_nope/reverse")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "restock_not_found"


async def test_reverse_finishes_even_when_the_units_were_sold(client: httpx.AsyncClient) -> None:
    restock_id = _ids(await client.post("/inventory/restocks", json=_return("ret-s", (4, 2))))[0]
    sold = {"order_id": "o-9", "product_id": 4, "quantity": 2}
    assert (await client.post("/inventory/reservations", json=sold)).status_code == 201
    reversed_ = await client.post(f"/inventory/restocks/{restock_id}/reverse")
    assert reversed_.status_code == 200
    assert await _stock(client, 4) == -2


# --- faults ------------------------------------------------------------------------------


async def _fault(client: httpx.AsyncClient, **spec: Any) -> None:
    r = await client.post("/_faults", json=spec)
    assert r.status_code == 201, r.text


async def test_restock_faults(client: httpx.AsyncClient) -> None:
    await _fault(client, operation="inventory.restock", mode="status", status=503)
    await _fault(client, operation="inventory.restock", mode="commit_then_timeout")
    body = _return("ret-f", (1, 3))
    assert (await client.post("/inventory/restocks", json=body)).status_code == 503
    assert await _listed(client, return_id="ret-f") == []
    lost = await client.post("/inventory/restocks", json=body)
    assert lost.status_code == 504
    held = await _listed(client, return_id="ret-f")
    assert len(held) == 1
    retry = await client.post("/inventory/restocks", json=body)
    assert (retry.status_code, retry.json()["restocks"]) == (200, held)
    assert await _stock(client, 1) == 103


async def test_unrestock_faults(client: httpx.AsyncClient) -> None:
    restock_id = _ids(await client.post("/inventory/restocks", json=_return("ret-g", (1, 3))))[0]
    await _fault(client, operation="inventory.unrestock", mode="status", status=503)
    await _fault(client, operation="inventory.unrestock", mode="commit_then_timeout")
    url = f"/inventory/restocks/{restock_id}/reverse"
    assert (await client.post(url)).status_code == 503
    assert await _stock(client, 1) == 103
    assert (await client.post(url)).status_code == 504
    assert await _stock(client, 1) == 100
    retry = await client.post(url)
    assert (retry.status_code, retry.json()["status"]) == (200, "reversed")
    assert await _stock(client, 1) == 100


# --- refusals ----------------------------------------------------------------------------

VALID: Final = _return("ret-v", (1, 1), (2, 1))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"order_id": None}, "order_id"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": 7}, "order_id"),
        ({"return_id": None}, "return_id"),
        ({"return_id": " "}, "return_id"),
        ({"return_id": "x" * 1001}, "return_id"),
        ({"return_id": "ret\n1"}, "return_id"),
        ({"items": None}, "items"),
        ({"items": []}, "items"),
        ({"items": {"product_id": 1, "quantity": 1}}, "items"),
        ({"items": [7]}, "items[0]"),
        ({"items": [{"quantity": 1}]}, "items[0].product_id"),
        ({"items": [{"product_id": 1}]}, "items[0].quantity"),
        ({"items": [{"product_id": 1, "quantity": 1}] * 2}, "items[1].product_id"),
    ],
)
async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, changes: dict[str, Any], field: str
) -> None:
    r = await client.post("/inventory/restocks", json={**VALID, **changes})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_failed"
    assert r.json()["error"]["field"] == field


HOSTILE_LINES: Final = {
    "too many lines": [{"product_id": 1, "quantity": 1}] * (MAX_LINES + 1),
    "negative quantity": [{"product_id": 1, "quantity": -5}],
    "zero quantity": [{"product_id": 1, "quantity": 0}],
    "quantity over the maximum": [{"product_id": 1, "quantity": MAX_QUANTITY + 1}],
    "fractional quantity": [{"product_id": 1, "quantity": 1.5}],
    "boolean quantity": [{"product_id": 1, "quantity": True}],
    "float id": [{"product_id": 1.0, "quantity": 1}],
    "text id": [{"product_id": "abc", "quantity": 1}],
    "boolean id": [{"product_id": True, "quantity": 1}],
    "zero id": [{"product_id": 0, "quantity": 1}],
    "2^63 id as text": [{"product_id": str(2**63), "quantity": 1}],
    "list id": [{"product_id": [1], "quantity": 1}],
}


@pytest.mark.parametrize("items", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
async def test_hostile_lines_are_refused_and_restock_nothing(
    client: httpx.AsyncClient, items: list[Any]
) -> None:
    before = await _stocks(client)
    for headers in ({}, {"Idempotency-Key": "hostile"}):
        r = await client.post(
            "/inventory/restocks", json={**VALID, "items": items}, headers=headers
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"]["field"].startswith("items")
    assert await _stocks(client) == before
    assert await _listed(client) == []


async def test_hostile_requests_get_4xx_json(client: httpx.AsyncClient) -> None:
    in_range = [{"product_id": INT64_MAX, "quantity": MAX_QUANTITY}]
    r = await client.post("/inventory/restocks", json={**VALID, "items": in_range})
    assert (r.status_code, r.json()["error"]["code"]) == (404, "product_not_found")
    for raw in (b'{"order_id": ', b"[1]", b'{"items": NaN}', b'{"items": [9223372036854775808]}'):
        r = await client.post("/inventory/restocks", content=raw)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_json")
    for restock_id in ("0", "-1", "x" * 5_000, "%00", "..%2F..%2Fetc", "%FF"):
        r = await client.post(f"/inventory/restocks/{restock_id}/reverse")
        assert r.status_code == 404, restock_id
        assert isinstance(r.json()["error"]["code"], str)
    for query in ("order_id=%00", "return_id=" + "x" * 5_000, "order_id=%ED%A0%80"):
        r = await client.get(f"/inventory/restocks?{query}")
        assert (r.status_code, r.json()) == (200, {"restocks": []})
    assert await _listed(client) == []


# --- what a return is checked against ----------------------------------------------------

ORDER: Final = {
    "workflow_id": "wf-1",
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "items": [  # as the order saga sends its validated lines
        {
            "product_id": 1,
            "name": "Widget A",
            "price": "29.99",
            "quantity": 2,
            "line_total": "59.98",
        },
        {
            "product_id": 2,
            "name": "Widget B",
            "price": "49.99",
            "quantity": 1,
            "line_total": "49.99",
        },
    ],
    "subtotal": "109.97",
    "tax": "8.80",
    "shipping": "5.99",
    "total": "124.76",
    "payment_id": "ch_x",
    "status": "confirmed",
    "payment_status": "completed",
}


async def test_an_order_shows_what_a_return_is_checked_against(
    client: httpx.AsyncClient,
) -> None:
    charge = await client.post("/payments/charges", json={"amount": "124.76", "token": "tok_visa"})
    created = await client.post("/orders", json={**ORDER, "payment_id": charge.json()["id"]})
    assert created.status_code == 201
    order = (await client.get(f"/orders/{created.json()['order_id']}")).json()
    assert (order["status"], order["created_at"]) == ("confirmed", STAMP)
    assert order["items"] == ORDER["items"]
    totals = [order[k] for k in ("subtotal", "tax", "shipping", "total")]
    assert totals == ["109.97", "8.80", "5.99", "124.76"]
    assert order["payment_id"] == charge.json()["id"]
    refund = {"charge_id": order["payment_id"], "amount": "54.39", "reason": "return ret-1"}
    partial = await client.post("/payments/refunds", json=refund)  # 49.99 plus its 4.40 tax
    assert (partial.status_code, partial.json()["amount"]) == (201, "54.39")
    refunded = (await client.get(f"/payments/charges/{order['payment_id']}")).json()["refunded"]
    assert refunded == "54.39"
