"""Injected failures, so tests and demos can exercise retries and compensation on demand.

Faults are stored in SQLite (they survive a restart) and each one fails the next N calls of
one operation. `commit_then_timeout` is special: the handler runs and commits, and only the
response is lost, which is the case idempotency keys exist for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import anyio

from .api import Answer, ApiError, Call, as_int, as_number, error_body, invalid
from .db import Database, Row, Tx

OPERATIONS: Final = (
    "catalog.get_product",
    "inventory.check",
    "inventory.reserve",
    "inventory.release",
    "inventory.restock",
    "inventory.unrestock",
    "payments.charge",
    "payments.refund",
    "emails.send",
    "orders.create",
    "users.create",
    "users.lookup",
    "users.update",
    "billing.create",
    "preferences.create",
    "notifications.welcome",
)
MODES: Final = ("status", "timeout", "rate_limit", "commit_then_timeout")
MAX_DELAY_SECONDS: Final = 60.0
"""Longer than any client here waits for an answer, short enough not to tie the server up."""
MAX_COUNT: Final = 1000
"""Calls one fault fails: enough for any scenario, not a standing outage."""
MAX_RETRY_AFTER: Final = 3600
"""Seconds in a rate-limit answer's Retry-After (the sagas cap their own wait lower)."""
_CODES: Final = {
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "timeout",
}


@dataclass(frozen=True)
class Fault:
    """One pending fault as stored."""

    id: int
    operation: str
    mode: str
    status: int
    retry_after: int
    delay_seconds: float
    remaining: int

    @classmethod
    def from_row(cls, row: Row) -> Fault:
        """Build from a `faults` row."""
        return cls(
            id=row["id"],
            operation=row["operation"],
            mode=row["mode"],
            status=row["status"],
            retry_after=row["retry_after"],
            delay_seconds=row["delay_seconds"],
            remaining=row["remaining"],
        )

    def as_json(self) -> dict[str, object]:
        """Shape used by the admin endpoints."""
        return {
            "id": self.id,
            "operation": self.operation,
            "mode": self.mode,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay_seconds": self.delay_seconds,
            "remaining": self.remaining,
        }


def take(db: Database, operation: str) -> Fault | None:
    """Consume one use of the next fault for `operation`, if any.

    Runs no transaction while no fault is pending at all: the usual case under load.
    """
    if not db.faults_pending:
        return None
    with db.transaction() as tx:
        row = tx.take_fault(operation)
    return None if row is None else Fault.from_row(row)


def _timeout_answer(fault: Fault) -> Answer:
    message = f"Injected timeout on {fault.operation}"
    return Answer(504, error_body("timeout", message, injected=True))


async def injected_answer(fault: Fault) -> Answer:
    """The answer for a fault that stops the handler from running."""
    if fault.mode == "timeout":
        await anyio.sleep(fault.delay_seconds)
        return _timeout_answer(fault)
    if fault.mode == "rate_limit":
        message = f"Injected rate limit on {fault.operation}"
        body = error_body("rate_limited", message, injected=True, retry_after=fault.retry_after)
        return Answer(429, body, {"Retry-After": str(fault.retry_after)})
    code = _CODES.get(fault.status, "injected_fault")
    message = f"Injected failure on {fault.operation} (status {fault.status})"
    return Answer(fault.status, error_body(code, message, injected=True))


async def lost_response(fault: Fault) -> Answer:
    """The answer sent instead of the real one after a commit_then_timeout handler ran."""
    await anyio.sleep(fault.delay_seconds)
    return _timeout_answer(fault)


def create(tx: Tx, call: Call) -> Answer:
    """POST /_faults: queue a fault for the next `count` calls of an operation."""
    body = call.body
    operation = body.get("operation")
    if operation not in OPERATIONS:
        raise ApiError(
            422,
            "unknown_operation",
            f"Unknown operation {operation!r}; valid operations: {', '.join(OPERATIONS)}",
            details={"valid_operations": list(OPERATIONS)},
        )
    mode = body.get("mode", "status")
    if mode not in MODES:
        raise invalid("mode", f"must be one of: {', '.join(MODES)}")
    row = {
        "operation": operation,
        "mode": mode,
        "status": as_int(body.get("status", 503), "status", 400, 599),
        "retry_after": as_int(body.get("retry_after", 30), "retry_after", 0, MAX_RETRY_AFTER),
        "delay_seconds": as_number(
            body.get("delay_seconds", 0), "delay_seconds", 0, MAX_DELAY_SECONDS
        ),
        "remaining": as_int(body.get("count", 1), "count", 1, MAX_COUNT),
        "created_at": call.timestamp,
    }
    fault_id = tx.insert("faults", row)
    return Answer(201, Fault.from_row({**row, "id": fault_id}).as_json())


def pending(tx: Tx, call: Call) -> Answer:
    """GET /_faults: faults with uses left."""
    return Answer(200, {"faults": [Fault.from_row(r).as_json() for r in tx.pending_faults()]})


def clear(tx: Tx, call: Call) -> Answer:
    """DELETE /_faults: drop every pending fault."""
    return Answer(200, {"cleared": tx.delete_all("faults")})
