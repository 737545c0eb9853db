"""Issue 17, item 5: the saga's lifecycle events as JSON lines of real ``worker.py``
processes. An order fails its inventory step, waits for an operator, worker A is killed,
worker B takes the answer and finishes it: together the two logs tell the story once, each
event with the workflow id and the correlation id, in order; a declined order ends with
``task.failed``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, query_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import STUCK_FAULT, eventually, worker_process

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
DECLINED = json.loads((ROOT / "examples" / "order_declined.json").read_text())
JSON = {"SAGA_LOG_FORMAT": "json"}


def events_of(log: Path, workflow_id: str) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        event = record.get("saga_event")
        if event and event["workflow_id"] == workflow_id:
            found.append(event)
    return found


async def test_a_sagas_story_is_told_once_across_two_workers(
    dev_client: Client, dev_server: DevServer, services_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    queue = f"events-{uuid.uuid4().hex[:6]}"
    correlation = f"events-{uuid.uuid4().hex[:8]}"
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    order = {**SAMPLE, "correlation_id": correlation}
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    with worker_process(dev_server, queue, log=first, env=JSON) as worker_a:
        submission = await start_saga(dev_client, prepare(saga("order"), order), queue)

        async def awaiting() -> bool | None:
            status = await query_status(submission.handle)
            return True if status.state is SagaState.AWAITING_INTERVENTION else None

        await eventually(awaiting)
        worker_a.kill()
        worker_a.wait()
    with worker_process(dev_server, queue, log=second, env=JSON):
        answer = InterventionRequest(
            action=InterventionAction.RETRY, reason="stock arrived", operator="alice"
        )
        await submission.handle.execute_update("intervene", answer, result_type=SagaStatus)
        assert (await final_status(submission.handle)).state is SagaState.COMPLETE
        declined = await start_saga(
            dev_client, prepare(saga("order"), {**DECLINED, "correlation_id": f"{correlation}-d"}),
            queue,
        )  # fmt: skip
        assert (await final_status(declined.handle)).state is SagaState.ERROR

    story = events_of(first, submission.workflow_id) + events_of(second, submission.workflow_id)
    assert {event["correlation_id"] for event in story} == {correlation}
    told = [(event["event"], event.get("step")) for event in story]
    assert told == [
        ("task.started", None),
        ("step.started", "validate_cart"),
        ("step.completed", "validate_cart"),
        ("step.started", "process_payment"),
        ("step.completed", "process_payment"),
        ("step.started", "update_inventory"),
        ("step.failed", "update_inventory"),
        ("step.max_retries_reached", "update_inventory"),
        ("task.awaiting_intervention", "update_inventory"),
        ("task.intervention_answered", "update_inventory"),
        ("step.retried", "update_inventory"),
        ("step.started", "update_inventory"),
        ("step.completed", "update_inventory"),
        ("step.started", "create_order"),
        ("step.completed", "create_order"),
        ("step.started", "send_confirmation"),
        ("step.completed", "send_confirmation"),
        ("task.completed", None),
    ]
    by_event = {event["event"]: event for event in story}
    assert by_event["task.awaiting_intervention"]["on_timeout"] == "compensate"
    assert by_event["task.awaiting_intervention"]["deadline"]
    answered = by_event["task.intervention_answered"]
    assert (answered["operator"], answered["action"], answered["reason"]) == (
        "alice", "retry", "stock arrived"
    )  # fmt: skip
    assert by_event["task.completed"]["state"] == "complete"
    assert by_event["task.completed"]["duration_seconds"] > 0
    ended = events_of(second, declined.workflow_id)[-1]
    assert (ended["event"], ended["state"], ended["step"]) == (
        "task.failed", "error", "process_payment"
    )  # fmt: skip
