"""Saga metrics on the worker's Prometheus endpoint (``worker.py --metrics-port``), recorded
in one place: a worker interceptor, whatever the saga.

The names are a contract, read by the dashboard and the alerts (``adapter/alerts.py``):

- ``saga_started_total{saga}``, ``saga_ended_total{saga,state}`` (state: complete, error,
  compensated, cancelled), from the workflow;
- ``saga_step_attempts_total{saga,step,outcome}`` (outcome: ``complete`` or the failure's
  type), one per attempt, from the activity that ran it;
- ``saga_step_duration_seconds{saga,step}``, a histogram: each run of a step, its retries
  included, in workflow time;
- ``saga_compensations_total{saga,activity,outcome}`` (complete or failed);
- ``saga_awaiting_intervention{saga}``, a gauge from a visibility count, refreshed.

Workflow-side metrics go through the SDK's workflow meter, which records nothing while a
workflow replays: a saga picked up by another worker, or after a restart, is not counted
twice. Each activity attempt is counted by the worker that ran it (an attempt lost with a
worker killed mid-call is not). A saga terminated by hand runs no workflow code, so it is not
counted as ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Final

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.service import RPCError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    StartActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from sagas.descriptor import SagaDescriptor

STARTED: Final = "saga_started_total"
ENDED: Final = "saga_ended_total"
STEP_ATTEMPTS: Final = "saga_step_attempts_total"
STEP_DURATION: Final = "saga_step_duration_seconds"
COMPENSATIONS: Final = "saga_compensations_total"
AWAITING: Final = "saga_awaiting_intervention"
AWAITING_REFRESH: Final = timedelta(seconds=5)
_ENDINGS: Final = {
    "SagaError": "error",
    "SagaCompensated": "compensated",
    "SagaCancelled": "cancelled",
}
"""A saga that ends short fails its workflow with ``Saga<State>`` (workflows/saga.py)."""


@dataclass(frozen=True)
class SagaNames:
    """What the metrics call a saga's workflow and activities."""

    kind: str
    steps: Mapping[str, str]
    """Step activity name to the step's name."""
    compensations: frozenset[str]


def saga_names(sagas: Iterable[SagaDescriptor]) -> dict[str, SagaNames]:
    """Each saga's names, by its workflow type."""
    found: dict[str, SagaNames] = {}
    for saga in sagas:
        steps = saga.step_set()
        found[saga.workflow_type] = SagaNames(
            kind=saga.kind,
            steps={step.activity: step.name for step in steps},
            compensations=frozenset(steps.compensations),
        )
    return found


def _outcome(error: BaseException) -> str:
    if isinstance(error, ApplicationError):
        return error.type or "ApplicationError"
    if isinstance(error, asyncio.CancelledError | CancelledError):
        return "cancelled"
    return type(error).__name__


class SagaMetrics(Interceptor):
    """The worker interceptor recording every saga's metrics."""

    def __init__(self, names: Mapping[str, SagaNames]) -> None:
        self.names = dict(names)
        self._workflow_class = type(
            "SagaWorkflowMetrics", (_WorkflowMetrics,), {"names": self.names}
        )

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next, self.names)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return self._workflow_class


class _ActivityMetrics(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, names: Mapping[str, SagaNames]) -> None:
        super().__init__(next)
        self.names = names

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        saga = self.names.get(info.workflow_type or "")
        step = saga.steps.get(info.activity_type) if saga else None
        if saga is None or step is None:
            return await super().execute_activity(input)
        outcome = "complete"
        try:
            return await super().execute_activity(input)
        except BaseException as error:
            outcome = _outcome(error)
            raise
        finally:
            counter = activity.metric_meter().create_counter(
                STEP_ATTEMPTS, "step attempts by outcome (complete, or the failure's type)"
            )
            counter.add(1, {"saga": saga.kind, "step": step, "outcome": outcome})


class _WorkflowMetrics(WorkflowInboundInterceptor):
    names: ClassVar[Mapping[str, SagaNames]]

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        saga = self.names.get(outbound.info().workflow_type)  # workflow.info() is not set yet
        super().init(_OutboundMetrics(outbound, saga) if saga else outbound)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        saga = self.names.get(workflow.info().workflow_type)
        if saga is None:
            return await super().execute_workflow(input)
        meter = workflow.metric_meter()
        labels = {"saga": saga.kind}
        meter.create_counter(STARTED, "sagas started").add(1, labels)
        state = "complete"
        try:
            return await super().execute_workflow(input)
        except ApplicationError as error:
            state = _ENDINGS.get(error.type or "", "error")
            raise
        except (asyncio.CancelledError, CancelledError):
            state = "cancelled"
            raise
        finally:
            ended = meter.create_counter(ENDED, "sagas ended, by state")
            ended.add(1, {**labels, "state": state})


class _OutboundMetrics(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, saga: SagaNames) -> None:
        super().__init__(next)
        self.saga = saga

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        handle = super().start_activity(input)
        step = self.saga.steps.get(input.activity)
        if step is not None:
            started = workflow.now()
            handle.add_done_callback(lambda _: self._step_done(step, started))
        elif input.activity in self.saga.compensations:
            handle.add_done_callback(lambda done: self._undo_done(input.activity, done))
        return handle

    def _meter(self) -> MetricMeter:
        return workflow.metric_meter()

    def _step_done(self, step: str, started: Any) -> None:
        histogram = self._meter().create_histogram_float(
            STEP_DURATION, "a step's run, its retries included", "s"
        )
        seconds = (workflow.now() - started).total_seconds()
        histogram.record(seconds, {"saga": self.saga.kind, "step": step})

    def _undo_done(self, name: str, done: asyncio.Future[Any]) -> None:
        failed = done.cancelled() or isinstance(done.exception(), ActivityError)
        counter = self._meter().create_counter(COMPENSATIONS, "compensations by outcome")
        outcome = "failed" if failed else "complete"
        counter.add(1, {"saga": self.saga.kind, "activity": name, "outcome": outcome})


async def publish_awaiting(
    client: Client,
    meter: MetricMeter,
    sagas: Iterable[SagaDescriptor],
    state_attribute: str,
    interval: timedelta = AWAITING_REFRESH,
) -> None:
    """Keep ``saga_awaiting_intervention{saga}`` at the visibility store's count of running
    sagas awaiting an operator, refreshed every ``interval`` until cancelled. Every worker
    publishes the same count: aggregate it with ``max``, not ``sum``."""
    gauge = meter.create_gauge(AWAITING, "sagas awaiting an operator now")
    sagas = list(sagas)
    while True:
        for saga in sagas:
            query = (
                f'WorkflowType = "{saga.workflow_type}" AND ExecutionStatus = "Running"'
                f' AND {state_attribute} = "awaiting_intervention"'
            )
            try:
                count = (await client.count_workflows(query)).count
            except RPCError:  # the server is away: keep the last value, try again later
                continue
            gauge.set(count, {"saga": saga.kind})
        await asyncio.sleep(interval.total_seconds())
