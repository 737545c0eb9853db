"""Issue 10, item 3: the HTTP API's answers that need no Temporal, in-process (ASGI): every
field error of a bad request, the body limits, the token, the health routes with Temporal
down, and an OpenAPI document that lists every route. The API with a real Temporal is
tests/integration/test_operating.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from frontends.api import MAX_BODY_BYTES, SagaApi
from plumbing.connection import TemporalSettings
from plumbing.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
INVALID_ORDER = (ROOT / "examples" / "order_invalid.json").read_bytes()
DOWN = TemporalSettings(address=f"127.0.0.1:{free_port()}")
"""Nothing listens there: any route that needs Temporal answers 503."""


async def _client(api: SagaApi) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(SagaApi(DOWN)):
        yield client


def _errors(response: httpx.Response) -> dict[str, str]:
    return {error["path"]: error["message"] for error in response.json()["errors"]}


async def test_an_invalid_order_gets_422_with_every_field_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/orders", content=INVALID_ORDER)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid input: nothing was started or changed"
    errors = _errors(response)
    for path in (
        "$.cart_items[0].product_id",
        "$.cart_items[0].quantity",
        "$.payment_info.method",
        "$.payment_info.amount",
        "$.customer_info.email",
        "$.customer_info.name",
    ):
        assert path in errors, errors
    assert errors["$.cart_items[0].quantity"] == "0 is less than the minimum of 1"


async def test_a_registration_without_its_required_fields(http: httpx.AsyncClient) -> None:
    response = await http.post("/registrations", json={"user_info": {"email": "x@example.com"}})
    assert response.status_code == 422
    assert "$.user_info.name" in _errors(response)


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b'{"a": 1, "a": 2}', "$", "key 'a' appears more than once"),
        (b'{"x": NaN}', "$.x", "NaN is not a number (JSON has no NaN or Infinity)"),
        (b"[" * 40 + b"]" * 40, "$" + "[0]" * 32, "nested more than 32 levels deep"),
        (b'{"a": 1', "$", "invalid JSON at line 1, column 8: Expecting ',' delimiter"),
        (b"\xff", "$", "not UTF-8 (byte 0xff at offset 0)"),
    ],
)
async def test_a_body_beyond_the_document_limits_is_refused(
    http: httpx.AsyncClient, body: bytes, path: str, message: str
) -> None:
    response = await http.post("/orders", content=body)
    assert response.status_code == 422
    assert _errors(response) == {path: message}


async def test_a_body_over_1_mib_is_413_before_it_is_read(http: httpx.AsyncClient) -> None:
    declared = await http.post(
        "/orders", content=b"{}", headers={"content-length": str(MAX_BODY_BYTES + 1)}
    )
    assert declared.status_code == 413

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b" " * 65536

    streamed = await http.post("/registrations", content=stream())
    assert streamed.status_code == 413
    assert streamed.json()["error"] == f"the body is larger than {MAX_BODY_BYTES} bytes (1 MiB)"


async def test_bad_list_filters_are_named(http: httpx.AsyncClient) -> None:
    response = await http.get("/sagas", params={"state": "stuck", "saga": "x", "limit": "0"})
    assert response.status_code == 422
    assert set(_errors(response)) == {"query.state", "query.saga", "query.limit"}
    assert _errors(response)["query.limit"] == "must be at least 1"


async def test_a_bad_intervention_body_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post("/sagas/order-1/resolve", json={"result": [1], "reason": "x\n"})
    assert response.status_code == 422
    assert set(_errors(response)) == {"$.result", "$.reason"}


async def test_temporal_down_is_503_with_one_sentence(http: httpx.AsyncClient) -> None:
    response = await http.get("/sagas/order-1")
    assert response.status_code == 503
    assert response.json()["error"].startswith(f"cannot reach Temporal at {DOWN.address}")
    started = await http.post("/orders", content=(ROOT / "examples/order_sample.json").read_bytes())
    assert started.status_code == 503


async def test_health(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health/live")).json()["status"] == "ok"
    ready = await http.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "temporal": DOWN.address}


async def test_unknown_routes_answer_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"


async def test_a_token_guards_everything_but_health_and_the_document() -> None:
    async for http in _client(SagaApi(DOWN, token="s3cret")):
        assert (await http.get("/sagas")).status_code == 401
        wrong = await http.get("/sagas", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await http.get("/sagas", headers={"authorization": "Bearer s3cret"})
        assert right.status_code == 503  # past the token, to a Temporal that is down
        assert (await http.get("/health/live")).status_code == 200
        document = (await http.get("/openapi.json")).json()
        assert document["paths"]["/sagas"]["get"]["security"] == [{"bearer": []}]
        assert "security" not in document["paths"]["/health/ready"]["get"]


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if not ref:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]  # type: ignore[no-any-return]


async def test_the_openapi_document_lists_every_route_and_its_models() -> None:
    app = SagaApi(DOWN).app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        document = (await http.get("/openapi.json")).json()

    served = {
        (method.lower(), route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served == documented
    assert {
        ("post", "/orders"), ("post", "/registrations"), ("get", "/sagas"),
        ("get", "/sagas/{workflow_id}"), ("post", "/sagas/{workflow_id}/retry"),
        ("post", "/sagas/{workflow_id}/resolve"), ("post", "/sagas/{workflow_id}/compensate"),
        ("post", "/sagas/{workflow_id}/cancel"), ("get", "/health/live"),
        ("get", "/health/ready"), ("get", "/openapi.json"),
    } <= documented  # fmt: skip
    schemas = document["components"]["schemas"]
    for path, ops in document["paths"].items():  # every reference resolves
        for ref in _refs(ops):
            assert ref.rsplit("/", 1)[-1] in schemas, (path, ref)
    order = document["paths"]["/orders"]["post"]
    body = order["requestBody"]["content"]["application/json"]["schema"]
    config_schema, model = body["allOf"]
    assert set(config_schema["required"]) == {"cart_items", "payment_info", "customer_info"}
    assert _resolve(model, document)["title"] == "OrderInput"
    assert set(order["responses"]) == {"202", "401", "413", "422", "503"}
    listing = document["paths"]["/sagas"]["get"]
    assert [p["name"] for p in listing["parameters"]] == [
        "state", "saga", "customer", "since", "until", "limit", "next"
    ]  # fmt: skip
    assert ("post", "/sagas/{workflow_id}/rerun") in documented
    order_headers = [p["name"] for p in order["parameters"] if p["in"] == "header"]
    assert order_headers == ["Idempotency-Key"]
    resolve = document["paths"]["/sagas/{workflow_id}/resolve"]["post"]
    assert "InventoryResult" in resolve["description"]
    assert "create_order reads it" in resolve["description"]
    assert {"InventoryResult", "UserStatusResult", "SagaStatus", "Problem"} <= set(schemas)
    status = document["paths"]["/sagas/{workflow_id}"]["get"]["responses"]["200"]
    assert (
        _resolve(status["content"]["application/json"]["schema"], document)
        == (schemas["SagaStatus"])
    )
    assert "earlier_error" in schemas["StepStatus"]["properties"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
