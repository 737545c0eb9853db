"""HTTP outcomes → Temporal errors (SPEC §1 and the §4 classification table), row by row."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.outcomes import (
    HTTP_PERMANENT,
    MAX_SERVER_DELAY,
    permanent,
    raise_for_response,
    retry_after,
    retryable,
    transport_error,
)

URL = "http://x/payments/charges"


def _response(
    status: int,
    json: Any = None,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    url: str = URL,
) -> httpx.Response:
    return httpx.Response(status, json=json, headers=headers, request=httpx.Request(method, url))


def _error(code: str = "some_error", message: str = "went wrong") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _raised(response: httpx.Response, **kwargs: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        raise_for_response(response, **kwargs)
    return caught.value


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299, 409])
def test_success_and_conflict_return(status: int) -> None:
    body = _error("already_exists") if status == 409 else {"id": 1}
    raise_for_response(_response(status, json=body))  # returns without raising


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "CLIENT_VALIDATION_ERROR"),
        (422, "CLIENT_VALIDATION_ERROR"),
        (401, "AUTH_ERROR"),
        (403, "AUTH_ERROR"),
        (402, "PAYMENT_REQUIRED"),
        (404, "RESOURCE_NOT_FOUND"),
        (405, "HTTP_ERROR"),
        (410, "HTTP_ERROR"),
        (418, "HTTP_ERROR"),
        (451, "HTTP_ERROR"),
    ],
)
def test_client_errors_are_permanent(status: int, code: str) -> None:
    err = _raised(_response(status, json=_error()))
    assert err.type == code
    assert err.non_retryable is True
    assert err.next_retry_delay is None


def test_permanent_table_matches_spec() -> None:
    assert dict(HTTP_PERMANENT) == {
        400: "CLIENT_VALIDATION_ERROR",
        422: "CLIENT_VALIDATION_ERROR",
        401: "AUTH_ERROR",
        403: "AUTH_ERROR",
        402: "PAYMENT_REQUIRED",
        404: "RESOURCE_NOT_FOUND",
    }


@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (402, {402: "PAYMENT_DECLINED"}, "PAYMENT_DECLINED"),
        (404, {404: "USER_NOT_FOUND"}, "USER_NOT_FOUND"),
        (422, {400: "INVALID_EMAIL", 422: "INVALID_EMAIL"}, "INVALID_EMAIL"),
        (401, {402: "PAYMENT_DECLINED"}, "AUTH_ERROR"),  # statuses not overridden keep the table
        (418, {418: "TEAPOT"}, "TEAPOT"),
    ],
)
def test_codes_override_the_table(status: int, codes: dict[int, str], expected: str) -> None:
    err = _raised(_response(status, json=_error()), codes=codes)
    assert err.type == expected
    assert err.non_retryable is True


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (500, "SERVICE_ERROR"),
        (502, "SERVICE_UNAVAILABLE"),
        (503, "SERVICE_UNAVAILABLE"),
        (504, "SERVICE_TIMEOUT"),
        (599, "SERVICE_ERROR"),
    ],
)
def test_server_errors_are_retryable(status: int, code: str) -> None:
    err = _raised(_response(status, json=_error()))
    assert err.type == code
    assert err.non_retryable is False
    assert err.next_retry_delay is None  # Temporal's own backoff applies


@pytest.mark.parametrize(
    ("headers", "kwargs", "delay"),
    [
        ({"Retry-After": "60"}, {}, 60),
        ({"Retry-After": "5"}, {}, 5),
        ({"Retry-After": "0"}, {}, 0),
        ({}, {}, 60),  # default
        ({}, {"rate_limit_delay": timedelta(seconds=30)}, 30),  # the step's own default
        ({"Retry-After": "7"}, {"rate_limit_delay": timedelta(seconds=30)}, 7),  # header wins
        ({"Retry-After": "1000"}, {}, 300),  # capped
        ({}, {"rate_limit_delay": timedelta(seconds=900)}, 300),  # the default is capped too
        ({"Retry-After": "soon"}, {}, 60),  # unparseable → default
        ({"Retry-After": "-5"}, {}, 60),
        ({"Retry-After": ""}, {}, 60),
    ],
)
def test_rate_limited_is_retryable_with_server_delay(
    headers: dict[str, str], kwargs: dict[str, Any], delay: int
) -> None:
    err = _raised(_response(429, json=_error("rate_limited"), headers=headers), **kwargs)
    assert err.type == "RATE_LIMITED"
    assert err.non_retryable is False
    assert err.next_retry_delay == timedelta(seconds=delay)


def test_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    header = email.utils.format_datetime(when, usegmt=True)
    err = _raised(_response(429, headers={"Retry-After": header}))
    assert err.next_retry_delay is not None
    # The HTTP date has whole seconds; the test takes no more than a few to run.
    assert timedelta(seconds=110) < err.next_retry_delay <= timedelta(seconds=120)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(hours=2), MAX_SERVER_DELAY),  # far future: capped
        (timedelta(hours=-1), timedelta(0)),  # already past: retry now
    ],
)
def test_retry_after_http_date_bounds(offset: timedelta, expected: timedelta) -> None:
    header = email.utils.format_datetime(datetime.now(UTC) + offset, usegmt=True)
    err = _raised(_response(429, headers={"Retry-After": header}))
    assert err.next_retry_delay == expected


def test_retry_after_helper_reads_seconds_and_falls_back() -> None:
    default = timedelta(seconds=42)
    assert retry_after(_response(429, headers={"Retry-After": " 12 "}), default) == timedelta(
        seconds=12
    )
    assert retry_after(_response(429), default) == default


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            _response(402, json=_error("card_declined", "Your card was declined")),
            "POST /payments/charges → 402 card_declined: Your card was declined",
        ),
        (
            _response(
                404,
                json=_error("user_not_found", "No such user"),
                method="PATCH",
                url="http://users.test/users/17/status?x=1",
            ),
            "PATCH /users/17/status → 404 user_not_found: No such user",
        ),
        (
            _response(503, json=_error("service_unavailable", "Try later")),
            "POST /payments/charges → 503 service_unavailable: Try later",
        ),
        (
            _response(429, json=_error("rate_limited", "Slow down")),
            "POST /payments/charges → 429 rate_limited: Slow down",
        ),
        (
            _response(422, json={"detail": "bad"}),
            "POST /payments/charges → 422: {'detail': 'bad'}",
        ),
        (
            httpx.Response(
                502, text="Bad Gateway", request=httpx.Request("GET", "http://x/catalog/1")
            ),
            "GET /catalog/1 → 502: Bad Gateway",
        ),
        (
            _response(500),
            "POST /payments/charges → 500",
        ),
    ],
)
def test_message_names_method_path_status_and_service_code(
    response: httpx.Response, message: str
) -> None:
    assert _raised(response).message == message


def test_permanent_and_retryable_helpers() -> None:
    p = permanent("MISSING_EMAIL", "Email is required")
    assert (p.type, p.message, p.non_retryable) == ("MISSING_EMAIL", "Email is required", True)

    r = retryable("OUT_OF_STOCK", "Insufficient stock", delay=timedelta(seconds=10))
    assert (r.type, r.non_retryable, r.next_retry_delay) == (
        "OUT_OF_STOCK",
        False,
        timedelta(seconds=10),
    )
    assert retryable("X", "m").next_retry_delay is None
    assert retryable("X", "m", delay=timedelta(hours=1)).next_retry_delay == MAX_SERVER_DELAY
    assert retryable("X", "m", delay=timedelta(seconds=-3)).next_retry_delay == timedelta(0)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            httpx.ConnectTimeout("timed out"),
            "SERVICE_TIMEOUT",
            f"POST {URL}: timed out (ConnectTimeout)",
        ),
        (httpx.ReadTimeout("slow"), "SERVICE_TIMEOUT", f"POST {URL}: timed out (ReadTimeout)"),
        (httpx.PoolTimeout("pool"), "SERVICE_TIMEOUT", f"POST {URL}: timed out (PoolTimeout)"),
        (
            httpx.ConnectError("Connection refused"),
            "SERVICE_UNAVAILABLE",
            f"POST {URL}: ConnectError: Connection refused",
        ),
        (
            httpx.RemoteProtocolError("peer closed"),
            "SERVICE_UNAVAILABLE",
            f"POST {URL}: RemoteProtocolError: peer closed",
        ),
    ],
)
def test_transport_errors_are_retryable(
    error: httpx.TransportError, code: str, message: str
) -> None:
    err = transport_error(error, "POST", URL)
    assert isinstance(err, ApplicationError)
    assert err.type == code
    assert err.non_retryable is False
    assert err.message == message
