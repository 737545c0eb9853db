"""The users microservice: the first step of the registration saga.

Emails are unique case-insensitively, so a retried "create user" surfaces as 409 and the
saga can look the user up instead of creating a duplicate.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.routing import Route

from .api import (
    Answer,
    ApiError,
    Call,
    invalid,
    new_id,
    optional_bool,
    optional_str,
    require_str,
)
from .db import Row, Tx
from .pipeline import Context, route

_BASE_FIELDS: Final = (
    "id",
    "email",
    "name",
    "phone",
    "plan",
    "marketing_consent",
    "referral_code",
    "source",
    "status",
    "created_at",
    "updated_at",
)


def user_json(row: Row) -> dict[str, Any]:
    """The user object: stored columns plus whatever PATCH added (columns win)."""
    return {**row["extra"], **{k: row[k] for k in _BASE_FIELDS}}


def _not_found(ref: str) -> ApiError:
    return ApiError(404, "user_not_found", f"User {ref} not found")


def create(tx: Tx, call: Call) -> Answer:
    """POST /users: a new user in status "pending"."""
    email = require_str(call.body, "email").strip()
    name = require_str(call.body, "name")
    if "@" not in email:
        raise ApiError(422, "invalid_email", "'email' is not an email address")
    existing = tx.find_one("users", email_key=email.lower())
    if existing is not None:
        raise ApiError(
            409,
            "email_exists",
            "A user with this email already exists",
            details={"user_id": existing["id"]},
        )
    row: dict[str, Any] = {
        "id": new_id("usr"),
        "email": email,
        "email_key": email.lower(),
        "name": name,
        "phone": optional_str(call.body, "phone"),
        "plan": optional_str(call.body, "plan", "free"),
        "marketing_consent": optional_bool(call.body, "marketing_consent", False),
        "referral_code": optional_str(call.body, "referral_code"),
        "source": optional_str(call.body, "source"),
        "status": "pending",
        "extra": {},
        "created_at": call.timestamp,
        "updated_at": call.timestamp,
    }
    tx.insert("users", row)
    return Answer(201, user_json(row))


def lookup(tx: Tx, call: Call) -> Answer:
    """GET /users?email=X."""
    email = call.query.get("email")
    if not email:
        raise invalid("email", "query parameter is required")
    row = tx.find_one("users", email_key=email.strip().lower())
    if row is None:
        raise _not_found(email)
    return Answer(200, user_json(row))


def get_user(tx: Tx, call: Call) -> Answer:
    """GET /users/{user_id}."""
    row = tx.find_one("users", id=call.params["user_id"])
    if row is None:
        raise _not_found(call.params["user_id"])
    return Answer(200, user_json(row))


def update(tx: Tx, call: Call) -> Answer:
    """PATCH /users/{user_id}: set status; any other fields are kept as JSON."""
    user_id = call.params["user_id"]
    row = tx.find_one("users", id=user_id)
    if row is None:
        raise _not_found(user_id)
    status = optional_str(call.body, "status", row["status"])
    extra = {**row["extra"], **{k: v for k, v in call.body.items() if k != "status"}}
    changes = {"status": status, "extra": extra, "updated_at": call.timestamp}
    tx.update("users", ("id", user_id), changes)
    return Answer(200, user_json({**row, **changes}))


def routes(ctx: Context) -> list[Route]:
    """Users microservice routes."""
    return [
        route(ctx, "POST", "/users", create, "users.create"),
        route(ctx, "GET", "/users", lookup, "users.lookup"),
        route(ctx, "GET", "/users/{user_id}", get_user),
        route(ctx, "PATCH", "/users/{user_id}", update, "users.update"),
    ]
