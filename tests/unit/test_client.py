"""The shared HTTP client: headers on every call, and the service-call events it logs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.client import ServiceClient, http_client
from models.events import SERVICE_CALL_COMPLETED, SERVICE_CALL_FAILED, SERVICE_CALL_STARTED
from plumbing.ports import free_port


def environment() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        activity_type="process_payment",
        workflow_id="order-1",
        start_to_close_timeout=timedelta(seconds=5),
    )
    return env


async def call(status: int, seen: list[httpx.Request]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"error": {"code": "x", "message": "y"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = ServiceClient(http, {"process_payment": "http://pay.test/payments"})
        await client.request("POST", "/charges", correlation_id="cid-1", json={})


async def test_every_call_carries_correlation_and_idempotency_headers() -> None:
    seen: list[httpx.Request] = []
    with capture_logs() as logs:
        await environment().run(call, 201, seen)
    assert str(seen[0].url) == "http://pay.test/payments/charges"
    assert seen[0].headers["X-Correlation-ID"] == "cid-1"
    assert seen[0].headers["Idempotency-Key"] == "order-1:process_payment"
    assert [entry["event"] for entry in logs] == [SERVICE_CALL_STARTED, SERVICE_CALL_COMPLETED]
    assert logs[1]["status"] == 201


async def test_a_failed_call_logs_service_call_failed() -> None:
    seen: list[httpx.Request] = []
    with capture_logs() as logs, pytest.raises(ApplicationError) as raised:
        await environment().run(call, 503, seen)
    assert raised.value.type == "SERVICE_UNAVAILABLE"
    assert [entry["event"] for entry in logs] == [SERVICE_CALL_STARTED, SERVICE_CALL_FAILED]
    assert logs[1]["error"] == "SERVICE_UNAVAILABLE"


async def _failure_through_the_real_transport(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]] | None,
) -> ApplicationError:
    """One call through ``http_client()`` to a loopback server that misbehaves as told
    (``None``: nothing listens on the port)."""
    port = free_port()
    server = await asyncio.start_server(handle, "127.0.0.1", port) if handle else None
    try:
        async with http_client() as http:
            client = ServiceClient(http, {"process_payment": f"http://127.0.0.1:{port}"}, 1.0)
            with pytest.raises(ApplicationError) as raised:
                await environment().run(
                    client.request, "POST", "/charges", correlation_id="c", json={}
                )
    finally:
        if server:
            server.close()
    return raised.value


async def test_a_refused_connection_is_unavailable_not_a_timeout() -> None:
    error = await _failure_through_the_real_transport(None)
    assert error.type == "SERVICE_UNAVAILABLE"
    assert "ConnectError" in error.message


async def test_a_dropped_connection_is_unavailable_not_a_timeout() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    error = await _failure_through_the_real_transport(hang_up)
    assert error.type == "SERVICE_UNAVAILABLE"


async def test_no_answer_in_time_is_a_timeout() -> None:
    answered = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answered.wait()

    try:
        error = await _failure_through_the_real_transport(never_answer)
    finally:
        answered.set()
    assert error.type == "SERVICE_TIMEOUT"


async def _write_with_lost_reply(effect: httpx.Response) -> httpx.Response:
    """A POST answered 504 (the reply lost), then the effect lookup answered ``effect``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(504, json={"error": {"code": "timeout", "message": "lost"}})
        assert request.url.path == "/effects/order-1:process_payment"
        return effect

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = ServiceClient(http, {"process_payment": "http://pay.test"})
        response: httpx.Response = await environment().run(
            client.request, "POST", "/charges", correlation_id="c", json={}
        )
        return response


async def test_a_lost_reply_is_resolved_by_the_idempotency_key() -> None:
    stored = {"method": "POST", "route": "/charges", "status": 201, "body": {"id": "ch_1"}}
    with capture_logs() as logs:
        response = await _write_with_lost_reply(httpx.Response(200, json=stored))
    assert (response.status_code, response.json()) == (201, {"id": "ch_1"})
    assert "service_call_outcome_resolved" in [entry["event"] for entry in logs]


async def test_a_write_that_never_happened_stays_a_retryable_timeout() -> None:
    with pytest.raises(ApplicationError) as raised:
        await _write_with_lost_reply(httpx.Response(404, json={"error": {"code": "x"}}))
    assert raised.value.type == "SERVICE_TIMEOUT"
    assert not raised.value.non_retryable
