"""The Temporal Web UI as an operator sees it, in headless Chromium: after a saga with a
retried step and one awaiting an operator, the rendered pages show the steps (with what
each does), the retry, the saga's summary and details, the state filter, and the input
decoded through the codec server.

Screenshots are kept in ``tests/ui/artifacts/`` (``$SAGA_UI_ARTIFACTS`` to put them
elsewhere). Skipped, with the reason, where Chromium is not installed or cannot start.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from activities.client import http_client
from models.status import SagaState
from plumbing.connection import TemporalSettings, connect
from plumbing.ports import free_port
from plumbing.processes import CodecServer, DevServer, Services
from sagas.catalogue import saga
from sagas.lifecycle import final_status, query_status, start_saga
from sagas.prepare import prepare
from sagas.worker import activities_for, make_worker, service_client
from tests.ui.browser import (
    Chromium,
    Page,
    chromium_path,
    devtools_ready,
    first_tab,
    launched,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
ARTIFACTS = Path(os.environ.get("SAGA_UI_ARTIFACTS", Path(__file__).parent / "artifacts"))
STUCK_FILTER = 'SagaState="awaiting_intervention"'


@dataclass(frozen=True)
class Sagas:
    """The two sagas the UI is looked at after, on a dev server with the UI and a codec."""

    ui: str
    retried: WorkflowHandle[Any, Any]
    stuck: WorkflowHandle[Any, Any]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    path = chromium_path()
    if path is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    with launched(path, tmp_path / "chromium") as browser:
        if not devtools_ready(browser):
            log = browser.log.read_text(errors="replace")[-1500:]
            pytest.skip(f"headless Chromium cannot run here: {log}")
        yield browser


@pytest.fixture
def ui_server(tmp_path: Path) -> Iterator[DevServer]:
    """A dev server whose UI decodes payloads through a codec server for its origin."""
    ui_port = free_port()
    codec = CodecServer(tmp_path, ui_origin=f"http://127.0.0.1:{ui_port}", port=free_port())
    server = DevServer(tmp_path, port=free_port(), ui_port=ui_port, codec_endpoint=codec.url)
    codec.start()
    try:
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        codec.stop()


async def _fault(http: httpx.AsyncClient, **fault: Any) -> None:
    assert (await http.post("/_faults", json=fault)).status_code == 201


async def _awaiting(handle: WorkflowHandle[Any, Any]) -> None:
    """Poll (bounded) until the saga awaits an operator."""
    for _ in range(600):
        if (await query_status(handle)).state is SagaState.AWAITING_INTERVENTION:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id} never awaited an operator")


@pytest.fixture
async def sagas(
    ui_server: DevServer, services: Services, services_http: httpx.AsyncClient
) -> AsyncIterator[Sagas]:
    """A completed order whose payment was retried once (503, then success) and an order
    awaiting an operator (stock reservation failed twice); the worker stays up, since the
    UI's view of a saga's current details is a query."""
    client: Client = await connect(TemporalSettings(address=ui_server.address))
    queue = f"ui-{uuid.uuid4().hex[:8]}"
    async with (
        http_client() as http,
        make_worker(client, queue, activities_for(service_client(http))),
    ):
        await _fault(services_http, operation="payments.charge", count=1, status=503)
        run = uuid.uuid4().hex[:6]
        prepared = prepare(saga("order"), SAMPLE, workflow_id=f"ui-retried-{run}")
        retried = (await start_saga(client, prepared, queue)).handle
        status = await final_status(retried)
        assert status.steps["process_payment"].attempts == 2, status
        await _fault(services_http, operation="inventory.reserve", count=2, status=500)
        prepared = prepare(saga("order"), SAMPLE, workflow_id=f"ui-stuck-{run}")
        stuck = (await start_saga(client, prepared, queue)).handle
        await _awaiting(stuck)
        yield Sagas(f"{ui_server.ui_url}/namespaces/default/workflows", retried, stuck)


def _save(name: str, png: bytes) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(png)


async def _keep(page: Page, name: str) -> None:
    """Save a screenshot of the page as a test artifact."""
    await asyncio.to_thread(_save, name, await page.screenshot())


async def test_the_ui_tells_the_story_of_a_retry_and_a_stuck_saga(
    chromium: Chromium, sagas: Sagas
) -> None:
    stuck_id, retried_id = sagas.stuck.id, sagas.retried.id
    async with first_tab(chromium) as page:
        await page.goto(f"{sagas.ui}?query={quote(STUCK_FILTER)}")
        listed = await page.wait_for_text('SagaState = "awaiting_intervention"', stuck_id)
        await _keep(page, "workflows-awaiting-intervention")
        assert retried_id not in listed, "the state filter lists only the stuck saga"

        await page.goto(f"{sagas.ui}/{stuck_id}")
        await page.wait_for_text('"amount": "124.76"', '"name": "Widget A"')  # decoded
        await page.click("User Metadata")
        await page.wait_for_text(
            "Order: 3 items in 2 lines, 124.76 USD",
            "update_inventory: Reserve stock for every line",
            "Awaiting an operator",
            "Step update_inventory failed: SERVICE_ERROR",
            "Allowed: retry, resolve, compensate, until ",
            f"Run: python starter.py intervene {stuck_id} retry|resolve|compensate",
        )
        await _keep(page, "saga-awaiting-an-operator")

        await page.goto(f"{sagas.ui}/{retried_id}")
        timeline = await page.wait_for_text(
            "2 • process_payment • process_payment: Charge the payment method",
            "validate_cart • validate_cart: Validate cart items",
            "send_confirmation • send_confirmation: Send the order confirmation email",
        )
        assert "COMPLETED" in timeline
        await page.scroll_to("Timeline")
        await _keep(page, "saga-with-a-retried-step")

        run_id = (await sagas.retried.describe()).run_id
        await page.goto(f"{sagas.ui}/{retried_id}/{run_id}/history")
        history = await page.wait_for_text("Activity Task Started", "Attempt")
        assert re.search(r"Attempt\s+2\b", history), "the payment's second attempt is shown"
