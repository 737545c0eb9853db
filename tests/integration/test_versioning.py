"""Issue 16, item 5: Worker Versioning on the dev server with two real ``worker.py``
processes. An order started on build A that waits for an operator stays on A after B
becomes current (orders are pinned), and finishes on A once answered; a new order goes to B.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from models.status import SagaState
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, query_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import STUCK_FAULT, eventually, worker_process

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())


async def _make_current(client: Client, deployment: str, build_id: str) -> None:
    """``temporal worker deployment set-current-version``, once the build has polled."""

    async def set_current() -> bool | None:
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace, deployment_name=deployment, build_id=build_id
        )
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
        except RPCError:  # the version is not known until its worker has polled
            return None
        return True

    await eventually(set_current)


async def _pinned_to(client: Client, workflow_id: str) -> tuple[str, int]:
    """The build a saga runs on, and its versioning behavior."""
    described = await client.get_workflow_handle(workflow_id).describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id, info.behavior


def _order() -> dict[str, Any]:
    return {**SAMPLE, "correlation_id": f"ver-{uuid.uuid4().hex[:10]}"}


async def test_an_order_finishes_on_the_build_it_started_on(
    dev_client: Client,
    dev_server: DevServer,
    services_http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    deployment, queue = f"sagas-{uuid.uuid4().hex[:6]}", f"ver-{uuid.uuid4().hex[:6]}"
    versioned = ("--deployment-name", deployment, "--build-id")
    with worker_process(dev_server, queue, *versioned, "A", log=tmp_path / "a.log"):
        await _make_current(dev_client, deployment, "A")
        assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
        stuck = await start_saga(dev_client, prepare(saga("order"), _order()), queue)

        async def awaiting() -> bool | None:
            status = await query_status(stuck.handle)
            return True if status.state is SagaState.AWAITING_INTERVENTION else None

        await eventually(awaiting)
        assert await _pinned_to(dev_client, stuck.workflow_id) == (
            "A", VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
        )  # fmt: skip

        with worker_process(dev_server, queue, *versioned, "B", log=tmp_path / "b.log"):
            await _make_current(dev_client, deployment, "B")
            fresh = await start_saga(dev_client, prepare(saga("order"), _order()), queue)
            assert (await final_status(fresh.handle)).state is SagaState.COMPLETE
            assert (await _pinned_to(dev_client, fresh.workflow_id))[0] == "B"

            await stuck.handle.execute_update(
                "intervene", {"action": "retry", "reason": "stock arrived"}
            )
            assert (await final_status(stuck.handle)).state is SagaState.COMPLETE
            assert (await _pinned_to(dev_client, stuck.workflow_id))[0] == "A"
    a_log = (tmp_path / "a.log").read_text()
    assert stuck.workflow_id in a_log  # A ran its steps after the answer, too
    b_log = (tmp_path / "b.log").read_text()
    assert stuck.workflow_id not in b_log
    assert fresh.workflow_id in b_log
