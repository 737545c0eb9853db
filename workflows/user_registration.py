"""The user registration saga: a diamond of five service calls with graceful degradation.

create_user_account → (setup_billing_profile ∥ initialize_preferences) →
send_welcome_sequence → update_user_status. The order, the concurrency, the retries and
what exhaustion means come from the plan (the YAML) and the shared step runner; the steps
and what they read are declared in ``models.registration``. This module wires inputs, says
what each degraded step records, and summarises the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio import workflow

from models.registration import (
    CREATE_USER_ACCOUNT,
    INITIALIZE_PREFERENCES,
    REGISTRATION_STEPS,
    SEND_WELCOME_SEQUENCE,
    SETUP_BILLING_PROFILE,
    UPDATE_USER_STATUS,
    CreateUserInput,
    InitializePreferencesInput,
    Plan,
    RegistrationInput,
    RegistrationRequest,
    SendWelcomeInput,
    SetupBillingInput,
    UpdateUserStatusInput,
    billing_deferred,
    billing_skipped,
    preferences_fallback,
    welcome_failed,
)
from models.status import SagaStatus, StepError, StepState
from workflows.saga import SagaWorkflow, parallel_savings, step_timings
from workflows.steps import Reads, Results, Skip, StepSpec

PARALLEL_BRANCH = ("setup_billing_profile", "initialize_preferences")
FINAL_STEP = "update_user_status"
DONE_STATES = {StepState.COMPLETE, StepState.SKIPPED, StepState.RESOLVED_MANUALLY}


def _error(error: StepError) -> str:
    return f"{error.type}: {error.message}"


@workflow.defn(name="UserRegistrationWorkflow")
class UserRegistrationWorkflow(SagaWorkflow[RegistrationInput]):
    steps = REGISTRATION_STEPS
    correlation_prefix = "reg"

    @workflow.init
    def __init__(self, request: RegistrationRequest) -> None:
        super().__init__(request.registration, request.plan)

    @workflow.run
    async def run(self, request: RegistrationRequest) -> SagaStatus:
        return await self.run_saga()

    def specs(self) -> Mapping[Any, StepSpec]:
        registration, cid = self.input, self.correlation_id
        user = registration.user_info

        def user_id(reads: Reads) -> str | None:
            account = reads[CREATE_USER_ACCOUNT]
            return account.user_id if account else None

        def plan(reads: Reads) -> Plan:
            """The effective plan: billing's (free when skipped or deferred)."""
            billed = reads[SETUP_BILLING_PROFILE]
            return billed.plan if billed else "free"

        def billing_input(reads: Reads) -> SetupBillingInput | Skip:
            if user.plan == "free":
                return Skip(billing_skipped(user_id(reads), cid).model_dump(mode="json"))
            return SetupBillingInput(
                correlation_id=cid,
                user_id=user_id(reads),
                plan=user.plan,
                billing_info=registration.billing_info,
            )

        return {
            CREATE_USER_ACCOUNT: StepSpec(
                lambda _: CreateUserInput(
                    correlation_id=cid, user_info=user, preferences=registration.preferences
                )
            ),
            SETUP_BILLING_PROFILE: StepSpec(
                billing_input,
                fallback=lambda error, r: billing_deferred(
                    user_id(r), user.plan, _error(error), cid
                ),
            ),
            INITIALIZE_PREFERENCES: StepSpec(
                lambda r: InitializePreferencesInput(
                    correlation_id=cid, user_id=user_id(r), preferences=registration.preferences
                ),
                fallback=lambda error, r: preferences_fallback(user_id(r), _error(error), cid),
            ),
            SEND_WELCOME_SEQUENCE: StepSpec(
                lambda r: SendWelcomeInput(
                    correlation_id=cid,
                    user_id=user_id(r),
                    email=user.email,
                    name=user.name,
                    plan=plan(r),
                ),
                fallback=lambda error, r: welcome_failed(user_id(r), plan(r), _error(error), cid),
            ),
            UPDATE_USER_STATUS: StepSpec(
                lambda r: UpdateUserStatusInput(
                    correlation_id=cid,
                    user_id=user_id(r),
                    completed_steps=completed_steps(self._status),
                    step_details=step_details(self._status),
                ),
            ),
        }

    def outcome(self, results: Results) -> dict[str, Any]:
        return registration_outcome(self.input, results, self._status)


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
