"""Starting one saga with a worker of doubles: shared by every workflow test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client, WorkflowHandle

from adapter.models import TaskTemplate
from sagas.catalogue import catalogue
from sagas.prepare import prepare
from sagas.worker import make_worker


@asynccontextmanager
async def saga_started(
    client: Client,
    saga: str,
    activities: Sequence[Any],
    task_queue: str,
    data: dict[str, Any],
    *,
    workflow_id: str,
    template: TaskTemplate | None = None,
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A worker with ``activities`` on ``task_queue`` and one ``saga`` started on it, its
    input validated and its plan resolved exactly as ``starter.py`` does."""
    prepared = prepare(catalogue()[saga], data, workflow_id=workflow_id, template=template)
    async with make_worker(client, task_queue, activities):
        handle = await client.start_workflow(
            prepared.saga.workflow_type,
            prepared.request,
            id=prepared.workflow_id,
            task_queue=task_queue,
        )
        yield handle
