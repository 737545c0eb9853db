"""The codec server as the Web UI uses it: the real ``starter.py codec-server`` process
decodes a real saga's stored (encrypted) input, and the dev server's UI is pointed at it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from plumbing.codec import ENCODING
from plumbing.ports import free_port
from plumbing.processes import CodecServer, DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import ROOT

ORDER = json.loads((ROOT / "examples" / "order_sample.json").read_text())
UI = "http://127.0.0.1:8233"


@pytest.fixture
def codec_server(tmp_path: Path) -> Iterator[CodecServer]:
    server = CodecServer(tmp_path, ui_origin=UI, port=free_port()).start()
    yield server
    server.stop()


async def test_codec_server_decodes_a_stored_saga_input_for_the_ui(
    dev_client: Client, dev_worker: str, codec_server: CodecServer
) -> None:
    email = f"codec-{uuid.uuid4().hex[:8]}@example.com"
    data = {**ORDER, "customer_info": {**ORDER["customer_info"], "email": email}}
    handle = (await start_saga(dev_client, prepare(saga("order"), data), dev_worker)).handle
    await final_status(handle)
    [started] = [e async for e in handle.fetch_history_events() if e.event_id == 1]
    stored = started.workflow_execution_started_event_attributes.input
    assert stored.payloads[0].metadata["encoding"] == ENCODING

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{codec_server.url}/decode",
            content=json_format.MessageToJson(stored),
            headers={"Origin": UI, "X-Namespace": "default", "Content-Type": "application/json"},
        )

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == UI
    decoded = json_format.ParseDict(response.json(), Payloads())
    request = json.loads(decoded.payloads[0].data)
    assert request["order"]["customer_info"]["email"] == email


def test_the_dev_server_ui_decodes_through_the_codec_server(tmp_path: Path) -> None:
    """What the demo starts: the UI's settings name the codec endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    server = DevServer(tmp_path, port=free_port(), ui_port=free_port(), codec_endpoint=endpoint)
    server.start()
    try:
        settings = httpx.get(f"{server.ui_url}/api/v1/settings", timeout=10).json()
    finally:
        server.stop()
    assert settings["Codec"]["Endpoint"] == endpoint
