"""Assembles the simulated outside world into one Starlette app, plus the `/_` admin API.

With the test API on (`Settings.test_api`), faults can be injected (`/_faults`) and every
non-admin request is logged to SQLite with its correlation id, so tests can assert which
calls a saga actually made (and how often it retried them). Routed requests write their row
in the handler's own transaction (see `pipeline.execute`). Without it, those endpoints do
not exist (404) and nothing is logged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import emails, faults, inventory, orders, payments, registration, users
from .api import Answer, ApiError, Call, error_body, iso, utc_now
from .db import Database, Tx
from .pipeline import LOG_SCOPE_KEY, Clock, Context, LogEntry, Settings, route

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class RequestLog:
    """ASGI middleware making sure of one `requests` row per non-admin request.

    It hands a `LogEntry` down in the scope; the pipeline writes it with the handler's
    transaction, and this writes, after the answer, any entry nobody else did.
    """

    def __init__(self, app: ASGIApp, db: Database, clock: Clock) -> None:
        self.app = app
        self.db = db
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        entry = LogEntry(
            timestamp=iso(self.clock()),
            method=scope["method"],
            path=scope["path"],
            correlation_id=headers.get("x-correlation-id"),
            idempotency_key=headers.get("idempotency-key"),
        )
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app({**scope, LOG_SCOPE_KEY: entry}, receive, capture)
        finally:
            if not entry.written:
                with self.db.transaction() as tx:
                    tx.insert("requests", entry.row(status))


def health(tx: Tx, call: Call) -> Answer:
    """GET /_health."""
    return Answer(200, {"status": "ok"})


def list_requests(tx: Tx, call: Call) -> Answer:
    """GET /_requests?correlation_id=X&path_prefix=/users (oldest first)."""
    rows = tx.list_requests(call.query.get("correlation_id"), call.query.get("path_prefix"))
    return Answer(200, {"requests": rows})


def lookup_effect(tx: Tx, call: Call) -> Answer:
    """GET /effects/{idempotency_key}: the answer a keyed write was given, for a client that
    never received it (a lost reply, a timeout): 404 means the write never happened."""
    key = call.params["idempotency_key"]
    stored = tx.find("idempotency", idem_key=key)
    if not stored:
        raise ApiError(404, "effect_not_found", f"No write with idempotency key {key}")
    row = stored[-1]
    body = {k: row[k] for k in ("method", "route", "status", "body")}
    return Answer(200, {"idempotency_key": key, **body})


def clear_requests(tx: Tx, call: Call) -> Answer:
    """DELETE /_requests: forget the log (handy between demo runs)."""
    return Answer(200, {"cleared": tx.delete_all("requests")})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = exc.headers if isinstance(exc, HTTPException) else None
    code = _HTTP_CODES.get(status, "http_error")
    message = exc.detail if isinstance(exc, HTTPException) else "Unexpected error"
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(error_body("internal_error", "Unexpected error"), status_code=500)


def create_app(
    db_path: str | Path, *, clock: Clock | None = None, settings: Settings | None = None
) -> Starlette:
    """Build the app on one SQLite file (seeding the catalogue if it is empty)."""
    db = Database(db_path)
    ctx = Context(db=db, clock=clock or utc_now, settings=settings or Settings())
    inventory.seed(db)
    admin = [route(ctx, "GET", "/_health", health)]
    middleware = []
    if ctx.settings.test_api:
        admin += [
            route(ctx, "GET", "/_requests", list_requests),
            route(ctx, "DELETE", "/_requests", clear_requests),
            route(ctx, "GET", "/_faults", faults.pending),
            route(ctx, "POST", "/_faults", faults.create),
            route(ctx, "DELETE", "/_faults", faults.clear),
        ]
        middleware.append(Middleware(RequestLog, db=db, clock=ctx.clock))
    domains = (inventory, payments, emails, orders, users, registration)
    effects = [route(ctx, "GET", "/effects/{idempotency_key}", lookup_effect)]
    routes = admin + effects + [r for module in domains for r in module.routes(ctx)]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        db.close()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.db = db
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8700,
    db_path: str | Path = "data/services.db",
    log_level: str = "warning",
    settings: Settings | None = None,
) -> None:
    """Run the app under uvicorn until interrupted."""
    app = create_app(db_path, settings=settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
