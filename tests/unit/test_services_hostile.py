"""Hostile input to every route of the services: a 4xx with a JSON error, nothing written.

The routes come from the app's routing table, so a new route is covered without editing
this file: a write route only needs a valid sample body in `_samples` (a test insists), a
new path parameter an existing value in `_seed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, get_args

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from services import Settings, create_app
from services.__main__ import parse_args
from services.api import INT64_MAX, MAX_LINES, MAX_QUANTITY, MAX_TEXT
from services.body import DEFAULT_MAX_BODY_BYTES, DRAIN_BYTES, MAX_DEPTH
from services.db import Database, Row, Table
from services.faults import MAX_COUNT, MAX_DELAY_SECONDS, MAX_RETRY_AFTER
from services.pipeline import WRITE_METHODS


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every route the app serves with the test API on."""
    app = create_app(":memory:", settings=Settings(test_api=True))
    app.state.db.close()
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    return sorted(served)


ROUTES: Final = _routes()
WRITE_ROUTES: Final = [r for r in ROUTES if r[0] in WRITE_METHODS]
TEST_API: Final = [
    ("GET", "/_faults"),
    ("POST", "/_faults"),
    ("DELETE", "/_faults"),
    ("GET", "/_requests"),
    ("DELETE", "/_requests"),
]
PARAM: Final = re.compile(r"\{([^}]+)\}")

CARD: Final = {"amount": "124.76", "currency": "USD", "token": "tok_visa", "method": "card"}
ORDER: Final = {
    "workflow_id": "wf-seed",
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "items": [{"product_id": 1, "quantity": 1, "price": "29.99"}],
    "subtotal": "29.99",
    "tax": "2.40",
    "shipping": "5.99",
    "total": "38.38",
    "payment_id": "ch_x",
    "transaction_id": "txn_x",
    "reservation_ids": ["res_x"],
    "status": "confirmed",
    "payment_status": "completed",
}


def _samples(seed: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """A body each write route accepts, every field of which is checked by the service."""
    user = {"user_id": "usr_other", "email": "b@example.com", "name": "B", "plan": "pro"}
    return {
        ("DELETE", "/_faults"): {},
        ("DELETE", "/_requests"): {},
        ("POST", "/_faults"): {
            "operation": "inventory.check",  # no sample calls it: the fault stays unused
            "mode": "status",
            "status": 503,
            "count": 1,
            "retry_after": 1,
            "delay_seconds": 0,
        },
        ("POST", "/inventory/reservations"): {"order_id": "o-1", "product_id": 2, "quantity": 1},
        ("POST", "/inventory/reservations/batch"): {
            "order_id": "o-2",
            "items": [{"product_id": 2, "quantity": 1}],
        },
        ("POST", "/inventory/reservations/{reservation_id}/release"): {},
        ("POST", "/inventory/restocks"): {
            "order_id": "o-3",
            "return_id": "ret-1",
            "items": [{"product_id": 2, "quantity": 1}],
        },
        ("POST", "/inventory/restocks/{restock_id}/reverse"): {},
        ("POST", "/payments/charges"): {**CARD, "description": "d", "metadata": {}},
        ("POST", "/payments/refunds"): {
            "charge_id": seed["charge_id"],
            "amount": "1.00",
            "reason": "r",
        },
        ("POST", "/emails"): {"to": "a@example.com", "subject": "s", "template": "t", "data": {}},
        ("POST", "/orders"): {**ORDER, "workflow_id": "wf-new"},
        ("POST", "/orders/cancel"): {"workflow_id": "wf-seed"},
        ("POST", "/users"): {
            "email": "new@example.com",
            "name": "New",
            "phone": "555",
            "plan": "free",
            "marketing_consent": True,
            "referral_code": "R",
            "source": "web",
        },
        ("PATCH", "/users/{user_id}"): {"status": "active"},
        ("POST", "/billing/profiles"): {"user_id": "usr_other", "plan": "free"},
        ("POST", "/preferences"): {
            "user_id": "usr_other",
            "marketing_consent": False,
            "newsletter_frequency": "weekly",
            "notifications": {},
            "theme": "dark",
            "language": "en",
            "timezone": "UTC",
        },
        ("POST", "/notifications/welcome-sequences"): {
            **user,
            "features": [],
            "onboarding_steps": [],
        },
    }


def _snapshot(db: Database) -> dict[str, list[Row]]:
    """Every table but the request log (which records refusals too)."""
    with db.transaction() as tx:
        return {table: tx.find(table) for table in get_args(Table) if table != "requests"}


@dataclass
class World:
    """The services in-process, with one of everything a path can name."""

    client: httpx.AsyncClient
    db: Database
    seed: dict[str, str]

    def url(self, path: str, value: str | None = None) -> str:
        """`path` with each parameter an existing row's id, or `value`."""
        return PARAM.sub(lambda m: value if value is not None else self.seed[m[1]], path)

    async def answered(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send any request: never a 5xx, always a JSON object; a refusal has the error
        shape and wrote nothing."""
        before = _snapshot(self.db)
        response = await self.client.request(method, url, **kwargs)
        what = f"{method} {url[:80]}: {response.status_code} {response.text[:200]}"
        assert response.status_code < 500, what
        assert isinstance(response.json(), dict), what
        if response.status_code >= 400:
            assert_error_shape(response)
            assert _snapshot(self.db) == before, what
        return response

    async def refused(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send a request that must be refused: 4xx, the JSON error shape, nothing written."""
        response = await self.answered(method, url, **kwargs)
        assert response.status_code >= 400, f"{method} {url[:80]}: {response.text[:200]}"
        return response


def assert_error_shape(response: httpx.Response) -> None:
    """The services' one error body: {"error": {"code", "message", ...}}."""
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert isinstance(error["code"], str), response.text
    assert isinstance(error["message"], str), response.text


async def _seed(client: httpx.AsyncClient) -> dict[str, str]:
    """Create what the path parameters name: a charge, a reservation, a restock, a user,
    an order."""
    charge = await client.post("/payments/charges", json=CARD, headers={"Idempotency-Key": "k"})
    reserve = {"order_id": "o-seed", "product_id": 1, "quantity": 1}
    reservation = await client.post("/inventory/reservations", json=reserve)
    line = {"product_id": 1, "quantity": 1}
    put_back = {"order_id": "o-seed", "return_id": "ret-seed", "items": [line]}
    restock = await client.post("/inventory/restocks", json=put_back)
    user = await client.post("/users", json={"email": "seed@example.com", "name": "Seed"})
    order = await client.post("/orders", json=ORDER)
    created = [charge, reservation, restock, user, order]
    assert [r.status_code for r in created] == [201] * len(created)
    return {
        "charge_id": charge.json()["id"],
        "reservation_id": reservation.json()["reservation_id"],
        "restock_id": restock.json()["restocks"][0]["restock_id"],
        "user_id": user.json()["id"],
        "order_id": str(order.json()["order_id"]),
        "product_id": "1",
        "idempotency_key": "k",
    }


async def _open(path: Path, service_settings: Settings) -> AsyncIterator[World]:
    app = create_app(path, settings=service_settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as c:
        yield World(c, app.state.db, await _seed(c))
    app.state.db.close()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async for opened in _open(tmp_path / "s.db", Settings(test_api=True)):
        yield opened


def _oversized(limit: int) -> bytes:
    """A valid JSON object one byte over `limit`."""
    head = b'{"pad": "'
    return head + b"x" * (limit + 1 - len(head) - 2) + b'"}'


# --- bodies no route accepts -------------------------------------------------------------

HOSTILE_BODIES: Final = {
    "truncated JSON": b'{"amount": ',
    "trailing garbage": b'{"a": 1} x',
    "not UTF-8": b'{"a": "\xff\xfe"}',
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "byte order mark": b'\xef\xbb\xbf{"a": 1}',
    "raw surrogate bytes": b'{"a": "\xed\xa0\x80"}',
    "escaped lone surrogate": b'{"a": "\\ud800"}',
    "surrogate as a key": b'{"\\udfff": 1}',
    "100,000 open brackets": b"[" * 100_000,
    "60,000 open brackets": b"[" * 60_000,
    "5,000 levels deep": b'{"a": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    "one level too deep": b'{"a": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
    "2^63": b'{"product_id": 9223372036854775808}',
    "below -2^63": b'{"quantity": -9223372036854775809}',
    "10^30": b'{"amount": 1000000000000000000000000000000}',
    "5,000 digits": b'{"amount": ' + b"9" * 5_000 + b"}",
    "NaN": b'{"amount": NaN}',
    "Infinity": b'{"amount": Infinity}',
    "-Infinity": b'{"amount": -Infinity}',
    "1e400": b'{"amount": 1e400}',
    "duplicate keys": b'{"token": "tok_visa", "token": "tok_decline"}',
    "array": b"[1, 2]",
    "string": b'"text"',
    "number": b"1",
    "null": b"null",
    "over the size limit": _oversized(DEFAULT_MAX_BODY_BYTES),
    "a 5 MB token": b'{"amount": "1.00", "token": "tok_' + b"x" * 5_000_000 + b'"}',
}


@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
async def test_hostile_bodies_are_refused_by_every_route(world: World, raw: bytes) -> None:
    too_large = len(raw) > DEFAULT_MAX_BODY_BYTES
    for method, path in ROUTES:
        response = await world.refused(
            method, world.url(path), content=raw, headers={"Idempotency-Key": "hostile"}
        )
        code = response.json()["error"]["code"]
        if too_large:
            assert (response.status_code, code) == (413, "body_too_large"), path
        elif method in WRITE_METHODS:
            assert (response.status_code, code) == (400, "invalid_json"), path
        else:  # a GET takes no body at all, hostile or not
            assert (response.status_code, code) == (400, "unexpected_body"), path


async def test_nesting_up_to_the_limit_is_accepted(world: World) -> None:
    def email(levels: int) -> bytes:  # the body and `data` are two levels, the rest arrays
        arrays = levels - 2
        return b'{"to": "a@example.com", "data": {"x": ' + b"[" * arrays + b"]" * arrays + b"}}"

    assert (await world.client.post("/emails", content=email(MAX_DEPTH))).status_code == 202
    deeper = await world.refused("POST", "/emails", content=email(MAX_DEPTH + 1))
    assert deeper.json()["error"]["message"] == f"Request body nests deeper than {MAX_DEPTH} levels"


def test_the_routing_table_is_what_the_hostile_tests_cover() -> None:
    assert set(TEST_API) < set(ROUTES)
    assert {("POST", "/payments/charges"), ("PATCH", "/users/{user_id}")} < set(WRITE_ROUTES)
    assert ("GET", "/catalog/products/{product_id}") in ROUTES


# --- hostile values in the fields of otherwise valid bodies ------------------------------

FIELD_VALUES: Final = {
    "negative": "-1",
    "largest 64-bit integer": str(INT64_MAX),
    "smallest 64-bit integer": str(-(2**63)),
    "2^63": str(2**63),
    "10^30": "1" + "0" * 30,
    "1e308": "1e308",
    "1e400": "1e400",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "huge string": json.dumps("x" * (MAX_TEXT + 1)),
    "NUL": json.dumps("tok\x00visa"),
    "newline": json.dumps("line\nbreak"),
    "escape": json.dumps("\x1b[31m"),
    "lone surrogate": '"\\ud800"',
    "nested too deep": "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
}
"""JSON text no field of the samples accepts: wrong type, out of range, or not JSON at all."""
_PLACEHOLDER: Final = "\x00hostile\x00"


def _with(sample: dict[str, Any], name: str, raw_value: str) -> bytes:
    """`sample` as JSON with field `name` set to the JSON text `raw_value`."""
    text = json.dumps({**sample, name: _PLACEHOLDER})
    return text.replace(json.dumps(_PLACEHOLDER), raw_value).encode()


async def test_every_write_route_has_a_sample_it_accepts(world: World) -> None:
    samples = _samples(world.seed)
    assert sorted(samples) == WRITE_ROUTES
    for method, path in WRITE_ROUTES:
        response = await world.client.request(method, world.url(path), json=samples[method, path])
        assert response.status_code < 300, (method, path, response.text)


@pytest.mark.parametrize("raw_value", FIELD_VALUES.values(), ids=FIELD_VALUES.keys())
async def test_hostile_field_values_are_refused_by_every_route(
    world: World, raw_value: str
) -> None:
    samples = _samples(world.seed)
    checked = 0
    for method, path in WRITE_ROUTES:
        for name in samples[method, path]:
            body = _with(samples[method, path], name, raw_value)
            await world.refused(method, world.url(path), content=body)
            checked += 1
    assert checked >= 50


ODD_VALUES: Final = [
    None,
    True,
    0,
    -1,
    1,
    INT64_MAX,
    -(2**63),
    0.5,
    1e308,
    -1e308,
    "",
    " ",
    "0",
    "-1",
    "0.001",
    "1e400",
    "-Infinity",
    "sNaN",
    str(2**63),
    "x" * (MAX_TEXT + 1),
    "a\x00b",
    "Ünïcødé",
    [],
    [None],
    {},
    {"": None},
]
"""Values any field may meet: some accepted, some refused, none a 5xx."""


@pytest.mark.parametrize("value", ODD_VALUES, ids=[repr(v)[:16] for v in ODD_VALUES])
async def test_odd_field_values_never_fail_a_route(world: World, value: Any) -> None:
    samples = _samples(world.seed)
    for method, path in WRITE_ROUTES:
        for name in samples[method, path]:
            body = {**samples[method, path], name: value}
            await world.answered(method, world.url(path), json=body)


PATH_VALUES: Final = {
    "zero": "0",
    "negative": "-1",
    "2^63": str(2**63),
    "30 digits": "9" * 30,
    "1e400": "1e400",
    "NaN": "NaN",
    "huge": "x" * 5_000,
    "NUL": "%00",
    "newline": "a%0Ab",
    "surrogate bytes": "%ED%A0%80",
    "not UTF-8": "%FF",
    "emoji": "%F0%9F%92%A9",
    "traversal": "..%2F..%2Fetc",
}


@pytest.mark.parametrize("value", PATH_VALUES.values(), ids=PATH_VALUES.keys())
async def test_hostile_path_values_are_refused_by_every_route(world: World, value: str) -> None:
    samples = _samples(world.seed)
    with_params = [(m, p) for m, p in ROUTES if PARAM.search(p)]
    assert len(with_params) >= 8
    for method, path in with_params:
        body = samples.get((method, path))
        response = await world.refused(method, world.url(path, value), json=body)
        assert response.status_code == 404, (method, path)


QUERY_NAMES: Final = (
    "ids",
    "quantity",
    "order_id",
    "charge_id",
    "to",
    "workflow_id",
    "email",
    "user_id",
    "correlation_id",
    "path_prefix",
)


@pytest.mark.parametrize("value", PATH_VALUES.values(), ids=PATH_VALUES.keys())
async def test_hostile_query_values_never_fail_a_route(world: World, value: str) -> None:
    """Filters that match nothing answer 200; the rest are refused, never a 5xx."""
    reads = [path for method, path in ROUTES if method not in WRITE_METHODS]
    for path in reads:
        for name in QUERY_NAMES:
            await world.answered("GET", f"{world.url(path)}?{name}={value}")


# --- the bounds, field by field ----------------------------------------------------------

MONEY_FIELDS: Final = [
    ("/payments/charges", "amount"),
    ("/payments/refunds", "amount"),
    *[("/orders", name) for name in ("subtotal", "tax", "shipping", "total")],
]
BAD_AMOUNTS: Final = [
    '"NaN"',
    '"sNaN"',
    '"Infinity"',
    '"-Infinity"',
    '"1e400"',
    '"1e-400"',
    '"0.001"',
    '"-0.01"',
    '"1000000000.00"',
    "1e308",
    "1000000000",
    '"12,50"',
    '"abc"',
    "[]",
    "true",
]


@pytest.mark.parametrize(("path", "name"), MONEY_FIELDS)
async def test_amounts_are_finite_whole_cents_and_bounded(
    world: World, path: str, name: str
) -> None:
    sample = _samples(world.seed)["POST", path]
    for raw in BAD_AMOUNTS:
        response = await world.refused("POST", path, content=_with(sample, name, raw))
        assert response.status_code == 422, raw
    for raw, accepted in (
        ('"999999999.99"', path != "/payments/refunds"),
        ('"0"', path == "/orders"),
    ):
        fresh = {**sample, "workflow_id": f"wf-{name}-{raw}"} if path == "/orders" else sample
        response = await world.client.post(path, content=_with(fresh, name, raw))
        assert response.status_code == (201 if accepted else 422), (raw, response.text)


async def test_ids_and_quantities_are_bounded(world: World) -> None:
    for query in (
        f"ids={2**63}",
        "ids=0",
        "ids=1,-2",
        "ids=" + ",".join(str(i) for i in range(1, MAX_LINES + 2)),
    ):
        refused = await world.refused("GET", f"/catalog/products?{query}")
        assert refused.json()["error"]["field"] == "ids"
    allowed = ",".join(str(i) for i in range(1, MAX_LINES + 1))
    assert (await world.client.get(f"/catalog/products?ids={allowed}")).status_code == 200
    for quantity in ("0", "-1", str(MAX_QUANTITY + 1), str(2**63), "1.5", "--5", "½"):
        url = f"/inventory/products/1/availability?quantity={quantity}"
        assert (await world.refused("GET", url)).json()["error"]["field"] == "quantity"
    line = {"order_id": "o-b", "product_id": 1, "quantity": 1}
    for changes in (
        {"product_id": str(2**63)},
        {"product_id": 0},
        {"product_id": 1.0},
        {"quantity": MAX_QUANTITY + 1},
        {"quantity": "1e3"},
    ):
        await world.refused("POST", "/inventory/reservations", json={**line, **changes})
    lines = [{"product_id": 1, "quantity": 1}] * (MAX_LINES + 1)
    too_many = await world.refused(
        "POST", "/inventory/reservations/batch", json={"order_id": "o-b", "items": lines}
    )
    assert too_many.json()["error"]["field"] == "items"
    for changes, code in (
        ({"product_id": INT64_MAX}, "product_not_found"),
        ({"quantity": MAX_QUANTITY}, "insufficient_stock"),
    ):
        within = await world.refused("POST", "/inventory/reservations", json={**line, **changes})
        assert within.json()["error"]["code"] == code  # in range: looked up, then refused


async def test_fault_numbers_are_bounded(world: World) -> None:
    fault = {"operation": "emails.send", "mode": "timeout"}
    for changes in (
        {"delay_seconds": 1e308},
        {"delay_seconds": MAX_DELAY_SECONDS + 0.001},
        {"delay_seconds": -1},
        {"delay_seconds": True},
        {"count": 0},
        {"count": MAX_COUNT + 1},
        {"retry_after": MAX_RETRY_AFTER + 1},
        {"status": 600},
        {"status": 399},
    ):
        refused = await world.refused("POST", "/_faults", json={**fault, **changes})
        assert refused.json()["error"]["field"] == next(iter(changes)), changes
    most = {"delay_seconds": MAX_DELAY_SECONDS, "count": MAX_COUNT, "retry_after": 3600}
    created = await world.client.post("/_faults", json={**fault, **most})
    assert created.status_code == 201
    assert (created.json()["delay_seconds"], created.json()["remaining"]) == (60.0, MAX_COUNT)


async def test_text_fields_are_bounded_and_single_line(world: World) -> None:
    card = _samples(world.seed)["POST", "/payments/charges"]
    for token in ("x" * (MAX_TEXT + 1), "tok\x00", "tok\r\nX-Evil: 1", "tok\x7f", "tok\x85"):
        refused = await world.refused("POST", "/payments/charges", json={**card, "token": token})
        assert refused.json()["error"]["field"] == "token"
    longest = {**card, "token": "tok_" + "x" * (MAX_TEXT - 4), "description": "Ünïcødé ✓"}
    assert (await world.client.post("/payments/charges", json=longest)).status_code == 201


# --- the body size limit -----------------------------------------------------------------

LIMIT: Final = 1024


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[World]:
    """Services whose body limit is LIMIT bytes."""
    async for opened in _open(tmp_path / "s.db", Settings(max_body_bytes=LIMIT, test_api=True)):
        yield opened


async def test_a_body_of_the_limit_is_accepted_one_byte_more_is_413(small: World) -> None:
    card = json.dumps({**CARD, "metadata": {"pad": ""}})
    exact = card.replace('"pad": ""', '"pad": "' + "x" * (LIMIT - len(card)) + '"').encode()
    assert len(exact) == LIMIT
    assert (await small.client.post("/payments/charges", content=exact)).status_code == 201
    over = exact.replace(b'"x', b'"xx', 1)
    refused = await small.refused("POST", "/payments/charges", content=over)
    assert refused.status_code == 413
    assert refused.json()["error"] == {
        "code": "body_too_large",
        "message": f"Request body is larger than {LIMIT} bytes",
        "limit": LIMIT,
    }


class Chunks:
    """A streamed body that counts how much of it the server asked for."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.count, self.sent = chunk, count, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.sent += 1
            yield self.chunk


async def test_an_oversized_body_is_refused_and_drained_up_to_a_bound(small: World) -> None:
    """The 413 goes out once the body is known to be too large, after the rest is read and
    dropped (so a client still sending sees it, not a reset), up to DRAIN_BYTES."""
    declared = Chunks(b"x" * 256, 400)
    headers = {"Content-Length": str(256 * 400)}
    refused = await small.refused("POST", "/payments/charges", content=declared, headers=headers)
    assert refused.status_code == 413
    assert declared.sent == 400  # drained, not kept
    chunked = Chunks(b"x" * 256, 400)
    refused = await small.refused("POST", "/payments/charges", content=chunked)
    assert refused.status_code == 413
    assert chunked.sent == 400
    huge = Chunks(b"x" * 256, 4)
    headers = {"Content-Length": str(DRAIN_BYTES + 1)}
    refused = await small.refused("POST", "/payments/charges", content=huge, headers=headers)
    assert refused.status_code == 413
    assert huge.sent == 0  # beyond the bound: answered from Content-Length alone


# --- the test API exists only when enabled -----------------------------------------------


async def test_the_test_api_is_off_unless_enabled(tmp_path: Path) -> None:
    app = create_app(tmp_path / "s.db")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as c:
        for method, path in TEST_API:
            fault = {"operation": "payments.charge"} if method == "POST" else None
            response = await c.request(method, path, json=fault)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["code"] == "not_found"
        assert (await c.get("/_health")).status_code == 200
        assert (await c.post("/payments/charges", json=CARD)).status_code == 201
    with app.state.db.transaction() as tx:
        assert (tx.count("requests"), tx.count("faults"), tx.count("charges")) == (0, 0, 1)
    app.state.db.close()


async def _once(path: Path, test_api: bool, url: str, body: dict[str, Any]) -> int:
    """The status of one POST to a fresh app on the database at `path`."""
    app = create_app(path, settings=Settings(test_api=test_api))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as c:
        status = (await c.post(url, json=body)).status_code
    app.state.db.close()
    return status


async def test_faults_stored_while_enabled_are_not_injected_while_disabled(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    fault = {"operation": "payments.charge", "status": 503}
    assert await _once(db, True, "/_faults", fault) == 201
    assert await _once(db, False, "/payments/charges", CARD) == 201
    assert await _once(db, True, "/payments/charges", CARD) == 503


@pytest.mark.parametrize(
    ("argv", "environ", "test_api", "max_body_bytes"),
    [
        ([], {}, False, DEFAULT_MAX_BODY_BYTES),
        (["--test-api"], {}, True, DEFAULT_MAX_BODY_BYTES),
        ([], {"SAGA_SERVICES_TEST_API": "1"}, True, DEFAULT_MAX_BODY_BYTES),
        ([], {"SAGA_SERVICES_TEST_API": "0"}, False, DEFAULT_MAX_BODY_BYTES),
        (["--no-test-api"], {"SAGA_SERVICES_TEST_API": "1"}, False, DEFAULT_MAX_BODY_BYTES),
        (["--max-body-bytes", "100"], {"SAGA_SERVICES_MAX_BODY_BYTES": "7"}, False, 100),
        ([], {"SAGA_SERVICES_MAX_BODY_BYTES": "7"}, False, 7),
    ],
)
def test_the_command_line_and_environment_settings(
    argv: list[str], environ: dict[str, str], test_api: bool, max_body_bytes: int
) -> None:
    _, chosen = parse_args(argv, environ)
    assert chosen == Settings(max_body_bytes=max_body_bytes, test_api=test_api)


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        ([], {"SAGA_SERVICES_TEST_API": "yes"}, "SAGA_SERVICES_TEST_API"),
        ([], {"SAGA_SERVICES_MAX_BODY_BYTES": "0"}, "SAGA_SERVICES_MAX_BODY_BYTES"),
        (["--max-body-bytes", "1e6"], {}, "--max-body-bytes"),
        (["--max-body-bytes", "9" * 30], {}, "--max-body-bytes"),
    ],
)
def test_bad_settings_are_one_line_naming_them(
    argv: list[str], environ: dict[str, str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv, environ)
    assert exited.value.code == 2
    assert f"error: {named}: expected" in capsys.readouterr().err


# --- anything at all: never a 5xx, and a refusal writes nothing --------------------------

JSON_VALUES: Final = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(ODD_VALUES),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=12,
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(WRITE_ROUTES),
    changes=st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=3),
    use_sample_fields=st.booleans(),
    data=st.data(),
)
async def test_no_body_ever_gets_a_5xx_and_a_refusal_writes_nothing(
    world: World,
    route: tuple[str, str],
    changes: dict[str, Any],
    use_sample_fields: bool,
    data: st.DataObject,
) -> None:
    method, path = route
    sample = _samples(world.seed)[route]
    if use_sample_fields and sample:
        names = st.sampled_from(sorted(sample))
        changes |= data.draw(st.dictionaries(names, JSON_VALUES, min_size=1, max_size=3))
    body = json.dumps({**sample, **changes}).encode()  # NaN, Infinity and huge ints included
    await world.answered(method, world.url(path), content=body)
    with world.db.transaction() as tx:  # a fault created here must not fail the next example
        tx.delete_all("faults")
