"""A transactional email provider that only records what it was asked to send."""

from __future__ import annotations

from typing import Any, Final

from starlette.routing import Route

from .api import Answer, ApiError, Call, invalid, new_id, optional_str, require_str
from .db import Row, Tx
from .pipeline import Context, route

UNDELIVERABLE_DOMAIN: Final = "invalid.example"


def _email_json(row: Row) -> dict[str, Any]:
    return {
        "message_id": row["id"],
        "status": row["status"],
        "to": row["recipient"],
        "subject": row["subject"],
        "template": row["template"],
        "data": row["data"],
        "created_at": row["created_at"],
    }


def send(tx: Tx, call: Call) -> Answer:
    """POST /emails: accept a message (202), refusing undeliverable addresses."""
    to = require_str(call.body, "to")
    if "@" not in to or to.rsplit("@", 1)[1].strip().lower() == UNDELIVERABLE_DOMAIN:
        raise ApiError(422, "invalid_email", f"Cannot deliver to {to!r}", details={"to": to})
    data = call.body.get("data") or {}
    if not isinstance(data, dict):
        raise invalid("data", "must be an object")
    row = {
        "id": new_id("msg"),
        "recipient": to,
        "subject": optional_str(call.body, "subject", "") or "",
        "template": optional_str(call.body, "template"),
        "data": data,
        "status": "sent",
        "created_at": call.timestamp,
    }
    tx.insert("emails", row)
    return Answer(202, _email_json(row))


def list_emails(tx: Tx, call: Call) -> Answer:
    """GET /emails?to=X."""
    rows = tx.find("emails", recipient=call.query.get("to"))
    return Answer(200, {"emails": [_email_json(r) for r in rows]})


def routes(ctx: Context) -> list[Route]:
    """Email provider routes."""
    return [
        route(ctx, "POST", "/emails", send, "emails.send"),
        route(ctx, "GET", "/emails", list_emails),
    ]
