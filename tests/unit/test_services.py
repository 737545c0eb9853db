"""Tests for the simulated outside world (services/), driven over HTTP in-process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import Settings, create_app
from services.db import Database, Tx


class FakeClock:
    """A clock the tests move by hand, so time windows need no sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _open(path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(path, clock=clock, settings=Settings(test_api=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as c:
        yield c
    app.state.db.close()


@pytest.fixture
async def client(tmp_path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _open(tmp_path / "s.db", clock):
        yield c


CARD = {"amount": "124.76", "currency": "USD", "token": "tok_visa", "method": "credit_card"}
USER = {
    "email": "ada@example.com",
    "name": "Ada",
    "plan": "pro",
    "marketing_consent": True,
    "source": "web",
}


def _order(workflow_id: str = "wf-1") -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "customer_email": "ada@example.com",
        "customer_name": "Ada",
        "items": [{"product_id": 1, "quantity": 2, "price": "29.99"}],
        "subtotal": "59.98",
        "tax": "4.80",
        "shipping": "5.99",
        "total": "70.77",
        "payment_id": "ch_x",
        "transaction_id": "txn_x",
        "reservation_ids": ["res_x"],
        "status": "confirmed",
        "payment_status": "completed",
    }


async def _fault(client: httpx.AsyncClient, **spec: Any) -> None:
    r = await client.post("/_faults", json=spec)
    assert r.status_code == 201, r.text


async def _charges(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    charges: list[dict[str, Any]] = (await client.get("/payments/charges")).json()["charges"]
    return charges


async def _stock(client: httpx.AsyncClient, product_id: int) -> int:
    stock: int = (await client.get(f"/catalog/products/{product_id}")).json()["stock"]
    return stock


# --- catalogue and inventory -------------------------------------------------------------


async def test_health(client: httpx.AsyncClient) -> None:
    r = await client.get("/_health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


async def test_seeded_catalogue(client: httpx.AsyncClient) -> None:
    expected = [
        (1, "Widget A", "29.99", 100, True),
        (2, "Widget B", "49.99", 50, True),
        (3, "Widget C (discontinued)", "19.99", 25, False),
        (4, "Widget D", "9.99", 0, True),
        (5, "Gadget Pro", "199.99", 10, True),
    ]
    for pid, name, price, stock, active in expected:
        r = await client.get(f"/catalog/products/{pid}")
        assert r.status_code == 200
        product = {"id": pid, "name": name, "price": price, "stock": stock, "active": active}
        assert r.json() == product
    missing = await client.get("/catalog/products/99")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "product_not_found"


async def test_availability(client: httpx.AsyncClient) -> None:
    r = await client.get("/inventory/products/4/availability", params={"quantity": 1})
    assert r.json() == {
        "product_id": 4,
        "available": False,
        "stock": 0,
        "requested": 1,
        "active": True,
    }
    r = await client.get("/inventory/products/5/availability", params={"quantity": 10})
    assert r.json()["available"] is True
    r = await client.get("/inventory/products/5/availability", params={"quantity": 11})
    assert r.json()["available"] is False
    assert (await client.get("/inventory/products/42/availability")).status_code == 404


async def test_reservation_is_idempotent_per_order_and_product(client: httpx.AsyncClient) -> None:
    body = {"order_id": "o-1", "product_id": 2, "quantity": 3}
    first = await client.post("/inventory/reservations", json=body)
    assert first.status_code == 201
    res = first.json()
    assert re.fullmatch(r"res_[0-9a-f]+", res["reservation_id"])
    assert (res["status"], res["previous_stock"], res["new_stock"]) == ("reserved", 50, 47)
    again = await client.post("/inventory/reservations", json=body)
    assert again.status_code == 200
    assert again.json()["reservation_id"] == res["reservation_id"]
    assert await _stock(client, 2) == 47
    listed = await client.get("/inventory/reservations", params={"order_id": "o-1"})
    assert [r["reservation_id"] for r in listed.json()["reservations"]] == [res["reservation_id"]]


async def test_reservation_errors(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/inventory/reservations", json={"order_id": "o", "product_id": 5, "quantity": 11}
    )
    assert r.status_code == 409
    assert r.json()["status"] == "insufficient_stock"
    assert r.json()["available"] == 10
    assert r.json()["error"]["code"] == "insufficient_stock"
    assert await _stock(client, 5) == 10
    r = await client.post(
        "/inventory/reservations", json={"order_id": "o", "product_id": 77, "quantity": 1}
    )
    assert r.status_code == 404


async def test_release_gives_stock_back_once(client: httpx.AsyncClient) -> None:
    body = {"order_id": "o-2", "product_id": 1, "quantity": 4}
    res_id = (await client.post("/inventory/reservations", json=body)).json()["reservation_id"]
    assert await _stock(client, 1) == 96
    first = await client.post(f"/inventory/reservations/{res_id}/release")
    assert first.status_code == 200
    assert first.json()["status"] == "released"
    assert first.json()["quantity"] == 4
    assert await _stock(client, 1) == 100
    second = await client.post(f"/inventory/reservations/{res_id}/release")
    assert (second.status_code, second.json()) == (200, first.json())
    assert await _stock(client, 1) == 100
    unknown = await client.post("/inventory/reservations/res_nope/release")
    assert unknown.status_code == 404


async def test_product_list_by_ids(client: httpx.AsyncClient) -> None:
    r = await client.get("/catalog/products", params={"ids": "2,1,99,2"})
    assert r.status_code == 200
    products = r.json()["products"]
    assert [(p["id"], p["name"], p["price"]) for p in products] == [
        (1, "Widget A", "29.99"),
        (2, "Widget B", "49.99"),
    ]
    assert products[0] == (await client.get("/catalog/products/1")).json()
    everything = (await client.get("/catalog/products")).json()["products"]
    assert [p["id"] for p in everything] == [1, 2, 3, 4, 5]
    for bad in ("1,x", "", "1,,2", "-1"):
        refused = await client.get("/catalog/products", params={"ids": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["field"] == "ids"


def _batch(order_id: str, *lines: tuple[int, int]) -> dict[str, Any]:
    return {"order_id": order_id, "items": [{"product_id": p, "quantity": q} for p, q in lines]}


async def _reserved(client: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    r = await client.get("/inventory/reservations", params={"order_id": order_id})
    reservations: list[dict[str, Any]] = r.json()["reservations"]
    return reservations


async def test_batch_reservation_takes_every_line(client: httpx.AsyncClient) -> None:
    r = await client.post("/inventory/reservations/batch", json=_batch("o-b", (2, 3), (1, 2)))
    assert r.status_code == 201
    body = r.json()
    assert body["order_id"] == "o-b"
    lines = [
        (x["product_id"], x["quantity"], x["status"], x["previous_stock"], x["new_stock"])
        for x in body["reservations"]
    ]
    assert lines == [(2, 3, "reserved", 50, 47), (1, 2, "reserved", 100, 98)]
    assert all(re.fullmatch(r"res_[0-9a-f]+", x["reservation_id"]) for x in body["reservations"])
    assert (await _stock(client, 1), await _stock(client, 2)) == (98, 47)
    listed = await _reserved(client, "o-b")
    assert sorted(x["reservation_id"] for x in listed) == sorted(
        x["reservation_id"] for x in body["reservations"]
    )


async def test_batch_reservation_retry_returns_what_is_held(client: httpx.AsyncClient) -> None:
    single = {"order_id": "o-r", "product_id": 1, "quantity": 4}
    held = await client.post("/inventory/reservations", json=single)
    first = await client.post("/inventory/reservations/batch", json=_batch("o-r", (1, 2), (5, 1)))
    assert first.status_code == 201
    by_product = {x["product_id"]: x for x in first.json()["reservations"]}
    assert by_product[1] == held.json()  # held as it was: 4 units, not taken again
    assert (await _stock(client, 1), await _stock(client, 5)) == (96, 9)
    headers = {"Idempotency-Key": "inv-1"}
    for _ in range(2):
        again = await client.post(
            "/inventory/reservations/batch", json=_batch("o-r", (1, 2), (5, 1)), headers=headers
        )
        assert again.status_code == 200
        assert again.json() == first.json()
        assert "Idempotent-Replayed" not in again.headers
    assert (await _stock(client, 1), await _stock(client, 5)) == (96, 9)
    assert len(await _reserved(client, "o-r")) == 2


async def test_batch_reservation_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/inventory/reservations/batch", json=_batch("o-s", (1, 2), (5, 11), (4, 1))
    )
    assert r.status_code == 409
    body = r.json()
    assert body["status"] == "insufficient_stock"
    assert body["error"]["code"] == "insufficient_stock"
    assert body["shortages"] == [
        {"product_id": 5, "name": "Gadget Pro", "available": 10, "requested": 11},
        {"product_id": 4, "name": "Widget D", "available": 0, "requested": 1},
    ]
    assert "Only 10 of product 5 available, 11 requested" in body["error"]["message"]
    assert (await _stock(client, 1), await _stock(client, 5)) == (100, 10)
    assert await _reserved(client, "o-s") == []
    unknown = await client.post(
        "/inventory/reservations/batch", json=_batch("o-s", (1, 1), (77, 1))
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "product_not_found"
    assert unknown.json()["error"]["product_ids"] == [77]
    assert await _stock(client, 1) == 100
    assert await _reserved(client, "o-s") == []


async def test_batch_shortage_is_checked_again_on_retry(client: httpx.AsyncClient) -> None:
    other = await client.post("/inventory/reservations/batch", json=_batch("o-x", (5, 8)))
    headers = {"Idempotency-Key": "short-then-restocked"}
    short = await client.post(
        "/inventory/reservations/batch", json=_batch("o-y", (5, 5)), headers=headers
    )
    assert short.status_code == 409
    released = other.json()["reservations"][0]["reservation_id"]
    await client.post(f"/inventory/reservations/{released}/release")
    retried = await client.post(
        "/inventory/reservations/batch", json=_batch("o-y", (5, 5)), headers=headers
    )
    assert retried.status_code == 201
    assert await _stock(client, 5) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [{"product_id": 1, "quantity": 1}]}, "order_id"),
        ({"order_id": "o"}, "items"),
        ({"order_id": "o", "items": []}, "items"),
        ({"order_id": "o", "items": {"product_id": 1}}, "items"),
        ({"order_id": "o", "items": [7]}, "items[0]"),
        ({"order_id": "o", "items": [{"quantity": 1}]}, "items[0].product_id"),
        ({"order_id": "o", "items": [{"product_id": 1, "quantity": 0}]}, "items[0].quantity"),
        ({"order_id": "o", "items": [{"product_id": 1, "quantity": True}]}, "items[0].quantity"),
        (_batch("o", (1, 1), (1, 2)), "items[1].product_id"),
    ],
)
async def test_batch_reservation_refuses_bad_bodies(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/inventory/reservations/batch", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"
    assert r.json()["error"]["field"] == field
    assert await _stock(client, 1) == 100
    not_json = await client.post("/inventory/reservations/batch", content=b"[1]")
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "invalid_json")


async def test_reserve_faults_target_the_batch(client: httpx.AsyncClient) -> None:
    await _fault(client, operation="inventory.reserve", mode="status", status=503)
    await _fault(client, operation="inventory.reserve", mode="commit_then_timeout")
    body = _batch("o-f", (1, 2), (2, 1))
    failed = await client.post("/inventory/reservations/batch", json=body)
    assert failed.status_code == 503
    assert await _reserved(client, "o-f") == []
    lost = await client.post("/inventory/reservations/batch", json=body)
    assert lost.status_code == 504
    held = await _reserved(client, "o-f")
    assert len(held) == 2
    retry = await client.post("/inventory/reservations/batch", json=body)
    assert retry.status_code == 200
    assert {x["reservation_id"] for x in retry.json()["reservations"]} == {
        x["reservation_id"] for x in held
    }
    assert (await _stock(client, 1), await _stock(client, 2)) == (98, 49)
    log = await client.get("/_requests", params={"path_prefix": "/inventory/reservations/batch"})
    assert [x["status"] for x in log.json()["requests"]] == [503, 504, 200]


# --- payments ----------------------------------------------------------------------------


async def test_successful_charge(client: httpx.AsyncClient) -> None:
    r = await client.post("/payments/charges", json={**CARD, "amount": 124.76})
    assert r.status_code == 201
    charge = r.json()
    assert re.fullmatch(r"ch_[0-9a-f]{24}", charge["id"])
    assert re.fullmatch(r"txn_[0-9a-f]+", charge["transaction_id"])
    summary = (charge["status"], charge["amount"], charge["currency"])
    assert summary == ("succeeded", "124.76", "USD")
    fetched = await client.get(f"/payments/charges/{charge['id']}")
    assert fetched.json()["refunded"] == "0.00"
    assert (await client.get("/payments/charges/ch_missing")).status_code == 404


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("tok_decline_visa", 402, "card_declined"),
        ("tok_insufficient_funds", 402, "insufficient_funds"),
        ("tok_invalid_number", 402, "invalid_card"),
        ("tok_timeout", 504, "timeout"),
        ("tok_rate_limit", 429, "rate_limited"),
    ],
)
async def test_test_tokens_fail_and_record_nothing(
    client: httpx.AsyncClient, token: str, status: int, code: str
) -> None:
    r = await client.post("/payments/charges", json={**CARD, "token": token})
    assert r.status_code == status
    assert r.json()["error"]["code"] == code
    if status == 429:
        assert r.headers["Retry-After"] == "30"
    assert await _charges(client) == []


@pytest.mark.parametrize("amount", ["0", "-5.00", "abc", "1.001"])
async def test_invalid_amount(client: httpx.AsyncClient, amount: str) -> None:
    r = await client.post("/payments/charges", json={**CARD, "amount": amount})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_amount"


async def test_charge_replay_with_same_idempotency_key(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "charge-1"}
    first = await client.post("/payments/charges", json=CARD, headers=headers)
    second = await client.post("/payments/charges", json=CARD, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert [c["id"] for c in await _charges(client)] == [first.json()["id"]]
    other = await client.post("/payments/charges", json=CARD, headers={"Idempotency-Key": "k2"})
    assert other.json()["id"] != first.json()["id"]
    assert len(await _charges(client)) == 2


async def test_retryable_answers_are_not_replayed(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    timeout_card = {**CARD, "token": "tok_timeout"}
    failed = await client.post("/payments/charges", json=timeout_card, headers=headers)
    assert failed.status_code == 504
    retried = await client.post("/payments/charges", json=CARD, headers=headers)
    assert retried.status_code == 201
    assert len(await _charges(client)) == 1


async def test_business_errors_are_replayed(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "declined"}
    declined = await client.post(
        "/payments/charges", json={**CARD, "token": "tok_decline"}, headers=headers
    )
    again = await client.post("/payments/charges", json=CARD, headers=headers)
    assert (declined.status_code, again.status_code) == (402, 402)
    assert again.json() == declined.json()
    assert await _charges(client) == []


async def test_commit_then_timeout_then_replay(client: httpx.AsyncClient) -> None:
    await _fault(client, operation="payments.charge", count=1, mode="commit_then_timeout")
    headers = {"Idempotency-Key": "lost-response"}
    lost = await client.post("/payments/charges", json=CARD, headers=headers)
    assert lost.status_code == 504
    assert lost.json()["error"]["code"] == "timeout"
    charges = await _charges(client)
    assert len(charges) == 1
    retry = await client.post("/payments/charges", json=CARD, headers=headers)
    assert retry.status_code == 201
    assert retry.json()["id"] == charges[0]["id"]
    assert len(await _charges(client)) == 1


async def test_refunds(client: httpx.AsyncClient) -> None:
    charge_id = (await client.post("/payments/charges", json=CARD)).json()["id"]
    part = await client.post("/payments/refunds", json={"charge_id": charge_id, "amount": "24.76"})
    assert part.status_code == 201
    assert re.fullmatch(r"re_[0-9a-f]+", part.json()["id"])
    assert part.json()["amount"] == "24.76"
    too_much = await client.post(
        "/payments/refunds", json={"charge_id": charge_id, "amount": "100.01"}
    )
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "refund_exceeds_charge"
    rest = await client.post("/payments/refunds", json={"charge_id": charge_id})
    assert rest.json()["amount"] == "100.00"
    assert (await _charges(client))[0]["refunded"] == "124.76"
    listed = await client.get("/payments/refunds", params={"charge_id": charge_id})
    assert len(listed.json()["refunds"]) == 2
    missing = await client.post("/payments/refunds", json={"charge_id": "ch_nope"})
    assert missing.status_code == 404


# --- faults ------------------------------------------------------------------------------


async def test_status_fault_counts_down(client: httpx.AsyncClient) -> None:
    await _fault(client, operation="catalog.get_product", count=2, mode="status", status=503)
    pending = (await client.get("/_faults")).json()["faults"]
    assert [(f["operation"], f["remaining"]) for f in pending] == [("catalog.get_product", 2)]
    first = await client.get("/catalog/products/1")
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "service_unavailable"
    assert (await client.get("/_faults")).json()["faults"][0]["remaining"] == 1
    assert (await client.get("/catalog/products/1")).status_code == 503
    assert (await client.get("/catalog/products/1")).status_code == 200
    assert (await client.get("/_faults")).json()["faults"] == []


async def test_status_fault_does_not_run_handler_or_store_answer(
    client: httpx.AsyncClient,
) -> None:
    await _fault(client, operation="payments.charge", mode="status", status=500)
    headers = {"Idempotency-Key": "after-fault"}
    failed = await client.post("/payments/charges", json=CARD, headers=headers)
    assert failed.status_code == 500
    assert await _charges(client) == []
    retried = await client.post("/payments/charges", json=CARD, headers=headers)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers


async def test_rate_limit_and_timeout_faults(client: httpx.AsyncClient) -> None:
    await _fault(client, operation="inventory.reserve", mode="rate_limit", retry_after=7)
    await _fault(client, operation="inventory.reserve", mode="timeout")
    body = {"order_id": "o", "product_id": 1, "quantity": 1}
    limited = await client.post("/inventory/reservations", json=body)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    timed_out = await client.post("/inventory/reservations", json=body)
    assert timed_out.status_code == 504
    assert timed_out.json()["error"]["code"] == "timeout"
    assert await _stock(client, 1) == 100
    assert (await client.post("/inventory/reservations", json=body)).status_code == 201


async def test_fault_admin_validation_and_clear(client: httpx.AsyncClient) -> None:
    r = await client.post("/_faults", json={"operation": "nope.nothing"})
    assert r.status_code == 422
    assert "payments.charge" in r.json()["error"]["message"]
    await _fault(client, operation="emails.send", count=5)
    cleared = await client.delete("/_faults")
    assert cleared.json() == {"cleared": 1}
    assert (await client.get("/_faults")).json()["faults"] == []
    sent = await client.post("/emails", json={"to": "a@example.com", "subject": "s"})
    assert sent.status_code == 202


# --- emails and orders -------------------------------------------------------------------


async def test_emails(client: httpx.AsyncClient) -> None:
    ok = await client.post(
        "/emails",
        json={"to": "ada@example.com", "subject": "Hi", "template": "t", "data": {"x": 1}},
    )
    assert ok.status_code == 202
    assert re.fullmatch(r"msg_[0-9a-f]+", ok.json()["message_id"])
    assert (ok.json()["status"], ok.json()["to"]) == ("sent", "ada@example.com")
    for bad in ("bob@invalid.example", "not-an-address"):
        r = await client.post("/emails", json={"to": bad, "subject": "Hi"})
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "invalid_email"
    listed = (await client.get("/emails", params={"to": "ada@example.com"})).json()["emails"]
    assert [e["message_id"] for e in listed] == [ok.json()["message_id"]]


async def test_order_idempotent_per_workflow(client: httpx.AsyncClient) -> None:
    first = await client.post("/orders", json=_order())
    assert first.status_code == 201
    order = first.json()
    assert re.fullmatch(r"ORD-20250115-[0-9A-F]{8}", order["order_number"])
    assert (order["total"], order["status"], order["payment_status"]) == (
        "70.77",
        "confirmed",
        "completed",
    )
    again = await client.post("/orders", json=_order())
    assert again.status_code == 200
    assert again.json()["order_id"] == order["order_id"]
    fetched = await client.get(f"/orders/{order['order_id']}")
    assert fetched.json()["order_number"] == order["order_number"]
    listed = await client.get("/orders", params={"workflow_id": "wf-1"})
    assert len(listed.json()["orders"]) == 1
    assert (await client.get("/orders/999")).status_code == 404


async def test_order_validation_names_missing_fields(client: httpx.AsyncClient) -> None:
    body = _order("wf-2")
    del body["customer_email"], body["total"]
    r = await client.post("/orders", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "order_validation_failed"
    assert error["fields"] == ["customer_email", "total"]
    assert "customer_email" in error["message"]


async def test_order_cancel_finds_the_order_by_workflow_and_is_idempotent(
    client: httpx.AsyncClient,
) -> None:
    nothing = await client.post("/orders/cancel", json={"workflow_id": "wf-9"})
    assert (nothing.status_code, nothing.json()["status"]) == (200, "nothing_to_cancel")
    created = (await client.post("/orders", json=_order("wf-9"))).json()
    for _ in range(2):
        cancelled = await client.post("/orders/cancel", json={"workflow_id": "wf-9"})
        assert cancelled.status_code == 200
        body = cancelled.json()
        assert body["order_id"] == created["order_id"]
        assert (body["status"], body["payment_status"]) == ("cancelled", "refunded")
    stored = (await client.get(f"/orders/{created['order_id']}")).json()
    assert stored["status"] == "cancelled"
    assert (await client.post("/orders/cancel", json={})).status_code == 422


async def test_effects_are_looked_up_by_idempotency_key(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "wf-e:create_order"}
    created = await client.post("/orders", json=_order("wf-e"), headers=headers)
    found = await client.get("/effects/wf-e:create_order")
    assert found.status_code == 200
    effect = found.json()
    assert (effect["method"], effect["status"]) == ("POST", 201)
    assert effect["body"]["order_number"] == created.json()["order_number"]
    missing = await client.get("/effects/wf-none:create_order")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "effect_not_found")


# --- registration ------------------------------------------------------------------------


async def test_users(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json=USER)
    assert created.status_code == 201
    user = created.json()
    assert re.fullmatch(r"usr_[0-9a-f]+", user["id"])
    assert (user["status"], user["plan"]) == ("pending", "pro")
    dup = await client.post("/users", json={**USER, "email": "ADA@example.com"})
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "email_exists")
    found = await client.get("/users", params={"email": "ada@example.com"})
    assert found.json()["id"] == user["id"]
    absent = await client.get("/users", params={"email": "nobody@example.com"})
    assert (absent.status_code, absent.json()["error"]["code"]) == (404, "user_not_found")
    missing = await client.post("/users", json={"email": "x@example.com"})
    assert missing.status_code == 422


async def test_user_patch(client: httpx.AsyncClient) -> None:
    user_id = (await client.post("/users", json=USER)).json()["id"]
    patch = {"status": "active", "completed_steps": ["billing"], "completion_timestamp": "t"}
    r = await client.patch(f"/users/{user_id}", json=patch)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["completed_steps"]) == ("active", ["billing"])
    assert (await client.get(f"/users/{user_id}")).json()["completion_timestamp"] == "t"
    unknown = await client.patch("/users/usr_nope", json={"status": "active"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "user_not_found")
    assert (await client.get("/users/usr_nope")).status_code == 404


async def test_billing_profiles(client: httpx.AsyncClient) -> None:
    unpaid = await client.post("/billing/profiles", json={"user_id": "usr_1", "plan": "pro"})
    assert (unpaid.status_code, unpaid.json()["error"]["code"]) == (402, "payment_required")
    created = await client.post("/billing/profiles", json={"user_id": "usr_1", "plan": "free"})
    assert created.status_code == 201
    assert re.fullmatch(r"bil_[0-9a-f]+", created.json()["id"])
    assert created.json()["status"] == "active"
    dup = await client.post(
        "/billing/profiles", json={"user_id": "usr_1", "plan": "pro", "payment_method": "pm_1"}
    )
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "profile_exists")
    assert dup.json()["profile_id"] == created.json()["id"]
    listed = await client.get("/billing/profiles", params={"user_id": "usr_1"})
    assert len(listed.json()["profiles"]) == 1


async def test_preferences(client: httpx.AsyncClient) -> None:
    body = {"user_id": "usr_1", "marketing_consent": True, "theme": "dark", "notifications": {}}
    created = await client.post("/preferences", json=body)
    assert created.status_code == 201
    assert re.fullmatch(r"prf_[0-9a-f]+", created.json()["id"])
    dup = await client.post("/preferences", json=body)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "preferences_exist")
    assert dup.json()["preferences_id"] == created.json()["id"]


@pytest.mark.parametrize(("plan", "emails"), [("free", 3), ("pro", 4), ("enterprise", 5)])
async def test_welcome_sequence_size(client: httpx.AsyncClient, plan: str, emails: int) -> None:
    body = {"user_id": "usr_1", "email": "a@example.com", "name": "A", "plan": plan}
    r = await client.post("/notifications/welcome-sequences", json=body)
    assert r.status_code == 201
    assert re.fullmatch(r"seq_[0-9a-f]+", r.json()["sequence_id"])
    assert r.json()["emails_sent"] == emails
    assert len(r.json()["email_ids"]) == emails
    assert all(e.startswith("eml_") for e in r.json()["email_ids"])


async def test_welcome_rate_limit(client: httpx.AsyncClient, clock: FakeClock) -> None:
    body = {"user_id": "usr_9", "email": "a@example.com", "name": "A", "plan": "free"}
    for _ in range(3):
        ok = await client.post("/notifications/welcome-sequences", json=body)
        assert ok.status_code == 201
    limited = await client.post("/notifications/welcome-sequences", json=body)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    other_user = await client.post(
        "/notifications/welcome-sequences", json={**body, "user_id": "usr_10"}
    )
    assert other_user.status_code == 201
    clock.advance(61)
    assert (await client.post("/notifications/welcome-sequences", json=body)).status_code == 201


# --- cross-cutting -----------------------------------------------------------------------


async def test_request_log_filters(client: httpx.AsyncClient) -> None:
    saga = {"X-Correlation-ID": "corr-1"}
    await client.post("/users", json=USER, headers={**saga, "Idempotency-Key": "u-1"})
    await client.get("/users/usr_missing", headers=saga)
    await client.get("/catalog/products/1", headers=saga)
    await client.get("/catalog/products/1", headers={"X-Correlation-ID": "corr-2"})
    await client.get("/_health", headers=saga)
    log = (await client.get("/_requests", params={"correlation_id": "corr-1"})).json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/users", 201),
        ("GET", "/users/usr_missing", 404),
        ("GET", "/catalog/products/1", 200),
    ]
    assert log[0]["idempotency_key"] == "u-1"
    assert log[1]["idempotency_key"] is None
    users_only = await client.get(
        "/_requests", params={"correlation_id": "corr-1", "path_prefix": "/users"}
    )
    assert len(users_only.json()["requests"]) == 2
    everything = (await client.get("/_requests")).json()["requests"]
    assert len(everything) == 4


class Transactions:
    """Counts `Database.transaction` calls, to check what one request costs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = Database.transaction

        @contextmanager
        def counted(db: Database) -> Iterator[Tx]:
            self.count += 1
            with original(db) as tx:
                yield tx

        monkeypatch.setattr(Database, "transaction", counted)

    async def of(self, request: Awaitable[httpx.Response]) -> tuple[int, int]:
        """(status, transactions) of one request."""
        before = self.count
        response = await request
        return response.status_code, self.count - before


async def test_one_transaction_per_request_while_no_fault_is_pending(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    transactions = Transactions(monkeypatch)
    saga = {"X-Correlation-ID": "corr-tx"}
    keyed = {**saga, "Idempotency-Key": "charge-tx"}
    order_calls = [
        (await transactions.of(client.get("/catalog/products?ids=1,2", headers=saga))),
        (await transactions.of(client.post("/payments/charges", json=CARD, headers=keyed))),
        (await transactions.of(client.post("/payments/charges", json=CARD, headers=keyed))),
        (
            await transactions.of(
                client.post(
                    "/inventory/reservations/batch", json=_batch("o-t", (1, 2)), headers=saga
                )
            )
        ),
        (await transactions.of(client.post("/orders", json=_order(), headers=saga))),
        (await transactions.of(client.post("/emails", json={"to": "a@example.com"}, headers=saga))),
        (await transactions.of(client.get("/users/usr_missing", headers=saga))),
    ]
    assert order_calls == [(200, 1), (201, 1), (201, 1), (201, 1), (201, 1), (202, 1), (404, 1)]
    # Requests the pipeline never answers are logged in a transaction of their own.
    assert await transactions.of(client.get("/no/such/route", headers=saga)) == (404, 1)
    bad_json = client.post("/orders", content=b"{nope", headers=saga)
    assert await transactions.of(bad_json) == (400, 1)
    # A pending fault, even for another operation, costs the lookup until it is used up.
    await _fault(client, operation="emails.send", status=500)
    assert await transactions.of(client.get("/catalog/products/1", headers=saga)) == (200, 2)
    faulted = client.post("/emails", json={"to": "a@example.com"}, headers=saga)
    assert await transactions.of(faulted) == (500, 2)
    assert await transactions.of(client.get("/catalog/products/1", headers=saga)) == (200, 1)

    log = (await client.get("/_requests", params={"correlation_id": "corr-tx"})).json()
    assert [(r["method"], r["path"], r["status"]) for r in log["requests"]] == [
        ("GET", "/catalog/products", 200),
        ("POST", "/payments/charges", 201),
        ("POST", "/payments/charges", 201),
        ("POST", "/inventory/reservations/batch", 201),
        ("POST", "/orders", 201),
        ("POST", "/emails", 202),
        ("GET", "/users/usr_missing", 404),
        ("GET", "/no/such/route", 404),
        ("POST", "/orders", 400),
        ("GET", "/catalog/products/1", 200),
        ("POST", "/emails", 500),
        ("GET", "/catalog/products/1", 200),
    ]
    assert [r["idempotency_key"] for r in log["requests"][1:3]] == ["charge-tx", "charge-tx"]


async def test_errors_are_json(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/no/such/route")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    wrong_method = await client.delete("/orders")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    bad_json = await client.post(
        "/orders", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "invalid_json")


async def test_state_survives_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.db"
    async for first in _open(path, clock):
        charge = await first.post("/payments/charges", json=CARD, headers={"Idempotency-Key": "p"})
        reserve = {"order_id": "o", "product_id": 5, "quantity": 4}
        assert (await first.post("/inventory/reservations", json=reserve)).status_code == 201
        await _fault(first, operation="orders.create", count=1)
    async for second in _open(path, clock):
        assert await _stock(second, 5) == 6
        assert [c["id"] for c in await _charges(second)] == [charge.json()["id"]]
        replay = await second.post("/payments/charges", json=CARD, headers={"Idempotency-Key": "p"})
        assert replay.json()["id"] == charge.json()["id"]
        assert (await second.post("/orders", json=_order())).status_code == 503
        assert len((await second.get("/_requests")).json()["requests"]) >= 3
