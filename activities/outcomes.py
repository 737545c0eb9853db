"""The one place where outcomes become Temporal errors, including the HTTP status table.

- permanent → ``ApplicationError(type=CODE, non_retryable=True)``: never retried;
- retryable → ``ApplicationError(type=CODE)``, with ``next_retry_delay`` when the server
  suggested one (``Retry-After``), capped at 300 s.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.exceptions import ApplicationError

MAX_SERVER_DELAY = timedelta(seconds=300)
DEFAULT_RATE_LIMIT_DELAY = timedelta(seconds=60)

HTTP_PERMANENT: Mapping[int, str] = {
    400: "CLIENT_VALIDATION_ERROR",
    422: "CLIENT_VALIDATION_ERROR",
    401: "AUTH_ERROR",
    403: "AUTH_ERROR",
    402: "PAYMENT_REQUIRED",
    404: "RESOURCE_NOT_FOUND",
}
"""SPEC section 4. 409 is not here: it means "already done" and each step decides."""

SERVER_ERRORS: Mapping[int, str] = {
    502: "SERVICE_UNAVAILABLE",
    503: "SERVICE_UNAVAILABLE",
    504: "SERVICE_TIMEOUT",
}
"""Infrastructure failures (with refused connections and timeouts), which the configs' retry
strategies ride out for minutes; any other 5xx is ``SERVICE_ERROR``, the service's own
failure, retried within the step's limit."""


def permanent(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


def retryable(code: str, message: str, *, delay: timedelta | None = None) -> ApplicationError:
    if delay is not None:
        delay = min(max(delay, timedelta(0)), MAX_SERVER_DELAY)
    return ApplicationError(message, type=code, next_retry_delay=delay)


def retry_after(response: httpx.Response, default: timedelta) -> timedelta:
    """The server's ``Retry-After`` (seconds or HTTP date), else ``default``."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        return max(when - datetime.now(UTC), timedelta(0))
    return default


def _service_error(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from a ``{"error": {"code", "message"}}`` body, tolerating others."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code", "")), str(error.get("message", ""))
    return "", str(body)[:200]


def raise_for_response(
    response: httpx.Response,
    *,
    codes: Mapping[int, str] | None = None,
    rate_limit_delay: timedelta = DEFAULT_RATE_LIMIT_DELAY,
) -> None:
    """Return on 2xx and 409; raise the classified error otherwise.

    ``codes`` lets a step give a status its own permanent code (a declined card is
    ``PAYMENT_DECLINED``, not the generic ``PAYMENT_REQUIRED``).
    """
    status = response.status_code
    if status < 300 or status == 409:
        return
    service_code, service_message = _service_error(response)
    request = response.request
    detail = f"{request.method} {request.url.path} → {status}"
    if service_code:
        detail += f" {service_code}"
    if service_message:
        detail += f": {service_message}"
    if status == 429:
        delay = retry_after(response, rate_limit_delay)
        raise retryable("RATE_LIMITED", detail, delay=delay)
    code = (codes or {}).get(status) or HTTP_PERMANENT.get(status)
    if code:
        raise permanent(code, detail)
    if status >= 500:
        raise retryable(SERVER_ERRORS.get(status, "SERVICE_ERROR"), detail)
    raise permanent("HTTP_ERROR", detail)


def transport_error(err: httpx.TransportError, method: str, url: str) -> ApplicationError:
    """Connection failures and timeouts are retryable: the service may come back."""
    if isinstance(err, httpx.TimeoutException):
        return retryable("SERVICE_TIMEOUT", f"{method} {url}: timed out ({type(err).__name__})")
    return retryable("SERVICE_UNAVAILABLE", f"{method} {url}: {type(err).__name__}: {err}")
