"""The registration saga's pure parts and its activities one call at a time.

Activities run in Temporal's ``ActivityEnvironment`` against the in-memory services of
``tests.workflows.registration_doubles``, so the real bodies, headers and the shared HTTP
status table are what is checked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.registration import (
    billing_body,
    create_user_body,
    onboarding_steps,
    plan_features,
    preferences_body,
    same_registration,
    status_body,
    welcome_body,
)
from adapter.policy import build_plan
from adapter.schema import validate_input
from adapter.urls import service_urls
from models.plan import OnExhausted
from models.registration import (
    BillingAddress,
    BillingInfo,
    CreateUserInput,
    InitializePreferencesInput,
    Preferences,
    RegistrationInput,
    SendWelcomeInput,
    SetupBillingInput,
    UpdateUserStatusInput,
    UserInfo,
    preference_settings,
)
from models.status import SagaStatus, StepState, StepStatus
from sagas.catalogue import saga
from sagas.prepare import prepare
from tests.workflows.registration_doubles import (
    FakeServices,
    RegistrationDoubles,
    Script,
    always,
    status,
)
from workflows.saga import parallel_savings, step_timings
from workflows.user_registration import completed_steps, registration_outcome, step_details

ROOT = Path(__file__).resolve().parents[2]
SAMPLE: dict[str, Any] = json.loads((ROOT / "examples" / "registration_sample.json").read_text())
CID = "reg_1700000000_0badcafe"
USER = UserInfo(
    email="sarah@growthcorp.com", name="Sarah Chen", phone="+1 555 0100", plan="pro",
    referral_code="FRIEND10", company="GrowthCorp", source="mobile",
)  # fmt: skip
PREFS = Preferences(marketing_emails=True, product_updates=True, newsletter=False)
ADDRESS = BillingAddress(street="100 Market St", city="San Francisco", state="CA", zip="94105")


# -- plan rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "features"),
    [
        ("enterprise", ["advanced_analytics", "priority_support", "custom_integrations",
                        "dedicated_account_manager"]),
        ("pro", ["analytics", "priority_support", "integrations"]),
        ("free", ["basic_features", "community_support"]),
    ],
)  # fmt: skip
def test_plan_features(plan: str, features: list[str]) -> None:
    assert plan_features(plan) == features


@pytest.mark.parametrize(
    ("plan", "extra"),
    [
        ("enterprise", ["schedule_onboarding_call", "setup_sso", "configure_integrations"]),
        ("pro", ["setup_integrations", "configure_analytics"]),
        ("free", ["upgrade_prompt"]),
    ],
)
def test_onboarding_steps(plan: str, extra: list[str]) -> None:
    assert onboarding_steps(plan) == ["complete_profile", "verify_email", "tour_dashboard", *extra]


def test_plan_lists_are_copies() -> None:
    plan_features("pro").append("free_lunch")
    onboarding_steps("pro").append("nap")
    assert "free_lunch" not in plan_features("pro")
    assert "nap" not in onboarding_steps("pro")


@pytest.mark.parametrize(("newsletter", "frequency"), [(True, "weekly"), (False, "never")])
def test_preference_settings(newsletter: bool, frequency: str) -> None:
    settings = preference_settings(Preferences(marketing_emails=True, newsletter=newsletter))
    assert settings["newsletter_frequency"] == frequency
    assert settings["marketing_consent"] is True
    assert (settings["theme"], settings["language"], settings["timezone"]) == (
        "light", "en", "UTC",
    )  # fmt: skip
    assert settings["notifications"]["marketing"] is True


# -- request bodies ------------------------------------------------------------------------


def test_create_user_body() -> None:
    body = create_user_body(CreateUserInput(correlation_id=CID, user_info=USER, preferences=PREFS))
    assert body == {
        "email": "sarah@growthcorp.com", "name": "Sarah Chen", "phone": "+1 555 0100",
        "plan": "pro", "marketing_consent": True, "referral_code": "FRIEND10",
        "source": "mobile",
    }  # fmt: skip


def test_billing_body() -> None:
    arg = SetupBillingInput(
        correlation_id=CID, user_id="usr_1", plan="pro",
        billing_info=BillingInfo(payment_method="pm_card_visa", billing_address=ADDRESS),
    )  # fmt: skip
    assert billing_body(arg) == {
        "user_id": "usr_1", "plan": "pro", "payment_method": "pm_card_visa",
        "billing_address": {"street": "100 Market St", "city": "San Francisco", "state": "CA",
                            "zip": "94105"},
    }  # fmt: skip


def test_preferences_body() -> None:
    body = preferences_body(
        InitializePreferencesInput(correlation_id=CID, user_id="usr_1", preferences=PREFS)
    )
    assert body == {"user_id": "usr_1", **preference_settings(PREFS)}
    assert body["notifications"]["product_updates"] is True


def test_welcome_body_uses_the_plan_given() -> None:
    arg = SendWelcomeInput(
        correlation_id=CID, user_id="usr_1", email="a@b.co", name="A", plan="enterprise"
    )
    body = welcome_body(arg)
    assert body["plan"] == "enterprise"
    assert body["features"] == plan_features("enterprise")
    assert body["onboarding_steps"] == onboarding_steps("enterprise")
    assert (body["user_id"], body["email"], body["name"]) == ("usr_1", "a@b.co", "A")


def test_status_body() -> None:
    arg = UpdateUserStatusInput(
        correlation_id=CID, user_id="usr_1", completed_steps=["create_user_account"],
        step_details={"create_user_account": {"state": "complete"}},
    )  # fmt: skip
    when = datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert status_body(arg, when) == {
        "status": "registration_complete",
        "completed_steps": ["create_user_account"],
        "step_details": {"create_user_account": {"state": "complete"}},
        "completion_timestamp": "2026-11-22T10:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("existing", "same"),
    [
        ({"email": "Sarah@GrowthCorp.com ", "name": "Sarah Chen", "plan": "pro"}, True),
        ({"email": "sarah@growthcorp.com", "name": "Sarah C.", "plan": "pro"}, False),
        ({"email": "sarah@growthcorp.com", "name": "Sarah Chen", "plan": "free"}, False),
        ({"email": "other@growthcorp.com", "name": "Sarah Chen", "plan": "pro"}, False),
    ],
)
def test_same_registration(existing: dict[str, Any], same: bool) -> None:
    assert same_registration(existing, USER) is same


# -- identity, input, config ---------------------------------------------------------------


def test_workflow_id_is_derived_from_the_email_only() -> None:
    registration = saga("register")
    first = prepare(registration, SAMPLE)
    shouting = {**SAMPLE, "user_info": {**SAMPLE["user_info"], "email": "SARAH@GrowthCorp.com"}}
    renamed = {**SAMPLE, "user_info": {**SAMPLE["user_info"], "name": "S. Chen"}}
    other = {**SAMPLE, "user_info": {**SAMPLE["user_info"], "email": "sam@growthcorp.com"}}
    assert first.workflow_id.startswith("registration-")
    assert "sarah" not in first.workflow_id  # a digest: no address in ids or the UI
    assert prepare(registration, shouting).workflow_id == first.workflow_id
    assert prepare(registration, renamed).workflow_id == first.workflow_id
    assert prepare(registration, other).workflow_id != first.workflow_id


def test_sample_is_the_spec_pro_plan() -> None:
    registration = RegistrationInput.model_validate(SAMPLE)
    assert registration.user_info.email == "sarah@growthcorp.com"
    assert registration.user_info.name == "Sarah Chen"
    assert registration.user_info.plan == "pro"
    assert registration.billing_info.payment_method
    assert registration.preferences.marketing_emails is True
    assert registration.correlation_id is None


def test_invalid_input_names_every_violation() -> None:
    bad = {"user_info": {"email": "not-an-email", "name": "", "plan": "gold", "source": "fax"},
           "preferences": {"newsletter": "yes"}}  # fmt: skip
    paths = {error.path for error in validate_input(saga("register").template().schema, bad)}
    assert paths == {
        "$.user_info.email", "$.user_info.name", "$.user_info.plan", "$.user_info.source",
        "$.preferences.newsletter",
    }  # fmt: skip
    missing = validate_input(saga("register").template().schema, {"user_info": {}})
    assert {e.path for e in missing} == {"$.user_info.email", "$.user_info.name"}


def test_config_is_a_diamond_with_the_spec_limits() -> None:
    plan = build_plan(saga("register").template())
    assert plan.workflow == "user_registration"
    steps = {step.name: step for step in plan.steps}
    assert {name: step.depends_on for name, step in steps.items()} == {
        "create_user_account": [],
        "setup_billing_profile": ["create_user_account"],
        "initialize_preferences": ["create_user_account"],
        "send_welcome_sequence": ["setup_billing_profile", "initialize_preferences"],
        "update_user_status": ["send_welcome_sequence"],
    }
    assert [s.attempt_limit for s in plan.steps] == [3, 3, 3, 5, 2]
    assert [s.retry.maximum_attempts for s in plan.steps] == [20] * 5  # outages
    assert [s.on_exhausted for s in plan.steps] == [
        OnExhausted.FAIL, OnExhausted.CONTINUE, OnExhausted.CONTINUE, OnExhausted.CONTINUE,
        OnExhausted.INTERVENE,
    ]  # fmt: skip
    assert plan.overrides == []


def test_service_urls_keep_each_service_path_under_the_override() -> None:
    urls = service_urls(saga("register").template(), {"SAGA_SERVICES_URL": "http://h:9"})
    assert urls == {
        "create_user_account": "http://h:9/users",
        "setup_billing_profile": "http://h:9/billing",
        "initialize_preferences": "http://h:9/preferences",
        "send_welcome_sequence": "http://h:9/notifications",
        "update_user_status": "http://h:9/users",
    }
    one = service_urls(saga("register").template(), {"SAGA_URL_SETUP_BILLING_PROFILE": "http://b"})
    assert one["setup_billing_profile"] == "http://b"
    assert one["create_user_account"] == "http://127.0.0.1:8700/users"


# -- the activities, one call at a time ----------------------------------------------------


@pytest.fixture
def world() -> FakeServices:
    return FakeServices()


async def call(services: FakeServices, step: str, arg: BaseModel) -> dict[str, Any]:
    """Run one activity as Temporal would (workflow id "wf-1"); return its result."""
    doubles = RegistrationDoubles(services)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        activity_type=step,
        workflow_id="wf-1",
        start_to_close_timeout=timedelta(seconds=5),
    )
    try:
        output = await env.run(getattr(doubles.activities, step), arg)
    finally:
        await doubles.aclose()
    result: dict[str, Any] = output.result
    return result


async def fails(services: FakeServices, step: str, arg: BaseModel) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await call(services, step, arg)
    return raised.value


def create_arg(user: UserInfo = USER) -> CreateUserInput:
    return CreateUserInput(correlation_id=CID, user_info=user, preferences=PREFS)


def billing_arg(plan: Any = "pro", payment: str | None = "pm_card_visa") -> SetupBillingInput:
    return SetupBillingInput(
        correlation_id=CID, user_id="usr_1", plan=plan,
        billing_info=BillingInfo(payment_method=payment, billing_address=ADDRESS),
    )  # fmt: skip


def prefs_arg() -> InitializePreferencesInput:
    return InitializePreferencesInput(correlation_id=CID, user_id="usr_1", preferences=PREFS)


def welcome_arg(plan: Any = "pro") -> SendWelcomeInput:
    return SendWelcomeInput(
        correlation_id=CID, user_id="usr_1", email="sarah@growthcorp.com", name="Sarah Chen",
        plan=plan,
    )  # fmt: skip


def status_arg() -> UpdateUserStatusInput:
    return UpdateUserStatusInput(
        correlation_id=CID, user_id="usr_1", completed_steps=["create_user_account"],
        step_details={},
    )  # fmt: skip


STEP_ARGS: dict[str, tuple[str, Callable[[], BaseModel]]] = {
    "create_user_account": ("users.create", create_arg),
    "setup_billing_profile": ("billing.create", billing_arg),
    "initialize_preferences": ("preferences.create", prefs_arg),
    "send_welcome_sequence": ("notifications.welcome", welcome_arg),
    "update_user_status": ("users.update", status_arg),
}


def with_user_1(services: FakeServices) -> FakeServices:
    services.users.append({"id": "usr_1", "email": "sarah@growthcorp.com", "name": "Sarah Chen",
                           "plan": "pro", "created_at": "2026-11-22T10:00:00+00:00"})  # fmt: skip
    return services


@pytest.mark.parametrize("step", list(STEP_ARGS))
async def test_every_request_carries_correlation_id_and_idempotency_key(step: str) -> None:
    op, arg = STEP_ARGS[step]
    services = with_user_1(FakeServices()) if step == "update_user_status" else FakeServices()
    result = await call(services, step, arg())
    (request,) = services.of(op)
    assert request.headers["x-correlation-id"] == CID
    assert request.headers["idempotency-key"] == f"wf-1:{step}"
    assert result["correlation_id"] == CID


async def test_bodies_sent_to_each_service(world: FakeServices) -> None:
    with_user_1(world)
    await call(
        world, "create_user_account", create_arg(USER.model_copy(update={"email": "n@x.co"}))
    )
    await call(world, "setup_billing_profile", billing_arg())
    await call(world, "initialize_preferences", prefs_arg())
    await call(world, "send_welcome_sequence", welcome_arg())
    await call(world, "update_user_status", status_arg())
    bodies = {r.op: (r.method, r.path, r.body) for r in world.requests}
    assert bodies["users.create"] == (
        "POST", "/users", create_user_body(create_arg(USER.model_copy(update={"email": "n@x.co"})))
    )  # fmt: skip
    assert bodies["billing.create"] == ("POST", "/billing/profiles", billing_body(billing_arg()))
    assert bodies["preferences.create"] == ("POST", "/preferences", preferences_body(prefs_arg()))
    assert bodies["notifications.welcome"] == (
        "POST", "/notifications/welcome-sequences", welcome_body(welcome_arg()),
    )  # fmt: skip
    method, path, body = bodies["users.update"]
    assert (method, path) == ("PATCH", "/users/usr_1")
    assert body is not None
    assert body["status"] == "registration_complete"
    assert datetime.fromisoformat(body["completion_timestamp"]).tzinfo is not None


async def test_create_user_201(world: FakeServices) -> None:
    result = await call(world, "create_user_account", create_arg())
    assert result["status"] == "created"
    assert result["user_id"].startswith("usr_")
    assert (result["email"], result["plan"]) == ("sarah@growthcorp.com", "pro")


async def test_create_user_409_same_data_is_already_exists(world: FakeServices) -> None:
    with_user_1(world)
    result = await call(world, "create_user_account", create_arg())
    assert (result["status"], result["user_id"]) == ("already_exists", "usr_1")
    lookup = world.of("users.lookup")[0]
    assert lookup.headers["idempotency-key"] == "wf-1:create_user_account:lookup"


async def test_create_user_409_other_data_is_user_conflict(world: FakeServices) -> None:
    with_user_1(world)
    error = await fails(
        world, "create_user_account", create_arg(USER.model_copy(update={"plan": "free"}))
    )
    assert (error.type, error.non_retryable) == ("USER_CONFLICT", True)


@pytest.mark.parametrize(("field", "code"), [("email", "MISSING_EMAIL"), ("name", "MISSING_NAME")])
async def test_create_user_requires_email_and_name(
    world: FakeServices, field: str, code: str
) -> None:
    error = await fails(
        world, "create_user_account", create_arg(USER.model_copy(update={field: None}))
    )
    assert (error.type, error.non_retryable) == (code, True)
    assert world.requests == []


@pytest.mark.parametrize("step", [s for s in STEP_ARGS if s != "create_user_account"])
async def test_later_steps_require_a_user_id(world: FakeServices, step: str) -> None:
    arg = STEP_ARGS[step][1]().model_copy(update={"user_id": None})
    error = await fails(world, step, arg)
    assert (error.type, error.non_retryable) == ("MISSING_USER_ID", True)
    assert world.requests == []


async def test_billing_free_plan_makes_no_call(world: FakeServices) -> None:
    result = await call(world, "setup_billing_profile", billing_arg(plan="free"))
    assert (result["status"], result["billing_status"], result["plan"]) == (
        "skipped_free_plan", "not_required", "free",
    )  # fmt: skip
    assert world.requests == []


async def test_billing_created_then_409_already_exists(world: FakeServices) -> None:
    first = await call(world, "setup_billing_profile", billing_arg())
    again = await call(world, "setup_billing_profile", billing_arg())
    assert (first["status"], first["billing_status"]) == ("created", "active")
    assert (again["status"], again["profile_id"]) == ("already_exists", first["profile_id"])


async def test_preferences_created_then_409_already_exists(world: FakeServices) -> None:
    first = await call(world, "initialize_preferences", prefs_arg())
    again = await call(world, "initialize_preferences", prefs_arg())
    assert (first["status"], first["fallback_used"]) == ("created", False)
    assert (again["status"], again["preferences_id"]) == ("already_exists", first["preferences_id"])


async def test_welcome_result(world: FakeServices) -> None:
    result = await call(world, "send_welcome_sequence", welcome_arg("enterprise"))
    assert (result["plan"], result["emails_sent"], len(result["email_ids"])) == ("enterprise", 5, 5)
    assert result["sequence_id"].startswith("seq_")


# -- the HTTP table, as each registration step sees it -------------------------------------


def refuse(call_number: int) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def hang(call_number: int) -> httpx.Response:
    raise httpx.ReadTimeout("timed out")


@pytest.mark.parametrize(
    ("step", "script", "code", "non_retryable"),
    [
        ("create_user_account", always(lambda: status(400)), "CLIENT_VALIDATION_ERROR", True),
        ("create_user_account", always(lambda: status(422)), "CLIENT_VALIDATION_ERROR", True),
        ("initialize_preferences", always(lambda: status(401)), "AUTH_ERROR", True),
        ("send_welcome_sequence", always(lambda: status(403)), "AUTH_ERROR", True),
        ("setup_billing_profile", always(lambda: status(402)), "PAYMENT_REQUIRED", True),
        ("setup_billing_profile", always(lambda: status(404)), "RESOURCE_NOT_FOUND", True),
        ("update_user_status", always(lambda: status(404)), "USER_NOT_FOUND", True),
        ("create_user_account", always(lambda: status(500)), "SERVICE_ERROR", False),
        ("setup_billing_profile", always(lambda: status(503)), "SERVICE_UNAVAILABLE", False),
        ("initialize_preferences", always(lambda: status(504)), "SERVICE_TIMEOUT", False),
        ("send_welcome_sequence", refuse, "SERVICE_UNAVAILABLE", False),
        ("update_user_status", hang, "SERVICE_TIMEOUT", False),
    ],
)
async def test_status_table_per_step(
    world: FakeServices, step: str, script: Script, code: str, non_retryable: bool
) -> None:
    op, arg = STEP_ARGS[step]
    world.script[op] = script
    error = await fails(world, step, arg())
    assert (error.type, error.non_retryable) == (code, non_retryable)
    assert error.next_retry_delay is None


async def test_billing_402_without_payment_method_is_payment_required() -> None:
    """The real billing service answers 402; here the script does, with its message."""
    world = FakeServices(script={"billing.create": always(lambda: status(402))})
    error = await fails(world, "setup_billing_profile", billing_arg(payment=None))
    assert error.type == "PAYMENT_REQUIRED"
    body = world.of("billing.create")[0].body
    assert body is not None
    assert body["payment_method"] is None


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [(60, timedelta(seconds=60)), (None, timedelta(seconds=60)), (7, timedelta(seconds=7)),
     (900, timedelta(seconds=300))],
)  # fmt: skip
async def test_rate_limited_welcome_honours_retry_after(
    retry_after: int | None, delay: timedelta
) -> None:
    world = FakeServices(
        script={"notifications.welcome": always(lambda: status(429, retry_after=retry_after))}
    )
    error = await fails(world, "send_welcome_sequence", welcome_arg())
    assert (error.type, error.non_retryable) == ("RATE_LIMITED", False)
    assert error.next_retry_delay == delay


# -- the workflow's pure summaries ---------------------------------------------------------


T0 = datetime(2026, 11, 22, 10, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def saga_status(**steps: StepStatus) -> SagaStatus:
    return SagaStatus(workflow_id="wf", workflow="user_registration", correlation_id=CID,
                      steps=steps)  # fmt: skip


def test_parallel_savings_is_sum_minus_wall_time() -> None:
    status_ = saga_status(
        setup_billing_profile=StepStatus(started_at=at(1), finished_at=at(4)),
        initialize_preferences=StepStatus(started_at=at(1), finished_at=at(3)),
    )
    assert parallel_savings(status_, ["setup_billing_profile", "initialize_preferences"]) == {
        "steps": ["setup_billing_profile", "initialize_preferences"],
        "sequential_seconds": 5.0, "wall_seconds": 3.0, "saved_seconds": 2.0,
    }  # fmt: skip


def test_parallel_savings_of_sequential_or_missing_steps_is_zero() -> None:
    sequential = saga_status(
        a=StepStatus(started_at=at(0), finished_at=at(2)),
        b=StepStatus(started_at=at(2), finished_at=at(5)),
    )
    assert parallel_savings(sequential, ["a", "b"])["saved_seconds"] == 0.0
    assert parallel_savings(saga_status(), ["a", "b"])["saved_seconds"] == 0.0


def test_step_timings_only_for_steps_that_ran() -> None:
    status_ = saga_status(a=StepStatus(started_at=at(0), finished_at=at(1.5)), b=StepStatus())
    assert step_timings(status_) == {"a": 1.5}


def degraded_status() -> SagaStatus:
    def done(state: StepState, result: dict[str, Any]) -> StepStatus:
        return StepStatus(state=state, attempts=1, result=result, started_at=T0, finished_at=T0)

    return saga_status(
        create_user_account=done(StepState.COMPLETE, {"user_id": "usr_1", "email": "e@x.co",
                                                      "status": "created"}),
        setup_billing_profile=done(StepState.ERROR, {"plan": "free", "status": "deferred",
                                                     "billing_status": "deferred"}),
        initialize_preferences=done(StepState.ERROR, {"status": "defaults",
                                                      "fallback_used": True}),
        send_welcome_sequence=done(StepState.COMPLETE, {"status": "sent"}),
        update_user_status=done(StepState.COMPLETE, {"status": "registration_complete"}),
    )  # fmt: skip


def test_completed_steps_and_details_leave_fallbacks_out() -> None:
    status_ = degraded_status()
    assert completed_steps(status_) == ["create_user_account", "send_welcome_sequence"]
    details = step_details(status_)
    assert "update_user_status" not in details
    assert details["setup_billing_profile"] == {"state": "error", "attempts": 1,
                                                "status": "deferred"}  # fmt: skip


def test_outcome_of_a_degraded_registration() -> None:
    status_ = degraded_status()
    results = {name: step.result or {} for name, step in status_.steps.items()}
    outcome = registration_outcome(RegistrationInput.model_validate(SAMPLE), results, status_)
    assert {k: outcome[k] for k in (
        "user_id", "plan_type", "requested_plan", "billing_status", "preferences",
        "fallback_used", "welcome", "registration_complete", "registration_source",
        "correlation_id",
    )} == {
        "user_id": "usr_1", "plan_type": "free", "requested_plan": "pro",
        "billing_status": "deferred", "preferences": "defaults", "fallback_used": True,
        "welcome": "sent", "registration_complete": True, "registration_source": "web",
        "correlation_id": CID,
    }  # fmt: skip
    assert set(outcome["timings"]) == set(status_.steps)
