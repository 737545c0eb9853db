"""The user registration saga: a diamond of five service calls with graceful degradation.

create_user_account → (setup_billing_profile ∥ initialize_preferences) →
send_welcome_sequence → update_user_status. The order, the concurrency, the retries and
what exhaustion means come from the plan (the YAML) and the shared step runner; this
module wires inputs, says what each degraded step records, and summarises the outcome.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from models.registration import (
    BillingResult,
    CreateUserInput,
    InitializePreferencesInput,
    Plan,
    PreferencesResult,
    RegistrationInput,
    SendWelcomeInput,
    SetupBillingInput,
    UpdateUserStatusInput,
    UserAccountResult,
    UserStatusResult,
    WelcomeResult,
    billing_deferred,
    billing_skipped,
    preferences_fallback,
    welcome_failed,
)
from models.requests import RegistrationRequest
from models.status import SagaStatus, StepError, StepState
from workflows.saga import SagaWorkflow, parallel_savings, step_timings
from workflows.steps import Results, Skip, StepRunner, StepSpec, new_correlation_id, result_of

STEP_RESULTS: dict[str, type[BaseModel]] = {
    "create_user_account": UserAccountResult,
    "setup_billing_profile": BillingResult,
    "initialize_preferences": PreferencesResult,
    "send_welcome_sequence": WelcomeResult,
    "update_user_status": UserStatusResult,
}
"""The steps this code runs, each with the result it reads back (see the order saga)."""
PARALLEL_BRANCH = ("setup_billing_profile", "initialize_preferences")
FINAL_STEP = "update_user_status"
DONE_STATES = {StepState.COMPLETE, StepState.SKIPPED, StepState.RESOLVED_MANUALLY}


def _error(error: StepError) -> str:
    return f"{error.type}: {error.message}"


@workflow.defn(name="UserRegistrationWorkflow")
class UserRegistrationWorkflow(SagaWorkflow):
    @workflow.init
    def __init__(self, request: RegistrationRequest) -> None:
        registration = request.registration
        self._status = SagaStatus(
            workflow_id=workflow.info().workflow_id,
            workflow=request.plan.workflow,
            correlation_id=registration.correlation_id or new_correlation_id("reg"),
        )
        cid = self._status.correlation_id
        user = registration.user_info

        def user_id(results: Results) -> str | None:
            account = result_of(UserAccountResult, results, "create_user_account")
            return account.user_id if account else None

        def billing_input(results: Results) -> SetupBillingInput | Skip:
            if user.plan == "free":
                return Skip(billing_skipped(user_id(results), cid).model_dump(mode="json"))
            return SetupBillingInput(
                correlation_id=cid,
                user_id=user_id(results),
                plan=user.plan,
                billing_info=registration.billing_info,
            )

        def plan(results: Results) -> Plan:
            """The effective plan: billing's (free when skipped or deferred)."""
            billed = result_of(BillingResult, results, "setup_billing_profile")
            return billed.plan if billed else "free"

        def known_user() -> str | None:
            return user_id(self.runner.results)

        specs = {
            "create_user_account": StepSpec(
                lambda _: CreateUserInput(
                    correlation_id=cid, user_info=user, preferences=registration.preferences
                )
            ),
            "setup_billing_profile": StepSpec(
                billing_input,
                fallback=lambda error: billing_deferred(
                    known_user(), user.plan, _error(error), cid
                ).model_dump(mode="json"),
            ),
            "initialize_preferences": StepSpec(
                lambda r: InitializePreferencesInput(
                    correlation_id=cid, user_id=user_id(r), preferences=registration.preferences
                ),
                fallback=lambda error: preferences_fallback(
                    known_user(), _error(error), cid
                ).model_dump(mode="json"),
            ),
            "send_welcome_sequence": StepSpec(
                lambda r: SendWelcomeInput(
                    correlation_id=cid,
                    user_id=user_id(r),
                    email=user.email,
                    name=user.name,
                    plan=plan(r),
                ),
                fallback=lambda error: welcome_failed(
                    known_user(), plan(self.runner.results), _error(error), cid
                ).model_dump(mode="json"),
            ),
            FINAL_STEP: StepSpec(
                lambda r: UpdateUserStatusInput(
                    correlation_id=cid,
                    user_id=user_id(r),
                    completed_steps=completed_steps(self._status),
                    step_details=step_details(self._status),
                ),
            ),
        }
        self.runner = StepRunner(request.plan, self._status, specs, STEP_RESULTS)

    @workflow.run
    async def run(self, request: RegistrationRequest) -> SagaStatus:
        results = await self.run_steps()
        self._status.result = registration_outcome(request.registration, results, self._status)
        return self.runner.final_document()


def completed_steps(status: SagaStatus) -> list[str]:
    """Steps that did their job (a skipped free-plan billing step counts; a fallback not)."""
    return [
        name
        for name, step in status.steps.items()
        if name != FINAL_STEP and step.state in DONE_STATES
    ]


def step_details(status: SagaStatus) -> dict[str, dict[str, Any]]:
    """What the user service records about each earlier step."""
    return {
        name: {
            "state": step.state.value,
            "attempts": step.attempts,
            "status": (step.result or {}).get("status"),
        }
        for name, step in status.steps.items()
        if name != FINAL_STEP
    }


def registration_outcome(
    registration: RegistrationInput, results: Results, status: SagaStatus
) -> dict[str, Any]:
    """The summary a caller wants: who, on which plan, what degraded, and how long it took."""
    account = results.get("create_user_account", {})
    billing = results.get("setup_billing_profile", {})
    preferences = results.get("initialize_preferences", {})
    welcome = status.steps["send_welcome_sequence"]
    final = status.steps[FINAL_STEP]
    user = registration.user_info
    return {
        "user_id": account.get("user_id"),
        "email": account.get("email"),
        "account": account.get("status"),
        "plan_type": billing.get("plan", user.plan),
        "requested_plan": user.plan,
        "billing_status": billing.get("billing_status"),
        "preferences": preferences.get("status"),
        "fallback_used": bool(preferences.get("fallback_used")),
        "welcome": "sent" if welcome.state is StepState.COMPLETE else "failed",
        "registration_complete": final.state in DONE_STATES,
        "registration_source": user.source,
        "correlation_id": status.correlation_id,
        "timings": step_timings(status),
        "parallel_branch": parallel_savings(status, PARALLEL_BRANCH),
    }
