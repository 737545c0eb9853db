"""One HTTP client for every step: base URLs, headers, timeouts, and a log line per call."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import structlog
from httpx_aiohttp import AiohttpTransport
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outcomes import DEFAULT_RATE_LIMIT_DELAY, raise_for_response, transport_error
from activities.step import current_step, current_workflow_id
from models.events import SERVICE_CALL_COMPLETED, SERVICE_CALL_FAILED, SERVICE_CALL_STARTED

log = structlog.get_logger("activities.http")

DEFAULT_HTTP_TIMEOUT = 10.0
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNKNOWN_OUTCOME = 504
"""A gateway timeout: the service may have done the work and lost the reply."""
OUTCOME_RESOLVED = "service_call_outcome_resolved"


class ServiceTransport(AiohttpTransport):
    """httpx's API over aiohttp's connection handling: a quarter of the CPU per request of
    httpx's own transport with a hundred requests in flight (measured; see the README).

    The adapter reports every failed connection as ``ConnectTimeout``; a refused connection
    or a dropped one is not a timeout (the retry rules tell them apart), so those are
    raised as what they are.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as err:
            cause = err.__cause__
            if cause is None or isinstance(cause, TimeoutError):
                raise
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(cause), request=request) from cause
            raise httpx.ReadError(str(cause) or type(cause).__name__, request=request) from cause


def http_client(max_connections: int = 100) -> httpx.AsyncClient:
    """The client every step's calls go through (one per worker process)."""
    limits = httpx.Limits(max_connections=max_connections)
    return httpx.AsyncClient(transport=ServiceTransport(limits=limits))


class ServiceClient:
    """Calls the service behind each step; raises the classified error on failure.

    Every request carries ``X-Correlation-ID`` and an ``Idempotency-Key`` derived from the
    workflow, the step and an optional suffix, so a retry after a lost response replays.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        urls: Mapping[str, str],
        timeout: float = DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        self.http = http
        self.urls = dict(urls)
        self.timeout = timeout

    def base_url(self, step: str) -> str:
        try:
            return self.urls[step].rstrip("/")
        except KeyError:
            raise RuntimeError(f"no service URL configured for step {step!r}") from None

    async def request(
        self,
        method: str,
        path: str,
        *,
        correlation_id: str,
        key_suffix: str = "",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        codes: Mapping[int, str] | None = None,
        rate_limit_delay: timedelta = DEFAULT_RATE_LIMIT_DELAY,
        step: str | None = None,
    ) -> httpx.Response:
        """``step`` picks the service URL (default: this activity's step; compensations
        name the step they undo). The idempotency key is the saga's and this activity's
        step's (a compensation's: its own activity name)."""
        own = current_step()
        step = step or own
        key = f"{current_workflow_id()}:{own}" + (f":{key_suffix}" if key_suffix else "")
        url = self.base_url(step) + path
        headers = {"X-Correlation-ID": correlation_id, "Idempotency-Key": key}
        call = log.bind(method=method, url=url, idempotency_key=key)
        call.debug(SERVICE_CALL_STARTED)
        started = time.monotonic()
        try:
            response = await self.http.request(
                method, url, json=json, params=params, headers=headers, timeout=self._timeout()
            )
        except httpx.TransportError as err:
            call.warning(SERVICE_CALL_FAILED, error=type(err).__name__)
            found = await self._effect(method, step, key, headers) if method in WRITES else None
            if found is None:
                raise transport_error(err, method, url) from err
            response = found
        if response.status_code == UNKNOWN_OUTCOME and method in WRITES:
            response = await self._effect(method, step, key, headers) or response
        elapsed = round((time.monotonic() - started) * 1000)
        try:
            raise_for_response(response, codes=codes, rate_limit_delay=rate_limit_delay)
        except ApplicationError as err:
            call.warning(
                SERVICE_CALL_FAILED, status=response.status_code, ms=elapsed, error=err.type
            )
            raise
        call.info(SERVICE_CALL_COMPLETED, status=response.status_code, ms=elapsed)
        return response

    async def _effect(
        self, method: str, step: str, key: str, headers: Mapping[str, str]
    ) -> httpx.Response | None:
        """A write whose outcome is unknown (no reply, or a gateway timeout): the answer the
        service gave under this idempotency key is the reply that was lost; none means the
        write never happened (a retry is safe). A failed lookup leaves the outcome unknown,
        and the step retries (the write is idempotent)."""
        effect = await self._lookup(step, key, headers)
        if effect is None:
            return None
        log.info(OUTCOME_RESOLVED, idempotency_key=key, method=method, status=effect["status"])
        return httpx.Response(effect["status"], json=effect["body"])

    async def effect_of(self, step: str, correlation_id: str) -> Any | None:
        """What ``step`` of this saga did, from the service's own records (its successful
        answer), or None when it did nothing: an undo finds its effect this way, not only
        from a result the workflow received."""
        key = f"{current_workflow_id()}:{step}"
        headers = {"X-Correlation-ID": correlation_id, "Idempotency-Key": key}
        effect = await self._lookup(step, key, headers)
        return effect["body"] if effect and effect["status"] < 300 else None

    async def _lookup(self, step: str, key: str, headers: Mapping[str, str]) -> Any | None:
        """``GET /effects/{key}`` at the root of the step's service: the stored answer, or
        None (not found, or the lookup failed). Every service answers there, whatever path
        its step's URL has."""
        url = httpx.URL(self.base_url(step)).copy_with(path=f"/effects/{key}", query=None)
        try:
            found = await self.http.get(url, headers=headers, timeout=self._timeout())
        except httpx.TransportError:
            return None
        return found.json() if found.status_code == 200 else None

    def _timeout(self) -> float:
        """Never wait longer than the activity may run, so the error is ours, not Temporal's."""
        limit = activity.info().start_to_close_timeout
        if limit is None:
            return self.timeout
        return max(0.5, min(self.timeout, limit.total_seconds() - 0.5))
