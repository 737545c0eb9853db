"""Issue 17, item 2: the saga metrics on real ``worker.py --metrics-port`` processes. An
order waits for an operator on worker A, A is killed, worker B finishes it: the sum of both
workers' counts is one per saga and one per attempt (B replays what A ran without counting
it again), and A showed the order awaiting an operator."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
from temporalio.client import Client

from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus
from plumbing.ports import free_port
from plumbing.processes import DevServer
from sagas.catalogue import saga
from sagas.lifecycle import final_status, query_status, start_saga
from sagas.prepare import prepare
from tests.integration.helpers import STUCK_FAULT, eventually, worker_process

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "examples" / "order_sample.json").read_text())
_LINE = re.compile(r"^(?P<name>\w+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")

Sample = tuple[str, Mapping[str, str], float]


async def scrape(port: int) -> list[Sample]:
    """Every saga_* sample the worker exports."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    samples: list[Sample] = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if found and found["name"].startswith("saga_"):
            labels: dict[str, str] = dict(re.findall(r'(\w+)="([^"]*)"', found["labels"]))
            samples.append((str(found["name"]), labels, float(found["value"])))
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


async def test_each_saga_and_attempt_counts_once_across_a_worker_killed_mid_saga(
    dev_client: Client, dev_server: DevServer, services_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    queue, first, second = f"metrics-{uuid.uuid4().hex[:6]}", free_port(), free_port()
    assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
    order = {**SAMPLE, "correlation_id": f"metrics-{uuid.uuid4().hex[:8]}"}
    with worker_process(
        dev_server, queue, "--metrics-port", str(first), log=tmp_path / "a.log"
    ) as worker_a:
        submission = await start_saga(dev_client, prepare(saga("order"), order), queue)

        async def awaiting() -> SagaStatus | None:
            status = await query_status(submission.handle)
            return status if status.state is SagaState.AWAITING_INTERVENTION else None

        await eventually(awaiting)

        async def gauge_up() -> list[Sample] | None:
            samples = await scrape(first)
            waiting = total(samples, "saga_awaiting_intervention", saga="order")
            return samples if waiting >= 1 else None

        before = await eventually(gauge_up)
        worker_a.kill()
        worker_a.wait()

    with worker_process(dev_server, queue, "--metrics-port", str(second), log=tmp_path / "b.log"):
        answer = InterventionRequest(action=InterventionAction.RETRY, reason="stock arrived")
        await submission.handle.execute_update("intervene", answer, result_type=SagaStatus)
        assert (await final_status(submission.handle)).state is SagaState.COMPLETE

        async def ended() -> list[Sample] | None:
            samples = await scrape(second)
            return samples if total(samples, "saga_ended_total", saga="order") else None

        after = await eventually(ended)

    assert total(after, "saga_started_total") == 0  # B only replayed the start
    both = before + after
    assert total(both, "saga_started_total", saga="order") == 1
    assert total(both, "saga_ended_total", saga="order") == 1
    assert total(both, "saga_ended_total", saga="order", state="complete") == 1
    attempts: Counter[tuple[str, str]] = Counter()
    runs: Counter[str] = Counter()
    for name, labels, value in both:
        if name == "saga_step_attempts_total":
            attempts[labels["step"], labels["outcome"]] += int(value)
        elif name == "saga_step_duration_seconds_count":
            runs[labels["step"]] += int(value)
    assert attempts == {
        ("validate_cart", "complete"): 1,
        ("process_payment", "complete"): 1,
        ("update_inventory", "SERVICE_ERROR"): 2,
        ("update_inventory", "complete"): 1,
        ("create_order", "complete"): 1,
        ("send_confirmation", "complete"): 1,
    }
    assert runs == {
        "validate_cart": 1, "process_payment": 1, "update_inventory": 2, "create_order": 1,
        "send_confirmation": 1,
    }  # fmt: skip


REGISTRATION = json.loads((ROOT / "examples" / "registration_sample.json").read_text())
DECLINED = json.loads((ROOT / "examples" / "order_declined.json").read_text())
RATE_LIMIT = {"operation": "payments.charge", "count": 1, "mode": "rate_limit", "retry_after": 1}
NOT_YET: Mapping[str, str] = {
    "temporal_workflow_task_execution_failed": "the SDK creates it at the first failed"
    " workflow task; none fails in a healthy run",
}
"""Series the rules name that a healthy run cannot produce, and why."""


def _named_series() -> set[str]:
    """Every metric the dashboard and the alert rules read."""
    text = (ROOT / "deploy" / "grafana" / "sagas.json").read_text()
    text += (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    return set(re.findall(r"\b((?:saga|temporal)_\w+)\b", text))


async def _all_series(port: int) -> set[str]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1].isalpha()}


async def test_every_series_the_dashboard_and_alerts_read_is_exported(
    dev_client: Client, dev_server: DevServer, services_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A run with a completed order and registration, a retried step, a declined card, a
    compensated order and one awaiting an operator: no panel and no rule is left dead."""
    queue, port = f"series-{uuid.uuid4().hex[:6]}", free_port()
    tag = uuid.uuid4().hex[:8]

    def order(data: Mapping[str, object], name: str) -> dict[str, object]:
        return {**data, "correlation_id": f"{name}-{tag}"}

    with worker_process(dev_server, queue, "--metrics-port", str(port), log=tmp_path / "w.log"):
        assert (await services_http.post("/_faults", json=RATE_LIMIT)).status_code == 201
        retried = await start_saga(dev_client, prepare(saga("order"), order(SAMPLE, "r")), queue)
        assert (await final_status(retried.handle)).steps["process_payment"].attempts == 2
        user = {**REGISTRATION["user_info"], "email": f"series-{tag}@example.com"}
        registration = {**REGISTRATION, "user_info": user}
        registered = await start_saga(
            dev_client, prepare(saga("registration"), registration), queue
        )
        assert (await final_status(registered.handle)).state is SagaState.COMPLETE
        declined = await start_saga(dev_client, prepare(saga("order"), order(DECLINED, "d")), queue)
        assert (await final_status(declined.handle)).state is SagaState.ERROR
        for name in ("compensated", "stuck"):
            assert (await services_http.post("/_faults", json=STUCK_FAULT)).status_code == 201
            stuck = await start_saga(dev_client, prepare(saga("order"), order(SAMPLE, name)), queue)

            async def awaiting() -> bool | None:
                status = await query_status(stuck.handle)  # noqa: B023 (awaited in the loop)
                return True if status.state is SagaState.AWAITING_INTERVENTION else None

            await eventually(awaiting)
            if name == "compensated":
                answer = InterventionRequest(action=InterventionAction.COMPENSATE)
                await stuck.handle.execute_update("intervene", answer, result_type=SagaStatus)
                assert (await final_status(stuck.handle)).state is SagaState.COMPENSATED

        async def everything() -> set[str] | None:
            exported = await _all_series(port)
            missing = _named_series() - set(NOT_YET) - exported
            waiting = total(await scrape(port), "saga_awaiting_intervention", saga="order")
            return exported if not missing and waiting >= 1 else None  # refreshed every 5 s

        exported = await eventually(everything)
        samples = await scrape(port)
        assert total(samples, "saga_ended_total", saga="order", state="compensated") == 1
        assert total(samples, "saga_compensations_total", outcome="complete") >= 2
        assert total(samples, "saga_step_attempts_total", outcome="RATE_LIMITED") == 1
        assert "temporal_sticky_cache_size" in exported
