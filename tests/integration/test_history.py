"""What a completed saga leaves in Temporal's history: everything once, nothing twice."""

from __future__ import annotations

import json
import uuid
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from plumbing.converter import data_converter
from sagas.catalogue import saga
from sagas.lifecycle import final_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import ROOT

SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())


async def _json(payload: Any) -> Any:
    """A payload as stored is encrypted: the project's codec opens it."""
    codec = data_converter().payload_codec
    assert codec is not None
    [opened] = await codec.decode([payload])
    return json.loads(opened.data)


def plan_steps(plan: dict[str, Any]) -> list[str]:
    return [step["name"] for step in plan["steps"]]


def _of(events: list[HistoryEvent], kind: str) -> list[Any]:
    return [getattr(e, kind) for e in events if e.WhichOneof("attributes") == kind]


async def test_a_completed_order_stores_each_fact_once(dev_client: Client, dev_worker: str) -> None:
    prepared = prepare(saga("order"), {**SAMPLE, "correlation_id": f"h-{uuid.uuid4().hex}"})
    handle = (await start_saga(dev_client, prepared, dev_worker)).handle
    status = await final_status(handle)
    history = await handle.fetch_history()
    events = list(history.events)

    # The plan travels once, in the input, and stays readable there.
    [started] = _of(events, "workflow_execution_started_event_attributes")
    plan = (await _json(started.input.payloads[0]))["plan"]
    assert [step["name"] for step in plan["steps"]][:2] == ["validate_cart", "process_payment"]
    assert plan["steps"][1]["strategies"][0]["name"] == "payment_timeout"

    # Rules go only to the steps that have some beyond their retry policy: every order
    # step has the infrastructure strategy (a config without strategies sends none, see
    # tests/workflows/test_retry_strategies.py).
    scheduled = _of(events, "activity_task_scheduled_event_attributes")
    arguments = {s.activity_type.name: len(s.input.payloads) for s in scheduled}
    assert arguments == dict.fromkeys(plan_steps(plan), 2)
    # A step's input carries what the step uses, not earlier results whole.
    payment_input = await _json(scheduled[1].input.payloads[0])
    assert set(payment_input) == {"correlation_id", "payment_info", "amount_due"}

    # Each activity result is stored once: the final document refers to it.
    [completed] = _of(events, "workflow_execution_completed_event_attributes")
    stored = await _json(completed.result.payloads[0])
    assert all(step.get("result") is None for step in stored["steps"].values())
    assert all(step["result_in_history"] for step in stored["steps"].values())
    # ... and readers get the whole document back.
    results = [
        (await data_converter().decode([done.result.payloads[0]]))[0]["result"]
        for done in _of(events, "activity_task_completed_event_attributes")
    ]
    assert [status.steps[name].result for name in arguments] == results
    assert not any(step.result_in_history for step in status.steps.values())
