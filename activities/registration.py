"""The registration saga's activities: one HTTP call (or two) per Tasker step handler.

Every call goes through :class:`ServiceClient` (correlation id and idempotency key on every
request) and the shared HTTP table in :mod:`activities.outcomes`; 409 reaches the step,
which treats "already done" as success. Request bodies come from pure builders below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activities.base import SagaActivities
from activities.outcomes import permanent
from activities.step import step_activity
from models.registration import (
    CREATE_USER_ACCOUNT,
    INITIALIZE_PREFERENCES,
    SEND_WELCOME_SEQUENCE,
    SETUP_BILLING_PROFILE,
    UPDATE_USER_STATUS,
    BillingResult,
    CreateUserInput,
    InitializePreferencesInput,
    Plan,
    PreferencesResult,
    SendWelcomeInput,
    SetupBillingInput,
    UpdateUserStatusInput,
    UserAccountResult,
    UserInfo,
    UserStatusResult,
    WelcomeResult,
    billing_skipped,
    preference_settings,
)

PLAN_FEATURES: dict[str, list[str]] = {
    "enterprise": [
        "advanced_analytics",
        "priority_support",
        "custom_integrations",
        "dedicated_account_manager",
    ],
    "pro": ["analytics", "priority_support", "integrations"],
    "free": ["basic_features", "community_support"],
}
BASE_ONBOARDING = ["complete_profile", "verify_email", "tour_dashboard"]
PLAN_ONBOARDING: dict[str, list[str]] = {
    "enterprise": ["schedule_onboarding_call", "setup_sso", "configure_integrations"],
    "pro": ["setup_integrations", "configure_analytics"],
    "free": ["upgrade_prompt"],
}
REGISTRATION_COMPLETE = "registration_complete"


def _now() -> datetime:
    return datetime.now(UTC)


# -- pure rules and request bodies ---------------------------------------------------------


def plan_features(plan: str) -> list[str]:
    """The features a plan's welcome sequence presents (unknown plans get free's)."""
    return list(PLAN_FEATURES.get(plan, PLAN_FEATURES["free"]))


def onboarding_steps(plan: str) -> list[str]:
    return BASE_ONBOARDING + PLAN_ONBOARDING.get(plan, PLAN_ONBOARDING["free"])


def create_user_body(arg: CreateUserInput) -> dict[str, Any]:
    user = arg.user_info
    return {
        "email": user.email,
        "name": user.name,
        "phone": user.phone,
        "plan": user.plan,
        "marketing_consent": arg.preferences.marketing_emails,
        "referral_code": user.referral_code,
        "source": user.source,
    }


def billing_body(arg: SetupBillingInput) -> dict[str, Any]:
    billing = arg.billing_info
    address = billing.billing_address
    return {
        "user_id": arg.user_id,
        "plan": arg.plan,
        "payment_method": billing.payment_method,
        "billing_address": address.model_dump() if address else None,
    }


def preferences_body(arg: InitializePreferencesInput) -> dict[str, Any]:
    return {"user_id": arg.user_id, **preference_settings(arg.preferences)}


def welcome_body(arg: SendWelcomeInput) -> dict[str, Any]:
    return {
        "user_id": arg.user_id,
        "email": arg.email,
        "name": arg.name,
        "plan": arg.plan,
        "features": plan_features(arg.plan),
        "onboarding_steps": onboarding_steps(arg.plan),
    }


def status_body(arg: UpdateUserStatusInput, completed_at: datetime) -> dict[str, Any]:
    return {
        "status": REGISTRATION_COMPLETE,
        "completed_steps": arg.completed_steps,
        "step_details": arg.step_details,
        "completion_timestamp": completed_at.isoformat(),
    }


def same_registration(existing: dict[str, Any], user: UserInfo) -> bool:
    """A 409 is our own earlier registration when email, name and plan all match."""
    return (
        str(existing.get("email", "")).strip().lower() == (user.email or "").strip().lower()
        and existing.get("name") == user.name
        and existing.get("plan") == user.plan
    )


# -- activities ----------------------------------------------------------------------------


class RegistrationActivities(SagaActivities):
    """Activities bound to one HTTP client; register with ``worker.activities()``."""

    @step_activity(CREATE_USER_ACCOUNT)
    async def create_user_account(self, arg: CreateUserInput) -> UserAccountResult:
        """Create the account; on 409 adopt the existing one if it is this registration."""
        user = arg.user_info
        if not user.email:
            raise permanent("MISSING_EMAIL", "User email is required")
        if not user.name:
            raise permanent("MISSING_NAME", "User name is required")
        response = await self.client.request(
            "POST", "", correlation_id=arg.correlation_id, json=create_user_body(arg)
        )
        if response.status_code == 409:
            return await self._existing_user(arg)
        created = response.json()
        return self._account(created, arg.correlation_id, "created")

    async def _existing_user(self, arg: CreateUserInput) -> UserAccountResult:
        user = arg.user_info
        response = await self.client.request(
            "GET",
            "",
            params={"email": user.email},
            key_suffix="lookup",
            correlation_id=arg.correlation_id,
        )
        existing = response.json()
        if not same_registration(existing, user):
            raise permanent(
                "USER_CONFLICT",
                # No email or name here: error messages reach logs and the status document.
                f"A different user with this email already exists "
                f"(user {existing.get('id')}, plan {existing.get('plan')!r})",
            )
        return self._account(existing, arg.correlation_id, "already_exists")

    @staticmethod
    def _account(user: dict[str, Any], correlation_id: str, status: str) -> UserAccountResult:
        return UserAccountResult.model_validate(
            {
                "user_id": user["id"],
                "email": user["email"],
                "name": user["name"],
                "plan": user["plan"],
                "created_at": user["created_at"],
                "correlation_id": correlation_id,
                "status": status,
            }
        )

    @step_activity(SETUP_BILLING_PROFILE)
    async def setup_billing_profile(self, arg: SetupBillingInput) -> BillingResult:
        """A paid plan's billing profile; a free plan needs none (no call)."""
        if not arg.user_id:
            raise permanent("MISSING_USER_ID", "User id from create_user_account is required")
        if arg.plan == "free":
            return billing_skipped(arg.user_id, arg.correlation_id)
        response = await self.client.request(
            "POST", "/profiles", correlation_id=arg.correlation_id, json=billing_body(arg)
        )
        profile = response.json()
        exists = response.status_code == 409
        plan: Plan = arg.plan if exists else profile["plan"]
        return BillingResult(
            user_id=arg.user_id,
            profile_id=profile["profile_id"] if exists else profile["id"],
            plan=plan,
            requested_plan=arg.plan,
            status="already_exists" if exists else "created",
            billing_status="active",
            correlation_id=arg.correlation_id,
        )

    @step_activity(INITIALIZE_PREFERENCES)
    async def initialize_preferences(self, arg: InitializePreferencesInput) -> PreferencesResult:
        if not arg.user_id:
            raise permanent("MISSING_USER_ID", "User id from create_user_account is required")
        body = preferences_body(arg)
        response = await self.client.request(
            "POST", "", correlation_id=arg.correlation_id, json=body
        )
        stored = response.json()
        exists = response.status_code == 409
        return PreferencesResult(
            user_id=arg.user_id,
            preferences_id=stored["preferences_id"] if exists else stored["id"],
            status="already_exists" if exists else "created",
            settings=preference_settings(arg.preferences),
            correlation_id=arg.correlation_id,
        )

    @step_activity(SEND_WELCOME_SEQUENCE)
    async def send_welcome_sequence(self, arg: SendWelcomeInput) -> WelcomeResult:
        """The plan's welcome sequence; 429 waits for the service's Retry-After."""
        if not arg.user_id:
            raise permanent("MISSING_USER_ID", "User id from create_user_account is required")
        if not arg.email:
            raise permanent("MISSING_EMAIL", "User email is required")
        response = await self.client.request(
            "POST", "/welcome-sequences", correlation_id=arg.correlation_id, json=welcome_body(arg)
        )
        sequence = response.json()
        return WelcomeResult(
            user_id=arg.user_id,
            sequence_id=sequence["sequence_id"],
            plan=arg.plan,
            emails_sent=sequence["emails_sent"],
            email_ids=sequence["email_ids"],
            correlation_id=arg.correlation_id,
        )

    @step_activity(UPDATE_USER_STATUS)
    async def update_user_status(self, arg: UpdateUserStatusInput) -> UserStatusResult:
        if not arg.user_id:
            raise permanent("MISSING_USER_ID", "User id from create_user_account is required")
        response = await self.client.request(
            "PATCH",
            f"/{arg.user_id}",
            correlation_id=arg.correlation_id,
            json=status_body(arg, _now()),
            codes={404: "USER_NOT_FOUND"},
        )
        user = response.json()
        return UserStatusResult(
            user_id=user["id"],
            status=user["status"],
            completed_steps=arg.completed_steps,
            correlation_id=arg.correlation_id,
        )
