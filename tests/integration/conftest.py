"""Fixtures the integration tests share beyond tests/conftest.py's environments."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from frontends.api import SagaApi
from plumbing.connection import TemporalSettings
from plumbing.processes import DevServer


@pytest.fixture
async def api(dev_server: DevServer, dev_worker: str) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API in-process, on the dev server and the test worker's queue."""
    settings = TemporalSettings(address=dev_server.address, task_queue=dev_worker)
    transport = httpx.ASGITransport(app=SagaApi(settings).app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client
