"""Turns `(Tx, Call) -> Answer` handlers into Starlette routes.

Order of work per request: injected fault -> JSON body -> idempotent replay or handler.
The replay lookup, the handler's writes and the stored answer share one transaction, so
two requests with the same Idempotency-Key can never both run the handler.
"""

from __future__ import annotations

import json
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
from .db import Database, Tx

Handler = Callable[[Tx, Call], Answer]
Clock = Callable[[], datetime]

WRITE_METHODS: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
REPLAY_HEADER: Final = "Idempotent-Replayed"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What every route needs: the database and the clock."""

    db: Database
    clock: Clock


def is_final(status: int) -> bool:
    """Answers worth replaying; 429 and 5xx are retryable, so a retry must run again."""
    return status < 500 and status != 429


def respond(answer: Answer, replayed: bool = False) -> Response:
    """Render an Answer as JSON."""
    headers = dict(answer.headers)
    if replayed:
        headers[REPLAY_HEADER] = "true"
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "Request body must be a JSON object")
    return body


def execute(
    db: Database, handler: Handler, call: Call, key: str | None, method: str, route: str
) -> tuple[Answer, bool]:
    """Replay a stored answer for `key`, or run the handler and store what it answered."""
    with db.transaction() as tx:
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


async def _handle(
    ctx: Context, request: Request, method: str, path: str, handler: Handler, op: str | None
) -> Response:
    fault = faults.take(ctx.db, op) if op is not None else None
    if fault is not None and fault.mode != "commit_then_timeout":
        return respond(await faults.injected_answer(fault))
    try:
        body = await read_json(request) if method in WRITE_METHODS else {}
    except ApiError as err:
        return respond(err.answer())
    key = request.headers.get("idempotency-key") if method in WRITE_METHODS else None
    call = Call(
        params={k: str(v) for k, v in request.path_params.items()},
        query=request.query_params,
        body=body,
        now=ctx.clock(),
    )
    try:
        answer, replayed = execute(ctx.db, handler, call, key, method, path)
    except Exception:
        _log.exception("handler failed: %s %s", method, path)
        answer, replayed = Answer(500, error_body("internal_error", "Unexpected error")), False
    if fault is not None:
        return respond(await faults.lost_response(fault))
    return respond(answer, replayed)


def route(ctx: Context, method: str, path: str, handler: Handler, op: str | None = None) -> Route:
    """A Starlette route for one method; `op` names the operation faults can target."""

    async def endpoint(request: Request) -> Response:
        return await _handle(ctx, request, method, path, handler, op)

    return Route(path, endpoint, methods=[method], name=f"{method} {path}")
