"""A worker's health over HTTP (``worker.py --health-port``), in the shape of the API's:

- ``GET /health/live``: 200 while the process and its event loop answer;
- ``GET /health/ready``: 200 only while the Temporal server answers and this worker's
  identity is among the task queue's recent pollers, for workflows and for activities
  (``DescribeTaskQueue``); otherwise 503 with the reason.

Compose and Kubernetes probe these: a worker whose server is gone, or that stopped
polling, is not ready, and one whose loop is stuck is not live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

CHECK_TIMEOUT: Final = timedelta(seconds=2)
RECENT: Final = timedelta(minutes=2)
"""A poll is a long poll of up to about 70 s: an identity seen within this long is polling."""
_KINDS: Final = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


async def not_ready_because(client: Client, task_queue: str, identity: str) -> str | None:
    """Why the worker is not ready, or None when it is."""
    now = datetime.now(UTC)
    for kind, queue_type in _KINDS.items():
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=queue_type,
        )
        try:
            described = await client.workflow_service.describe_task_queue(
                request, timeout=CHECK_TIMEOUT
            )
        except RPCError as err:
            return f"Temporal at {client.service_client.config.target_host}: {err.message}"
        recent = {
            poller.identity
            for poller in described.pollers
            if now - poller.last_access_time.ToDatetime(tzinfo=UTC) <= RECENT
        }
        if identity not in recent:
            return f"{identity} is not polling the {kind} task queue {task_queue!r}"
    return None


def health_app(client: Client, task_queue: str, identity: str) -> Starlette:
    """The worker's ``/health/live`` and ``/health/ready``."""

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> JSONResponse:
        reason = await not_ready_because(client, task_queue, identity)
        if reason is None:
            return JSONResponse({"status": "ok", "identity": identity, "task_queue": task_queue})
        return JSONResponse({"status": "unavailable", "reason": reason}, 503)

    return Starlette(
        routes=[
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
        ]
    )
