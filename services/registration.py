"""Billing, preferences and notifications microservices of the registration saga.

Each refuses a second record for the same user (409 with the existing id), which lets a
retrying saga treat "already done" as success.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from starlette.routing import Route

from .api import (
    Answer,
    ApiError,
    Call,
    invalid,
    iso,
    new_id,
    optional_bool,
    optional_str,
    require_str,
)
from .db import Tx
from .pipeline import Context, route

WELCOME_EMAILS: Final = {"free": 3, "pro": 4, "enterprise": 5}
WELCOME_LIMIT: Final = 3
WELCOME_WINDOW: Final = timedelta(seconds=60)


def create_billing(tx: Tx, call: Call) -> Answer:
    """POST /billing/profiles: paid plans need a payment method."""
    user_id = require_str(call.body, "user_id")
    plan = optional_str(call.body, "plan", "free") or "free"
    existing = tx.find_one("billing_profiles", user_id=user_id)
    if existing is not None:
        raise ApiError(
            409,
            "profile_exists",
            f"User {user_id} already has a billing profile",
            extra={"profile_id": existing["id"]},
            details={"profile_id": existing["id"]},
        )
    payment_method = call.body.get("payment_method")
    if plan != "free" and not payment_method:
        raise ApiError(402, "payment_required", f"Plan {plan!r} requires a payment method")
    row = {
        "id": new_id("bil"),
        "user_id": user_id,
        "plan": plan,
        "payment_method": payment_method,
        "billing_address": call.body.get("billing_address"),
        "status": "active",
        "created_at": call.timestamp,
    }
    tx.insert("billing_profiles", row)
    return Answer(201, row)


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(name, "must be an object")
    return value


def create_preferences(tx: Tx, call: Call) -> Answer:
    """POST /preferences: one preferences record per user."""
    body = call.body
    user_id = require_str(body, "user_id")
    existing = tx.find_one("preferences", user_id=user_id)
    if existing is not None:
        raise ApiError(
            409,
            "preferences_exist",
            f"User {user_id} already has preferences",
            extra={"preferences_id": existing["id"]},
            details={"preferences_id": existing["id"]},
        )
    row = {
        "id": new_id("prf"),
        "user_id": user_id,
        "marketing_consent": optional_bool(body, "marketing_consent", False),
        "newsletter_frequency": optional_str(body, "newsletter_frequency", "weekly"),
        "notifications": _object(body.get("notifications"), "notifications"),
        "theme": optional_str(body, "theme", "light"),
        "language": optional_str(body, "language", "en"),
        "timezone": optional_str(body, "timezone", "UTC"),
        "created_at": call.timestamp,
    }
    tx.insert("preferences", row)
    return Answer(201, row)


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(name, "must be a list")
    return value


def _sequence_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "sequence_id": row["id"],
        "user_id": row["user_id"],
        "email": row["email"],
        "plan": row["plan"],
        "emails_sent": len(row["email_ids"]),
        "email_ids": row["email_ids"],
        "created_at": row["created_at"],
    }


def create_welcome(tx: Tx, call: Call) -> Answer:
    """POST /notifications/welcome-sequences: at most 3 per user per minute."""
    body = call.body
    user_id = require_str(body, "user_id")
    email = require_str(body, "email")
    plan = optional_str(body, "plan", "free") or "free"
    since = iso(call.now - WELCOME_WINDOW)
    if tx.count_sequences_since(user_id, since) >= WELCOME_LIMIT:
        seconds = int(WELCOME_WINDOW.total_seconds())
        raise ApiError(
            429,
            "rate_limited",
            f"More than {WELCOME_LIMIT} welcome sequences for {user_id} within {seconds}s",
            headers={"Retry-After": str(seconds)},
            details={"retry_after": seconds},
        )
    row = {
        "id": new_id("seq"),
        "user_id": user_id,
        "email": email,
        "name": optional_str(body, "name"),
        "plan": plan,
        "features": _list(body.get("features"), "features"),
        "onboarding_steps": _list(body.get("onboarding_steps"), "onboarding_steps"),
        "email_ids": [new_id("eml") for _ in range(WELCOME_EMAILS.get(plan, 3))],
        "created_at": call.timestamp,
    }
    tx.insert("welcome_sequences", row)
    return Answer(201, _sequence_json(row))


def list_billing(tx: Tx, call: Call) -> Answer:
    """GET /billing/profiles?user_id=X."""
    return Answer(200, {"profiles": tx.find("billing_profiles", user_id=call.query.get("user_id"))})


def list_preferences(tx: Tx, call: Call) -> Answer:
    """GET /preferences?user_id=X."""
    return Answer(200, {"preferences": tx.find("preferences", user_id=call.query.get("user_id"))})


def list_welcome(tx: Tx, call: Call) -> Answer:
    """GET /notifications/welcome-sequences?user_id=X."""
    rows = tx.find("welcome_sequences", user_id=call.query.get("user_id"))
    return Answer(200, {"sequences": [_sequence_json(r) for r in rows]})


def routes(ctx: Context) -> list[Route]:
    """Billing, preferences and notifications routes."""
    return [
        route(ctx, "POST", "/billing/profiles", create_billing, "billing.create"),
        route(ctx, "GET", "/billing/profiles", list_billing),
        route(ctx, "POST", "/preferences", create_preferences, "preferences.create"),
        route(ctx, "GET", "/preferences", list_preferences),
        route(
            ctx,
            "POST",
            "/notifications/welcome-sequences",
            create_welcome,
            "notifications.welcome",
        ),
        route(ctx, "GET", "/notifications/welcome-sequences", list_welcome),
    ]
