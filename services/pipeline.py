"""Turns `(Tx, Call) -> Answer` handlers into Starlette routes.

Order of work per request: injected fault -> JSON body (see `body`) -> idempotent replay or
handler.
The replay lookup, the handler's writes, the stored answer and the request-log row share one
transaction, so two requests with the same Idempotency-Key can never both run the handler,
and a request costs one transaction while no fault is pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults
from .api import Answer, ApiError, Call, error_body
from .body import DEFAULT_MAX_BODY_BYTES, read_json
from .db import Database, Tx

Handler = Callable[[Tx, Call], Answer]
Clock = Callable[[], datetime]

WRITE_METHODS: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
REPLAY_HEADER: Final = "Idempotent-Replayed"
LOG_SCOPE_KEY: Final = "services.request_log"
"""ASGI scope key under which the request-log middleware hands its `LogEntry` down."""
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """How the services run (`python -m services` takes each as a flag or a variable)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    test_api: bool = False
    """The fault API and the request log (`/_faults`, `/_requests`): for tests and demos,
    never for a deployment, where anyone reaching the port could fail every call."""


@dataclass(frozen=True)
class Context:
    """What every route needs: the database, the clock and the settings."""

    db: Database
    clock: Clock
    settings: Settings


@dataclass
class LogEntry:
    """One request-log row waiting for its status.

    The pipeline writes it in the handler's transaction once it knows the answer; the
    middleware writes whatever it did not (unknown routes, faults, bad JSON, crashes).
    """

    timestamp: str
    method: str
    path: str
    correlation_id: str | None
    idempotency_key: str | None
    written: bool = False

    def row(self, status: int) -> dict[str, Any]:
        """The `requests` row for this request answered with `status`."""
        return {
            "timestamp": self.timestamp,
            "method": self.method,
            "path": self.path,
            "status": status,
            "correlation_id": self.correlation_id,
            "idempotency_key": self.idempotency_key,
        }


def is_final(status: int) -> bool:
    """Answers worth replaying; 429 and 5xx are retryable, so a retry must run again."""
    return status < 500 and status != 429


def respond(answer: Answer, replayed: bool = False) -> Response:
    """Render an Answer as JSON."""
    headers = dict(answer.headers)
    if replayed:
        headers[REPLAY_HEADER] = "true"
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _replay_or_run(
    tx: Tx, handler: Handler, call: Call, key: str | None, method: str, route: str
) -> tuple[Answer, bool]:
    if key is not None:
        stored = tx.find_one("idempotency", idem_key=key, method=method, route=route)
        if stored is not None:
            return Answer(stored["status"], stored["body"], stored["headers"]), True
    try:
        with tx.savepoint():
            answer = handler(tx, call)
    except ApiError as err:
        answer = err.answer()
    if key is not None and is_final(answer.status):
        tx.insert(
            "idempotency",
            {
                "idem_key": key,
                "method": method,
                "route": route,
                "status": answer.status,
                "body": answer.body,
                "headers": answer.headers,
                "created_at": call.timestamp,
            },
        )
    return answer, False


def execute(
    db: Database,
    handler: Handler,
    call: Call,
    key: str | None,
    method: str,
    route: str,
    log: LogEntry | None,
) -> tuple[Answer, bool]:
    """Replay a stored answer for `key`, or run the handler and store what it answered;
    `log` is written in the same transaction, with the status of the answer."""
    with db.transaction() as tx:
        answer, replayed = _replay_or_run(tx, handler, call, key, method, route)
        if log is not None:
            tx.insert("requests", log.row(answer.status))
    if log is not None:
        log.written = True
    return answer, replayed


@dataclass(frozen=True)
class _Endpoint:
    method: str
    path: str
    handler: Handler
    op: str | None
    replay: bool


async def _handle(ctx: Context, request: Request, endpoint: _Endpoint) -> Response:
    method, path = endpoint.method, endpoint.path
    fault = faults.take(ctx.db, endpoint.op) if endpoint.op is not None else None
    if fault is not None and fault.mode != "commit_then_timeout":
        return respond(await faults.injected_answer(fault))
    try:
        limit, expected = ctx.settings.max_body_bytes, method in WRITE_METHODS
        body = await read_json(request, limit, expected=expected)
    except ApiError as err:
        return respond(err.answer())
    replays = endpoint.replay and method in WRITE_METHODS
    key = request.headers.get("idempotency-key") if replays else None
    call = Call(
        params={k: str(v) for k, v in request.path_params.items()},
        query=request.query_params,
        body=body,
        now=ctx.clock(),
    )
    # A lost response is logged by the middleware with the status actually sent.
    entry = request.scope.get(LOG_SCOPE_KEY) if fault is None else None
    log = entry if isinstance(entry, LogEntry) else None
    try:
        answer, replayed = execute(ctx.db, endpoint.handler, call, key, method, path, log)
    except Exception:
        _log.exception("handler failed: %s %s", method, path)
        answer, replayed = Answer(500, error_body("internal_error", "Unexpected error")), False
    if fault is not None:
        return respond(await faults.lost_response(fault))
    return respond(answer, replayed)


def route(
    ctx: Context,
    method: str,
    path: str,
    handler: Handler,
    op: str | None = None,
    *,
    replay: bool = True,
) -> Route:
    """A Starlette route for one method; `op` names the operation faults can target (when
    the test API is on: otherwise no fault, not even one stored earlier, is ever injected).

    `replay=False` ignores Idempotency-Key for a handler that is idempotent by its own key
    and whose refusals (such as a stock shortage) must be re-checked when retried.
    """
    target = op if ctx.settings.test_api else None
    endpoint = _Endpoint(method, path, handler, target, replay)

    async def run(request: Request) -> Response:
        return await _handle(ctx, request, endpoint)

    return Route(path, run, methods=[method], name=f"{method} {path}")
