"""Request bodies: the one place that bounds their size and decodes their JSON.

Strict, so that no handler ever meets a value it cannot store or send back: a body is at
most the configured number of bytes (413, refused before it is read whole), UTF-8, one JSON
object nested at most `MAX_DEPTH` deep, without repeated keys or lone surrogates, whose
integers fit SQLite's 64 bits and whose other numbers are finite. Anything else is a 400.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, Final

from starlette.requests import ClientDisconnect, Request

from .api import INT64_MAX, INT64_MIN, ApiError

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
DRAIN_BYTES: Final = 16 * 1024 * 1024
"""How much of an oversize body is read and dropped so the client sees the 413."""
MAX_DEPTH: Final = 32
"""Arrays and objects inside one another: far more than any body the sagas send."""
_INT64_DIGITS: Final = len(str(INT64_MIN))


class _Malformed(Exception):
    """Raised by the decoder's hooks; the message completes "Request body ..."."""


def _int(text: str) -> int:
    # Longer digit strings are out of range anyway; int() of thousands of digits is slow.
    number = int(text) if len(text) <= _INT64_DIGITS else INT64_MAX + 1
    if not INT64_MIN <= number <= INT64_MAX:
        raise _Malformed("has an integer outside the signed 64-bit range")
    return number


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Malformed(f"has a number too large to represent: {text[:40]}")
    return number


def _constant(text: str) -> Any:
    raise _Malformed(f"has {text}, which is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Malformed(f"repeats the key {key[:40]!r}")
            seen.add(key)
    return obj


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=_constant
)
"""Built once: the hooks cost a call per object and number, nothing per request."""


def _walk(value: object, depth: int) -> None:
    """Refuse nesting deeper than MAX_DEPTH, and strings UTF-8 cannot carry (a lone
    surrogate, from an escape such as \\ud800, could be neither stored nor answered)."""
    if isinstance(value, str):
        if not value.isascii():  # O(1) in CPython: the common case costs nothing
            try:
                value.encode()
            except UnicodeEncodeError:
                raise _Malformed("has a lone surrogate in a string") from None
    elif isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise _Malformed(f"nests deeper than {MAX_DEPTH} levels")
        children = [*value, *value.values()] if isinstance(value, dict) else value
        for child in children:
            _walk(child, depth + 1)


def _may_be_deep_or_escaped(text: str) -> bool:
    """Whether `_walk` can find anything: not without more brackets than MAX_DEPTH or a
    backslash-u escape (raw surrogates are not UTF-8). Counting runs in C, so the usual body
    skips the walk."""
    return text.count("[") + text.count("{") > MAX_DEPTH or "\\u" in text


def _invalid(reason: str) -> ApiError:
    return ApiError(400, "invalid_json", f"Request body {reason}")


def _decode(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object ({} when empty)."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
        body = _DECODER.decode(text)
        if _may_be_deep_or_escaped(text):
            _walk(body, 1)
    except UnicodeDecodeError:
        raise _invalid("is not UTF-8") from None
    except _Malformed as err:
        raise _invalid(str(err)) from None
    except RecursionError:  # deeper than the decoder itself can go
        raise _invalid(f"nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise _invalid("is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("must be a JSON object")
    return body


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"Request body is larger than {limit} bytes",
        details={"limit": limit},
    )


async def _read(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once it is known to exceed `limit` bytes (from
    Content-Length, else while it streams in). The rest is read and discarded, up to
    DRAIN_BYTES, before the 413 goes out: a client still sending when the connection
    closes would see a reset, not the answer. Beyond that bound it is answered at once."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        if len(declared) <= 18 and int(declared) <= max(DRAIN_BYTES, limit):
            await _drain(request, max(DRAIN_BYTES, limit))
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with aclosing(request.stream()) as stream:
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    await _drain_rest(stream, max(DRAIN_BYTES, limit) - size)
                    raise _too_large(limit)
                chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client_disconnected", "The client left before its body") from None
    return b"".join(chunks)


async def _drain(request: Request, bound: int) -> None:
    """Read and drop the body, at most ``bound`` bytes."""
    try:
        async with aclosing(request.stream()) as stream:
            await _drain_rest(stream, bound)
    except ClientDisconnect:
        pass  # gone already: nobody to answer


async def _drain_rest(stream: AsyncIterator[bytes], bound: int) -> None:
    left = bound
    async for chunk in stream:
        left -= len(chunk)
        if left < 0:
            return


async def read_json(request: Request, limit: int, *, expected: bool) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty), within `limit` bytes. A body where
    none is `expected` (on a GET) is refused rather than ignored: nothing here sends one."""
    raw = await _read(request, limit)
    if raw and not expected:
        raise ApiError(400, "unexpected_body", f"{request.method} takes no request body")
    return _decode(raw)
