"""Types and input checks shared by every simulated service.

Handlers are plain functions `(Tx, Call) -> Answer` that raise `ApiError` for business
errors, so the pipeline can run them in one transaction and store their answer verbatim.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

CENT: Final = Decimal("0.01")


@dataclass(frozen=True)
class Answer:
    """What a handler produced: stored as-is for idempotent replay."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """The parts of a request a handler may look at."""

    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    now: datetime

    @property
    def timestamp(self) -> str:
        """`now` in the ISO-8601 form used for every stored timestamp."""
        return iso(self.now)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", ...details}}."""
    return {"error": {"code": code, "message": message, **details}}


class ApiError(Exception):
    """A business error; `extra` goes at the top level of the body, `details` in `error`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def answer(self) -> Answer:
        """Render as an Answer."""
        body = {**self.extra, **error_body(self.code, self.message, **self.details)}
        return Answer(self.status, body, self.headers)


def iso(moment: datetime) -> str:
    """Fixed-width UTC ISO-8601, so stored timestamps also compare correctly as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def new_id(prefix: str, nbytes: int = 12) -> str:
    """Random identifiers such as ch_<24 hex>."""
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def invalid(field_name: str, expectation: str) -> ApiError:
    """422 for a malformed or missing field."""
    return ApiError(
        422, "validation_failed", f"'{field_name}' {expectation}", details={"field": field_name}
    )


def require_str(body: Mapping[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "is required and must be a non-empty string")
    return value


def optional_str(body: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    """An optional string field."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    return value


def as_int(value: Any, name: str, minimum: int | None = None) -> int:
    """An integer given as a JSON number or a decimal string (booleans refused)."""
    if isinstance(value, bool):
        raise invalid(name, "must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value)
    else:
        raise invalid(name, "must be an integer")
    if minimum is not None and number < minimum:
        raise invalid(name, f"must be at least {minimum}")
    return number


def optional_bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    """An optional boolean field."""
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(name, "must be a boolean")
    return value


def parse_money(value: Any, name: str, code: str = "invalid_amount") -> Decimal:
    """Money from a JSON number or string via Decimal(str(x)); never through float maths."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ApiError(422, code, f"'{name}' must be a decimal amount", details={"field": name})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ApiError(
            422, code, f"'{name}' is not a valid amount: {value!r}", details={"field": name}
        ) from None
    if not amount.is_finite():
        raise ApiError(422, code, f"'{name}' must be finite", details={"field": name})
    return amount


def money(amount: Decimal) -> str:
    """Text form sent and stored: at least two decimals ("124.76", "10.00")."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        amount = amount.quantize(CENT)
    return str(amount)
