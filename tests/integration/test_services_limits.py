"""Issue 16, item 6: the simulated services as a deployable: a client still sending an
oversize body gets the 413, not a reset connection, with or without Content-Length."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from plumbing.processes import Services

BIG = 5 * 1024 * 1024
"""As seen: 5 MB bodies on POST /payments/charges sometimes got a reset."""


async def _chunks() -> AsyncIterator[bytes]:
    """The body in pieces, without Content-Length: the server learns its size as it reads."""
    piece = b"x" * 65536
    for _ in range(BIG // len(piece)):
        yield piece


async def test_an_oversize_body_is_answered_413_while_the_client_still_sends(
    services: Services,
) -> None:
    async with httpx.AsyncClient(base_url=services.url, timeout=30) as http:
        for _ in range(5):
            declared = await http.post("/payments/charges", content=b"x" * BIG)
            assert declared.status_code == 413, declared.text
            assert declared.json()["error"]["code"] == "body_too_large"
            streamed = await http.post("/payments/charges", content=_chunks())
            assert streamed.status_code == 413, streamed.text
        health = await http.get("/_health")
        assert health.status_code == 200
