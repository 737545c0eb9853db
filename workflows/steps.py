"""The step runner shared by every saga: ordering, state, compensation, intervention.

A saga's steps are declared once (``models.steps.Step``: name, result, what it reads); its
workflow adds a :class:`StepSpec` for each (how to build its input from the results it
reads, how to undo it, what to use when it is allowed to fail); the plan from the adapter
says how to run it (timeouts, retries, what exhaustion means). Everything here is
deterministic workflow code.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
)
from temporalio.workflow import ActivityCancellationType

from models.envelope import StepOutput
from models.plan import InterventionTimeoutAction, OnExhausted, RetryRules, SagaPlan, StepPlan
from models.status import (
    CompensationStatus,
    Intervention,
    InterventionAction,
    InterventionRefusal,
    InterventionRequest,
    SagaState,
    SagaStatus,
    StepError,
    StepState,
    StepStatus,
)
from models.steps import Step, Steps
from workflows import events
from workflows.visibility import current_details, publish_state, step_summary

Results = Mapping[str, dict[str, Any]]
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""A step not heard from this long (its worker died) is retried; steps heartbeat every
second once they run longer than one (``activities.step``)."""
M = TypeVar("M", bound=BaseModel)


class UndeclaredRead(Exception):
    """A step's code read a result its declaration does not list (a programming error: the
    workflow task fails, visibly, until the code is fixed)."""


class Reads:
    """What one step's code may read: the results of the steps it declares it reads, and
    its own (for its undo), each as its model; None when that step has no result."""

    def __init__(self, results: Results, reader: Step[Any]) -> None:
        self._results = results
        self._reader = reader

    def __getitem__(self, step: Step[M]) -> M | None:
        if step is not self._reader and step not in self._reader.reads:
            raise UndeclaredRead(
                f"step {self._reader.name} reads {step.name} without declaring it"
                f" (reads={[read.name for read in self._reader.reads]})"
            )
        raw = self._results.get(step.name)
        return step.result.model_validate(raw) if raw else None


@dataclass(frozen=True)
class Skip:
    """Returned by an input builder when a step must not run (its result is recorded as is)."""

    result: dict[str, Any]


@dataclass(frozen=True)
class StepSpec:
    """The saga-specific half of a step; the plan supplies the rest."""

    build_input: Callable[[Reads], BaseModel | Skip]
    compensation_input: Callable[[Reads], BaseModel] | None = None
    """Built when the undo runs, from the results then known (the step may have failed)."""
    fallback: Callable[[StepError, Reads], BaseModel] | None = None
    """The result recorded when the plan lets the step fail (``on_exhausted: continue``)."""


def new_correlation_id(prefix: str) -> str:
    """``<prefix>_<epoch seconds>_<8 hex>``, generated once and replayed deterministically."""
    return f"{prefix}_{int(workflow.now().timestamp())}_{workflow.random().getrandbits(32):08x}"


def _refusal(
    why: InterventionRefusal, message: str, problems: Sequence[tuple[str, str]] = ()
) -> ApplicationError:
    """An ``intervene`` validator's refusal; its type tells callers why (409 or 422), its
    details list each problem with the answer as ``{"path", "message"}``."""
    details = [{"path": path, "message": text} for path, text in problems]
    return ApplicationError(message, *details, type=why.value, non_retryable=True)


class SagaEnded(Exception):
    """Raised out of :meth:`StepRunner.run` when the saga stops short of completion."""

    def __init__(self, state: SagaState, step: str, error: StepError | None) -> None:
        super().__init__(f"saga {state.value} at step {step}")
        self.state = state
        self.step = step
        self.error = error


class StepFailed(Exception):
    def __init__(self, error: StepError, attempts: int, *, cancelled: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts
        self.cancelled = cancelled
        """The workflow cancelled the activity (saga cancelled, or ended on another branch)."""


async def call_activity(
    activity: str,
    arg: BaseModel,
    *,
    start_to_close: timedelta,
    retry: RetryPolicy,
    summary: str,
    rules: RetryRules | None,
) -> StepOutput:
    """Run one activity; translate its failure into a :class:`StepFailed` with attempts.

    ``rules`` (the step's per-error-type retry rules) go as the activity's second argument,
    only when the step has some: every byte of an input is stored in the history.
    """
    try:
        output: StepOutput = await workflow.execute_activity(
            activity,
            args=[arg] if rules is None else [arg, rules],
            start_to_close_timeout=start_to_close,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            retry_policy=retry,
            result_type=StepOutput,
            summary=summary,
        )
    except ActivityError as err:
        raise _step_failed(err, retry.maximum_attempts) from err
    return output


def _step_failed(err: ActivityError, maximum_attempts: int) -> StepFailed:
    cause = err.cause
    attempts = maximum_attempts
    if isinstance(cause, ApplicationError):
        error = StepError(
            type=cause.type or "ApplicationError",
            message=cause.message,
            non_retryable=cause.non_retryable,
        )
        details = cause.details[0] if cause.details else None
        if isinstance(details, Mapping) and isinstance(details.get("attempt"), int):
            attempts = details["attempt"]
        if isinstance(details, Mapping) and details.get("exhausted"):
            # A retryable error whose limit (strategy or step) ran out before Temporal's.
            error.message += f" (gave up after {details['exhausted']})"
            return StepFailed(error.model_copy(update={"non_retryable": False}), attempts)
    elif isinstance(cause, TimeoutError):
        error = StepError(type="ActivityTimeout", message=cause.message, non_retryable=False)
    elif isinstance(cause, CancelledError):
        error = StepError(type="CANCELLED", message="cancelled while running", non_retryable=True)
        return StepFailed(error, 0, cancelled=True)
    else:
        message = str(cause) if cause is not None else str(err)
        error = StepError(type=type(cause).__name__, message=message, non_retryable=False)
    if err.retry_state is RetryState.NON_RETRYABLE_FAILURE:
        error = error.model_copy(update={"non_retryable": True})
    elif err.retry_state is RetryState.MAXIMUM_ATTEMPTS_REACHED:
        # A step without rules of its own: its limit is its retry policy's.
        error.message += f" (gave up after step limit: {maximum_attempts} attempts)"
    return StepFailed(error, attempts)


class StepRunner:
    """Runs a saga's steps as their dependencies complete, recording everything in ``status``."""

    def __init__(
        self, plan: SagaPlan, status: SagaStatus, steps: Steps, specs: Mapping[Step[Any], StepSpec]
    ) -> None:
        """``steps``: the saga's declared steps (a manual ``resolve`` result must fit the
        step's result model when later steps read it); ``specs``: the code of each."""
        if set(specs) != set(steps):
            raise ValueError(f"every declared step needs a spec: {steps.names}")
        self._mismatch = sorted(
            {(step.name, step.activity) for step in plan.steps}
            ^ {(step.name, step.activity) for step in steps}
        )
        """Steps only the plan or only the code has (or run by another activity): the saga
        fails at once in :meth:`run`."""
        self.plan = plan
        self.status = status
        self.steps = steps
        self.specs = {step.name: (step, spec) for step, spec in specs.items()}
        self.results: dict[str, dict[str, Any]] = {}
        self._undo: list[tuple[str, str, Callable[[], BaseModel]]] = []
        self._decision: InterventionRequest | None = None
        self._activity_results: set[str] = set()
        """Steps whose result is their activity's, already recorded in the history."""
        for step in plan.steps:
            limit = step.attempt_limit or step.retry.maximum_attempts
            status.steps.setdefault(step.name, StepStatus(attempt_limit=limit))
        status.overrides = list(plan.overrides)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> dict[str, dict[str, Any]]:
        """Run every step; on a terminal outcome compensate as the plan says, then raise."""
        if self._mismatch:
            raise ApplicationError(
                "the plan's steps do not match the saga's code: "
                + ", ".join(sorted({name for name, _ in self._mismatch}))
                + " (start it with a config that `starter.py config validate` accepts)",
                type="SagaConfigMismatch",
                non_retryable=True,
            )
        self._set_state(SagaState.IN_PROGRESS)
        events.emit(events.TASK_STARTED, self.status, saga=self.plan.workflow,
                    rerun_of=self.plan.rerun_of)  # fmt: skip
        tasks: dict[str, asyncio.Task[None]] = {}
        for step in self.plan.steps:
            waits_for = list(step.depends_on)
            if not self.plan.concurrent and tasks:
                waits_for.append(list(tasks)[-1])  # one at a time, in declaration order
            tasks[step.name] = asyncio.create_task(self._when_ready(step, waits_for, tasks))
        try:
            await asyncio.gather(*tasks.values())
        except SagaEnded as ended:
            await self._cancel(tasks.values())
            if ended.state is SagaState.COMPENSATED:
                await self.compensate()
            self._set_state(ended.state)
            self._ended(ended.step)
            raise
        except asyncio.CancelledError:
            await self._cancel(tasks.values())
            await self.compensate()
            self._set_state(SagaState.CANCELLED)
            self._ended(None)
            raise
        self._set_state(SagaState.COMPLETE)
        self._ended(None)
        return self.results

    def _ended(self, step: str | None) -> None:
        event = (
            events.TASK_COMPLETED if self.status.state is SagaState.COMPLETE else events.TASK_FAILED
        )
        events.emit(event, self.status, state=self.status.state.value, step=step,
                    duration_seconds=events.elapsed_seconds())  # fmt: skip

    async def _cancel(self, tasks: Any) -> None:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _when_ready(
        self, step: StepPlan, waits_for: list[str], tasks: Mapping[str, asyncio.Task[None]]
    ) -> None:
        for dependency in waits_for:
            await asyncio.shield(tasks[dependency])
        await self._run_step(step)

    async def _run_step(self, step: StepPlan) -> None:
        declared, spec = self.specs[step.name]
        reads = Reads(self.results, declared)
        state = self.status.steps[step.name]
        arg = spec.build_input(reads)
        if isinstance(arg, Skip):
            self._finish(step.name, StepState.SKIPPED, arg.result)
            return
        if step.compensation and (undo := spec.compensation_input) is not None:
            self._undo.append((step.compensation, step.name, functools.partial(undo, reads)))
        while True:
            earlier_attempts = state.attempts
            state.state = StepState.IN_PROGRESS
            state.started_at = state.started_at or workflow.now()
            self._refresh()
            events.emit(events.STEP_STARTED, self.status, step=step.name,
                        round=state.round if state.round > 1 else None)  # fmt: skip
            try:
                output = await call_activity(
                    step.activity,
                    arg,
                    start_to_close=step.start_to_close,
                    retry=step.retry.to_temporal(),
                    summary=step_summary(step),
                    rules=step.rules(),
                )
            except StepFailed as failed:
                state.attempts = earlier_attempts + failed.attempts
                state.error = failed.error
                state.state = StepState.ERROR
                state.finished_at = workflow.now()
                events.emit(events.STEP_FAILED, self.status, step=step.name,
                            attempts=state.attempts, error_type=failed.error.type,
                            error=failed.error.message)  # fmt: skip
                if failed.cancelled:
                    # Not the step's failure: no exhaustion policy (no operator, no fallback).
                    self._refresh()
                    raise asyncio.CancelledError() from failed
                if await self._after_exhaustion(step, spec, failed.error, reads):
                    continue
                return
            state.attempts = earlier_attempts + output.attempt
            self._finish(step.name, StepState.COMPLETE, output.result)
            events.emit(events.STEP_COMPLETED, self.status, step=step.name,
                        attempts=state.attempts)  # fmt: skip
            return

    def _finish(self, name: str, state: StepState, result: dict[str, Any] | None) -> None:
        status = self.status.steps[name]
        status.state = state
        status.result = result
        if status.error is not None and state in {StepState.COMPLETE, StepState.RESOLVED_MANUALLY}:
            # Done after all (an operator retried or resolved it): the failure is history.
            status.earlier_error, status.error = status.error, None
        if state is StepState.COMPLETE:
            self._activity_results.add(name)
        else:
            self._activity_results.discard(name)
        status.started_at = status.started_at or workflow.now()
        status.finished_at = workflow.now()
        if result is not None:
            self.results[name] = result
        self._refresh()

    async def _after_exhaustion(
        self, step: StepPlan, spec: StepSpec, error: StepError, reads: Reads
    ) -> bool:
        """Apply the step's exhaustion policy; True means run the step again."""
        self.status.failed_steps.append(step.name)
        policy = step.on_exhausted
        events.emit(events.STEP_MAX_RETRIES, self.status, step=step.name, policy=policy.value,
                    error_type=error.type)  # fmt: skip
        if policy is OnExhausted.CONTINUE:
            fallback = spec.fallback(error, reads).model_dump(mode="json") if spec.fallback else {}
            self.status.steps[step.name].result = fallback
            self.results[step.name] = fallback
            self._refresh()
            return False
        if policy is OnExhausted.INTERVENE:
            return await self._await_intervention(step, error)
        ending = SagaState.COMPENSATED if policy is OnExhausted.COMPENSATE else SagaState.ERROR
        raise SagaEnded(ending, step.name, error)

    # -- manual intervention ---------------------------------------------------------------

    def _allowed_actions(self) -> list[InterventionAction]:
        final = InterventionAction.COMPENSATE if self._undo else InterventionAction.FAIL
        return [InterventionAction.RETRY, InterventionAction.RESOLVE, final]

    async def _await_intervention(self, step: StepPlan, error: StepError) -> bool:
        timeout = timedelta(seconds=self.plan.intervention_timeout_seconds)
        self._decision = None
        on_timeout = (
            InterventionAction.COMPENSATE
            if self.plan.on_intervention_timeout is InterventionTimeoutAction.COMPENSATE
            and self._undo
            else InterventionAction.FAIL
        )
        self.status.intervention = Intervention(
            step=step.name,
            error=error,
            allowed=self._allowed_actions(),
            deadline=workflow.now() + timeout,
            on_timeout=on_timeout,
        )
        self._set_state(SagaState.AWAITING_INTERVENTION)
        events.emit(events.AWAITING_INTERVENTION, self.status, step=step.name,
                    deadline=self.status.intervention.deadline.isoformat(),
                    allowed=[action.value for action in self.status.intervention.allowed],
                    on_timeout=on_timeout.value)  # fmt: skip
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timeout)
            decision = self._decision
        except builtins.TimeoutError:
            decision = InterventionRequest(
                action=on_timeout, reason="intervention timed out", operator="timeout"
            )
        assert decision is not None
        self.status.intervention.decision = decision
        self.status.intervention.answered_at = workflow.now()
        events.emit(events.INTERVENTION_ANSWERED, self.status, step=step.name,
                    operator=decision.operator, action=decision.action.value,
                    reason=decision.reason or None)  # fmt: skip
        self._set_state(SagaState.IN_PROGRESS)
        if decision.action is InterventionAction.RETRY:
            self.status.failed_steps.remove(step.name)
            record = self.status.steps[step.name]
            record.round += 1
            record.earlier_error, record.error = record.error, None
            events.emit(events.STEP_RETRIED, self.status, step=step.name, round=record.round)
            return True
        if decision.action is InterventionAction.RESOLVE:
            self.status.failed_steps.remove(step.name)
            self._finish(step.name, StepState.RESOLVED_MANUALLY, decision.result or {})
            return False
        ending = (
            SagaState.COMPENSATED
            if decision.action is InterventionAction.COMPENSATE
            else SagaState.ERROR
        )
        raise SagaEnded(ending, step.name, error)

    def validate_intervention(self, request: InterventionRequest) -> None:
        """Update validator: reject answers that do not fit the saga's current state, each
        refusal typed with its :class:`InterventionRefusal`."""
        if self.status.state is not SagaState.AWAITING_INTERVENTION or self._decision:
            raise _refusal(
                InterventionRefusal.NOT_AWAITING,
                f"saga is {self.status.state.value}, not awaiting_intervention",
            )
        if request.action not in self._allowed_actions():
            allowed = ", ".join(action.value for action in self._allowed_actions())
            raise _refusal(
                InterventionRefusal.NOT_ALLOWED,
                f"action {request.action.value!r} not allowed here ({allowed})",
            )
        intervention = self.status.intervention
        if request.action is InterventionAction.RESOLVE and intervention:
            self._check_manual_result(intervention.step, request.result)

    def _check_manual_result(self, step: str, result: dict[str, Any] | None) -> None:
        """Later steps read a resolved step's result as its model: reject a missing one
        they need, or one that does not fit, rather than accept it and fail the step that
        reads it (an order resolved without a reservation was compensated)."""
        if step not in self.steps:
            return
        model = self.steps[step].result
        if not result:
            readers = self.steps.readers_of(step)
            if readers:
                need = f"required: later steps read it ({', '.join(readers)})"
                raise _refusal(
                    InterventionRefusal.RESULT_REQUIRED,
                    f"resolving {step} needs a result ({model.__name__}): later steps read"
                    f" it ({', '.join(readers)})",
                    [("$.result", need)],
                )
            return
        try:
            model.model_validate(result)
        except ValidationError as err:
            text = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'result'}: {e['msg']}" for e in err.errors()
            )
            paths = [
                "$.result" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
                for e in err.errors()
            ]
            raise _refusal(
                InterventionRefusal.RESULT_INVALID,
                f"result for {step} does not fit {model.__name__}: {text}",
                [(path, e["msg"]) for path, e in zip(paths, err.errors(), strict=True)],
            ) from None

    def decide(self, request: InterventionRequest) -> None:
        self._decision = request

    # -- compensation ----------------------------------------------------------------------

    async def compensate(self) -> None:
        """Undo completed work in reverse order; each undo retries until it succeeds."""
        while self._undo:
            activity, for_step, build = self._undo.pop()
            record = CompensationStatus(activity=activity, for_step=for_step)
            self.status.compensations.append(record)
            record.state = StepState.IN_PROGRESS
            self._refresh()
            try:
                output = await call_activity(
                    activity,
                    build(),
                    start_to_close=timedelta(seconds=self.plan.compensation_timeout_seconds),
                    retry=self.plan.compensation_retry.to_temporal(),
                    summary=f"compensate {for_step}: {activity}",
                    rules=None,
                )
            except StepFailed as failed:
                record.state, record.error, record.attempts = (
                    StepState.ERROR,
                    failed.error,
                    failed.attempts,
                )
                events.emit(events.COMPENSATION, self.status, step=for_step, activity=activity,
                            outcome="failed", error_type=failed.error.type)  # fmt: skip
                continue
            record.state, record.attempts, record.result = (
                StepState.COMPLETE,
                output.attempt,
                output.result,
            )
            events.emit(events.COMPENSATION, self.status, step=for_step, activity=activity,
                        outcome="complete", attempts=output.attempt)  # fmt: skip
            step_status = self.status.steps[for_step]
            undone = not output.result.get("nothing_to_undo")
            if undone and step_status.state in {StepState.COMPLETE, StepState.ERROR}:
                step_status.state = StepState.COMPENSATED
            self._refresh()

    # -- status ----------------------------------------------------------------------------

    def final_document(self) -> SagaStatus:
        """The status document a finished saga leaves in its history (result or failure
        details): each activity's result is in the history already, so it is left out here
        and marked; :func:`sagas.lifecycle.final_status` puts it back for readers."""
        final = self.status.model_copy(deep=True)
        for name in self._activity_results:
            step = final.steps[name]
            if step.result is not None:
                step.result, step.result_in_history = None, True
        return final

    def _set_state(self, state: SagaState) -> None:
        self.status.state = state
        self._refresh()
        publish_state(state, self.status.correlation_id)

    def _refresh(self) -> None:
        running = [
            name
            for name, step in self.status.steps.items()
            if step.state is StepState.IN_PROGRESS
            or (self.status.intervention and self.status.intervention.step == name
                and self.status.state is SagaState.AWAITING_INTERVENTION)
        ]  # fmt: skip
        self.status.current_step = running[0] if running else None
        workflow.set_current_details(current_details(self.status, self.plan))
