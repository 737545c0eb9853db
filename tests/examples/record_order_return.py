"""Record the order-return replay fixture: ``python -m tests.examples.record_order_return``
(after a deliberate change of what OrderReturnWorkflow does, as for the built-in sagas'
``python -m tests.replay.record``).

One return runs to completion on the time-skipping test server with the real activities,
against the simulated services in-process (an order and its charge made first); its
history, unencrypted, goes to ``tests/examples/histories/order_return_happy.json``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.client import ServiceClient
from plumbing.converter import PLAIN_CONVERTER
from plumbing.worker_settings import WorkerSettings
from sagas.prepare import prepare
from services import Settings, create_app
from tests.conftest import _test_server_binary

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "tests" / "examples" / "histories" / "order_return_happy.json"
SERVICES = "http://services.test"
WORKFLOW_ID = "replay-order_return_happy"


async def confirmed_order(http: httpx.AsyncClient) -> dict[str, Any]:
    """A charged, confirmed order like the sample order's (2 x Widget A, 1 x Widget B)."""
    charge = await http.post(
        "/payments/charges", json={"amount": "124.76", "token": "tok_visa_4242"}
    )
    items = [
        {"product_id": 1, "name": "Widget A", "price": "29.99", "quantity": 2,
         "line_total": "59.98"},
        {"product_id": 2, "name": "Widget B", "price": "49.99", "quantity": 1,
         "line_total": "49.99"},
    ]  # fmt: skip
    order = await http.post(
        "/orders",
        json={
            "workflow_id": "order-for-the-replay-fixture",
            "customer_email": "jane@example.com",
            "customer_name": "Jane Doe",
            "items": items,
            "subtotal": "109.97",
            "tax": "8.80",
            "shipping": "5.99",
            "total": "124.76",
            "payment_id": charge.json()["id"],
            "status": "confirmed",
        },
    )
    assert order.status_code == 201, order.text
    created: dict[str, Any] = order.json()
    return created


async def record() -> WorkflowHistory:
    """Run one return to completion; its history."""
    sys.path.insert(0, str(ROOT / "examples"))
    package = importlib.import_module("order_return")
    workflow_class = importlib.import_module("order_return.workflow").OrderReturnWorkflow
    activities_class = importlib.import_module("order_return.activities").ReturnActivities
    saga = package.RETURN
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server_binary(), data_converter=PLAIN_CONVERTER
    )
    with tempfile.TemporaryDirectory() as data:
        app = create_app(Path(data) / "services.db", settings=Settings())
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=SERVICES) as http:
                order = await confirmed_order(http)
                client = ServiceClient(http, dict.fromkeys(saga.step_set().names, SERVICES))
                request = {
                    "order_id": order["order_id"],
                    "items": [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 1}],
                    "reason": "arrived scratched",
                    "correlation_id": "replay-order-return",
                }
                prepared = prepare(saga, request, workflow_id=WORKFLOW_ID)
                queue = f"replay-{uuid.uuid4().hex[:8]}"
                runner = WorkerSettings().workflow_runner(passthrough=[saga.models_module])
                async with Worker(
                    env.client,
                    task_queue=queue,
                    workflows=[workflow_class],
                    activities=activities_class(client).all(),
                    workflow_runner=runner,
                ):
                    handle = await env.client.start_workflow(
                        saga.workflow_type, prepared.request, id=WORKFLOW_ID, task_queue=queue
                    )
                    await handle.result()
                    history = await handle.fetch_history()
        finally:
            app.state.db.close()
            await env.shutdown()
    return history


def main() -> None:
    history = asyncio.run(record())
    HISTORY.write_text(history.to_json())
    print(f"recorded order_return_happy: {len(history.events)} events")


if __name__ == "__main__":
    main()
