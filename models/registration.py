"""The registration saga's input, step inputs and step results, plus its degraded results.

Every step result carries ``user_id`` and ``correlation_id``, including the results the
saga records without a successful call (a skipped billing step, a fallback), so the status
document is uniform whatever path a registration took.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.limits import Email, Identifier, Text
from models.plan import SagaPlan
from models.steps import Step, Steps

Plan = Literal["free", "pro", "enterprise"]
PAID_PLANS: frozenset[str] = frozenset({"pro", "enterprise"})


# -- input ---------------------------------------------------------------------------------


# Required fields, types and enums are the config schema's; the types here add the bounds
# of models/limits.py (see the README's "Input limits").


class UserInfo(BaseModel):
    email: Email | None = None
    name: Text | None = None
    phone: Text | None = None
    plan: Plan = "free"
    referral_code: Text | None = None
    company: Text | None = None
    source: Literal["web", "mobile", "api"] = "web"


class BillingAddress(BaseModel):
    street: Text | None = None
    city: Text | None = None
    state: Text | None = None
    zip: Text | None = None


class BillingInfo(BaseModel):
    payment_method: Text | None = None
    billing_address: BillingAddress | None = None


class Preferences(BaseModel):
    marketing_emails: bool = False
    product_updates: bool = False
    newsletter: bool = False


class RegistrationInput(BaseModel):
    user_info: UserInfo = Field(default_factory=UserInfo)
    billing_info: BillingInfo = Field(default_factory=BillingInfo)
    preferences: Preferences = Field(default_factory=Preferences)
    correlation_id: Identifier | None = None


class RegistrationRequest(BaseModel):
    """UserRegistrationWorkflow's argument: the registration and the plan it runs with."""

    registration: RegistrationInput
    plan: SagaPlan


def registration_summary(request: RegistrationRequest) -> str:
    """The saga's one-line summary in the Web UI: the plan and the source, never the user."""
    user = request.registration.user_info
    return f"User registration: {user.plan} plan, from {user.source}"


def registration_identity(data: dict[str, Any]) -> str:
    """One registration per email: the trimmed, lower-cased address (the workflow id is a
    keyed digest of it, so no personal data is in the id)."""
    return str((data.get("user_info") or {}).get("email", "")).strip().lower()


# -- step inputs ---------------------------------------------------------------------------


class RegistrationStepInput(BaseModel):
    """Every step input carries the saga's correlation id, for headers and log lines."""

    correlation_id: str


class CreateUserInput(RegistrationStepInput):
    user_info: UserInfo
    preferences: Preferences


class SetupBillingInput(RegistrationStepInput):
    user_id: str | None
    plan: Plan
    billing_info: BillingInfo


class InitializePreferencesInput(RegistrationStepInput):
    user_id: str | None
    preferences: Preferences


class SendWelcomeInput(RegistrationStepInput):
    user_id: str | None
    email: str | None
    name: str | None
    plan: Plan
    """The effective plan: billing's, so a deferred paid plan is welcomed as free."""


class UpdateUserStatusInput(RegistrationStepInput):
    user_id: str | None
    completed_steps: list[str]
    step_details: dict[str, dict[str, Any]]


# -- step results --------------------------------------------------------------------------


class UserAccountResult(BaseModel):
    user_id: str
    email: str
    name: str
    plan: Plan
    created_at: datetime
    correlation_id: str
    status: Literal["created", "already_exists"]


class BillingResult(BaseModel):
    user_id: str | None
    profile_id: str | None = None
    plan: Plan
    """The plan the account continues on (free when billing is deferred)."""
    requested_plan: Plan
    status: Literal["created", "already_exists", "skipped_free_plan", "deferred"]
    billing_status: Literal["active", "not_required", "deferred"]
    correlation_id: str
    error: str | None = None


class PreferencesResult(BaseModel):
    user_id: str | None
    preferences_id: str | None = None
    status: Literal["created", "already_exists", "defaults"]
    fallback_used: bool = False
    settings: dict[str, Any]
    correlation_id: str
    error: str | None = None


class WelcomeResult(BaseModel):
    user_id: str | None
    sequence_id: str | None = None
    plan: Plan
    emails_sent: int = 0
    email_ids: list[str] = Field(default_factory=list)
    status: Literal["sent", "failed"] = "sent"
    correlation_id: str
    error: str | None = None


class UserStatusResult(BaseModel):
    user_id: str
    status: str
    completed_steps: list[str]
    registration_complete: Literal[True] = True
    correlation_id: str


# -- pure rules ----------------------------------------------------------------------------


def preference_settings(preferences: Preferences) -> dict[str, Any]:
    """What the preferences service stores (SPEC section 4); the defaults on fallback."""
    return {
        "marketing_consent": preferences.marketing_emails,
        "newsletter_frequency": "weekly" if preferences.newsletter else "never",
        "notifications": {
            "email": True,
            "sms": False,
            "push": False,
            "product_updates": preferences.product_updates,
            "marketing": preferences.marketing_emails,
        },
        "theme": "light",
        "language": "en",
        "timezone": "UTC",
    }


def billing_skipped(user_id: str | None, correlation_id: str) -> BillingResult:
    """A free plan needs no billing profile: graceful degradation, no call."""
    return BillingResult(
        user_id=user_id,
        plan="free",
        requested_plan="free",
        status="skipped_free_plan",
        billing_status="not_required",
        correlation_id=correlation_id,
    )


def billing_deferred(
    user_id: str | None, requested_plan: Plan, error: str, correlation_id: str
) -> BillingResult:
    """Billing failed terminally: the account continues on the free plan, billing later."""
    return BillingResult(
        user_id=user_id,
        plan="free",
        requested_plan=requested_plan,
        status="deferred",
        billing_status="deferred",
        correlation_id=correlation_id,
        error=error,
    )


def preferences_fallback(user_id: str | None, error: str, correlation_id: str) -> PreferencesResult:
    """Preferences failed terminally: the defaults apply and the registration goes on."""
    return PreferencesResult(
        user_id=user_id,
        status="defaults",
        fallback_used=True,
        settings=preference_settings(Preferences()),
        correlation_id=correlation_id,
        error=error,
    )


def welcome_failed(
    user_id: str | None, plan: Plan, error: str, correlation_id: str
) -> WelcomeResult:
    """The welcome sequence failed terminally: recorded, the registration still completes."""
    return WelcomeResult(
        user_id=user_id, plan=plan, status="failed", correlation_id=correlation_id, error=error
    )


# -- the steps -----------------------------------------------------------------------------

CREATE_USER_ACCOUNT = Step("create_user_account", UserAccountResult)
SETUP_BILLING_PROFILE = Step("setup_billing_profile", BillingResult, reads=(CREATE_USER_ACCOUNT,))
INITIALIZE_PREFERENCES = Step(
    "initialize_preferences", PreferencesResult, reads=(CREATE_USER_ACCOUNT,)
)
SEND_WELCOME_SEQUENCE = Step(
    "send_welcome_sequence", WelcomeResult, reads=(CREATE_USER_ACCOUNT, SETUP_BILLING_PROFILE)
)
UPDATE_USER_STATUS = Step(
    "update_user_status",
    UserStatusResult,
    reads=(
        CREATE_USER_ACCOUNT,
        SETUP_BILLING_PROFILE,
        INITIALIZE_PREFERENCES,
        SEND_WELCOME_SEQUENCE,
    ),
)
"""It reports every earlier step's outcome to the user service, so it reads them all."""
REGISTRATION_STEPS = Steps(
    CREATE_USER_ACCOUNT,
    SETUP_BILLING_PROFILE,
    INITIALIZE_PREFERENCES,
    SEND_WELCOME_SEQUENCE,
    UPDATE_USER_STATUS,
)
