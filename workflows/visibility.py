"""What the UI and the CLI show of a saga beyond its status document: custom search
attributes, so sagas can be listed and filtered, and the summaries and details the Web UI
shows for a saga and its activities.

The search attributes must be registered on the server before use
(``plumbing.processes.DevServer`` does; the compose stack's setup job does). A saga started
without them (the time-skipping test server cannot register any) simply does not publish
its state.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from models.plan import SagaPlan, StepPlan
from models.status import SagaState, SagaStatus, StepError, StepState

SAGA_STATE = SearchAttributeKey.for_keyword("SagaState")
CORRELATION_ID = SearchAttributeKey.for_keyword("CorrelationId")
RERUN_OF = SearchAttributeKey.for_keyword("RerunOf")
"""The workflow id a rerun reruns, set when it starts."""
CUSTOMER_KEY = SearchAttributeKey.for_keyword("CustomerKey")
"""A keyed digest of the saga's customer, set when it starts (``list --customer``)."""
ALL = (SAGA_STATE, CORRELATION_ID, RERUN_OF, CUSTOMER_KEY)


def publish_state(state: str, correlation_id: str) -> None:
    """Upsert ``SagaState`` and ``CorrelationId`` when the saga was started with them
    enabled (the starter sets ``SagaState`` at start, and ``CorrelationId`` when the input
    has one) and they changed: an upsert is a history event."""
    current = workflow.info().typed_search_attributes
    if current.get(SAGA_STATE) is None:
        return
    if current.get(SAGA_STATE) == state and current.get(CORRELATION_ID) == correlation_id:
        return
    workflow.upsert_search_attributes(
        [SAGA_STATE.value_set(state), CORRELATION_ID.value_set(correlation_id)]
    )


# -- what the Web UI says about a saga -----------------------------------------------------
# Summaries and details are payloads (encrypted like the rest); they still carry ids,
# counts, totals and step names only, never a customer's personal data.

STATE_WORDS = {
    SagaState.IN_PROGRESS: "In progress",
    SagaState.COMPLETE: "Complete",
    SagaState.ERROR: "Failed",
    SagaState.CANCELLED: "Cancelled",
    SagaState.COMPENSATED: "Compensated",
    SagaState.AWAITING_INTERVENTION: "Awaiting an operator",
}
STEP_MARKS = {
    StepState.PENDING: "·",
    StepState.IN_PROGRESS: "▶",
    StepState.COMPLETE: "✓",
    StepState.ERROR: "✗",
    StepState.RESOLVED_MANUALLY: "✓ (resolved manually)",
    StepState.SKIPPED: "» (skipped)",
    StepState.COMPENSATED: "↩ (compensated)",
}


def step_summary(step: StepPlan) -> str:
    """An activity's summary in the Web UI: the step's name, then what the step does."""
    return f"{step.name}: {step.description}" if step.description else step.name


def error_text(error: StepError | None) -> str:
    """A step's error as one reads it: ``TYPE: message``."""
    return f"{error.type}: {error.message}" if error else "no error recorded"


def intervene_command(workflow_id: str, allowed: Sequence[str]) -> str:
    """The command an operator runs to answer a saga awaiting intervention."""
    return f"python starter.py intervene {workflow_id} {'|'.join(allowed)}"


def intervene_call(workflow_id: str, allowed: Sequence[str]) -> str:
    """The HTTP API's call that answers it."""
    return f"POST /sagas/{workflow_id}/{'|'.join(allowed)}"


def _attempts(step: StepPlan) -> str:
    limit = step.attempt_limit or step.retry.maximum_attempts
    text = f"{limit} attempt{'' if limit == 1 else 's'}"
    if step.retry.maximum_attempts > limit:
        text += f", up to {step.retry.maximum_attempts} by strategy"
    return text


def start_details(plan: SagaPlan) -> str:
    """The saga's static details (Markdown): its config and what each step does."""
    lines = [f"**{plan.workflow}** v{plan.version} ({plan.environment} config)", ""]
    if plan.rerun_of:
        lines[1:1] = ["", f"Rerun of `{plan.rerun_of}`"]
    lines += [
        f"{number}. **{step.name}**: {step.description or step.activity}"
        f" ({_attempts(step)}, then {step.on_exhausted.value})"
        for number, step in enumerate(plan.steps, 1)
    ]
    if plan.overrides:
        lines += ["", f"Overrides: {'; '.join(plan.overrides)}"]
    return "\n".join(lines)


def current_details(status: SagaStatus, plan: SagaPlan) -> str:
    """Where the saga is now (Markdown): its state, each step's, and while it awaits an
    operator, why, what they may do, by when, and the command that does it."""
    lines = [f"**{STATE_WORDS[status.state]}**"]
    if status.current_step and status.state is SagaState.IN_PROGRESS:
        step = plan.step(status.current_step)
        lines[0] += f": {step_summary(step)}"
    intervention = status.intervention
    if status.state is SagaState.AWAITING_INTERVENTION and intervention:
        allowed = [action.value for action in intervention.allowed]
        deadline = intervention.deadline.strftime("%Y-%m-%d %H:%M:%SZ")
        lines += [
            "",
            f"Step **{intervention.step}** failed: {error_text(intervention.error)}.",
            f"Allowed: {', '.join(allowed)}, until {deadline}"
            f" (then {plan.on_intervention_timeout.value}).",
            f"Run: `{intervene_command(status.workflow_id, allowed)}`",
        ]
    if status.state in {SagaState.ERROR, SagaState.COMPENSATED} and status.failed_steps:
        failed = status.failed_steps[-1]
        lines += ["", f"Step **{failed}**: {error_text(status.steps[failed].error)}"]
    lines += ["", *(f"- {STEP_MARKS[step.state]} {name}" for name, step in status.steps.items())]
    lines += [
        f"- ↩ {undo.activity} for {undo.for_step}: {undo.state.value}"
        for undo in status.compensations
    ]
    return "\n".join(lines)
