"""What every saga workflow shares: its status document and step runner, the ``status``
query, the ``intervene`` update, the failure that carries the status document, and step
timings for the outcome.

A saga workflow subclasses :class:`SagaWorkflow` with its declared steps, its correlation
id prefix, its step specs and its outcome. Temporal wants ``@workflow.init`` and
``@workflow.run`` on the class itself, typed with the saga's request, so each keeps a
one-line ``__init__`` and ``run``::

    @workflow.init
    def __init__(self, request: OrderRequest) -> None:
        super().__init__(request.order, request.plan)

    @workflow.run
    async def run(self, request: OrderRequest) -> SagaStatus:
        return await self.run_saga()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from models.plan import SagaPlan
from models.status import InterventionRequest, SagaState, SagaStatus, StepError
from models.steps import Step, Steps
from workflows.steps import Results, SagaEnded, StepRunner, StepSpec, new_correlation_id


class SagaInput(Protocol):
    """What a saga's input has in common: the correlation id the caller may give."""

    @property
    def correlation_id(self) -> str | None: ...


InputT = TypeVar("InputT", bound=SagaInput)


class SagaWorkflow(Generic[InputT]):
    steps: ClassVar[Steps]
    """The saga's declared steps (its models module's ``Steps``)."""
    correlation_prefix: ClassVar[str]
    """Generated correlation ids start with it (``ord_…``) when the input has none."""

    def __init__(self, saga_input: InputT, plan: SagaPlan) -> None:
        self.input = saga_input
        self._status = SagaStatus(
            workflow_id=workflow.info().workflow_id,
            workflow=plan.workflow,
            correlation_id=saga_input.correlation_id or new_correlation_id(self.correlation_prefix),
            rerun_of=plan.rerun_of,
        )
        self.runner = StepRunner(plan, self._status, self.steps, self.specs())

    @property
    def correlation_id(self) -> str:
        return self._status.correlation_id

    def specs(self) -> Mapping[Step[Any], StepSpec]:
        """Each declared step's code: its input from what it reads, its undo, its fallback."""
        raise NotImplementedError

    def outcome(self, results: Results) -> dict[str, Any]:
        """The summary a caller wants from a completed saga (the status document's result)."""
        raise NotImplementedError

    async def run_saga(self) -> SagaStatus:
        """Run the saga's steps; a saga that ends short fails the workflow with its status."""
        try:
            results = await self.runner.run()
        except SagaEnded as ended:
            raise saga_failure(self.runner.final_document(), ended) from None
        self._status.result = self.outcome(results)
        return self.runner.final_document()

    @workflow.query
    def status(self) -> SagaStatus:
        return self._status

    @workflow.update
    async def intervene(self, request: InterventionRequest) -> SagaStatus:
        """An operator's answer to ``awaiting_intervention``; returns once it is taken."""
        self.runner.decide(request)
        await workflow.wait_condition(
            lambda: self._status.state is not SagaState.AWAITING_INTERVENTION
        )
        return self._status

    @intervene.validator
    def check_intervention(self, request: InterventionRequest) -> None:
        self.runner.validate_intervention(request)


def saga_failure(status: SagaStatus, ended: SagaEnded) -> ApplicationError:
    """Fail the workflow (red in the UI) and carry the status document in the details."""
    error: StepError | None = ended.error
    reason = f"{error.type}: {error.message}" if error else "no error recorded"
    return ApplicationError(
        f"saga {ended.state.value} at {ended.step} ({reason})",
        status,
        type=f"Saga{ended.state.value.title().replace('_', '')}",
        non_retryable=True,
    )


def _seconds(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 3)


def step_timings(status: SagaStatus) -> dict[str, float]:
    """Seconds per step that ran, first start to last finish in workflow time (retries and
    their backoff included; the start and finish themselves are in the step's status)."""
    return {
        name: _seconds(step.started_at, step.finished_at)
        for name, step in status.steps.items()
        if step.started_at is not None and step.finished_at is not None
    }


def parallel_savings(status: SagaStatus, branch: Sequence[str]) -> dict[str, Any]:
    """How much the concurrent branch saved: the sum of its steps' durations minus its wall
    time (latest finish - earliest start). Zero when the steps did not overlap."""
    spans = [
        (step.started_at, step.finished_at)
        for name in branch
        if (step := status.steps.get(name)) and step.started_at and step.finished_at
    ]
    if not spans:
        return {"steps": list(branch), "sequential_seconds": 0.0, "wall_seconds": 0.0,
                "saved_seconds": 0.0}  # fmt: skip
    sequential = sum(_seconds(start, end) for start, end in spans)
    wall = _seconds(min(start for start, _ in spans), max(end for _, end in spans))
    return {
        "steps": list(branch),
        "sequential_seconds": round(sequential, 3),
        "wall_seconds": wall,
        "saved_seconds": round(max(sequential - wall, 0.0), 3),
    }
