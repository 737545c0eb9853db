"""``starter.py codec-server``: Temporal's remote codec protocol over the project's codec, so
the Web UI (and ``temporal`` CLI users) can read encrypted payloads without holding keys.

The UI posts ``{"payloads": [...]}`` (protobuf JSON: base64 metadata values and data) to
``/decode`` (and ``/encode``) with an ``X-Namespace`` header, from the browser: answers
carry CORS headers for the UI's origin only. With a token configured, every call must
bear it (``Authorization: Bearer …``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from plumbing.codec import CodecError

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Temporal's own message limit: no history payload is larger."""
CORS_HEADERS = "Content-Type, X-Namespace, Authorization"
DEFAULT_UI_ORIGINS = ("http://127.0.0.1:8233", "http://localhost:8233")
"""The local dev server's Web UI (``temporal server start-dev``)."""


def codec_app(
    codec: PayloadCodec, *, ui_origins: Sequence[str], token: str | None = None
) -> Starlette:
    """The ASGI app: ``POST /decode``, ``POST /encode``, their CORS preflights, ``/health``."""
    allowed = {origin.rstrip("/") for origin in ui_origins}

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin", "")
        if origin.rstrip("/") not in allowed:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Vary": "Origin",
        }

    def error(request: Request, status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status, headers=cors(request))

    def endpoint(
        transform: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=cors(request))
            if token and not hmac.compare_digest(
                request.headers.get("authorization", ""), f"Bearer {token}"
            ):
                return error(request, 401, "missing or wrong bearer token")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return error(request, 413, f"body over {MAX_BODY_BYTES} bytes")
            try:
                payloads = json_format.Parse(body, Payloads())
                result = await transform(list(payloads.payloads))
            except (json_format.ParseError, DecodeError, UnicodeDecodeError) as err:
                return error(request, 400, f"not a Payloads JSON document: {err}")
            except CodecError as err:
                return error(request, 422, str(err))
            document = json_format.MessageToDict(Payloads(payloads=result))
            return JSONResponse(document, headers=cors(request))

        return handle

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/decode", endpoint(codec.decode), methods=["POST", "OPTIONS"]),
            Route("/encode", endpoint(codec.encode), methods=["POST", "OPTIONS"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
