"""Types and input checks shared by every simulated service.

Handlers are plain functions `(Tx, Call) -> Answer` that raise `ApiError` for business
errors, so the pipeline can run them in one transaction and store their answer verbatim.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

CENT: Final = Decimal("0.01")

# The bounds every field is checked against (see `as_int`, `parse_money`, `check_text`).
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
"""SQLite's integers: no number outside them gets anywhere near a query."""
MAX_QUANTITY: Final = 1_000_000
"""Units of one product in one request."""
MAX_LINES: Final = 500
"""Products named in one request (a cart's lines, `?ids=`)."""
MAX_AMOUNT: Final = Decimal("999999999.99")
"""The largest amount of money accepted, in any field."""
MAX_TEXT: Final = 1000
"""Characters in a single-line text field (ids, names, tokens, addresses); Temporal's
workflow ids, which orders carry, are at most 1000 bytes."""
_INT_TEXT: Final = re.compile(r"-?[0-9]{1,20}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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


def check_text(value: str, name: str) -> str:
    """A single-line text field: bounded, and free of control characters (a newline in a
    subject or a NUL in a token has no business there)."""
    if len(value) > MAX_TEXT:
        raise invalid(name, f"must be at most {MAX_TEXT} characters")
    if _CONTROL.search(value):
        raise invalid(name, "must not contain control characters")
    return value


def require_str(body: Mapping[str, Any], name: str) -> str:
    """A required non-empty text field."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "is required and must be a non-empty string")
    return check_text(value, name)


def optional_str(body: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    """An optional text field."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    return check_text(value, name)


def as_int(value: Any, name: str, minimum: int, maximum: int) -> int:
    """An integer within [minimum, maximum], given as a JSON number or a decimal string
    (booleans refused): every id, count and quantity is read through here."""
    if isinstance(value, bool):
        raise invalid(name, "must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value)
    else:
        raise invalid(name, "must be an integer")
    if not minimum <= number <= maximum:
        raise invalid(name, f"must be between {minimum} and {maximum}")
    return number


def as_id(value: Any, name: str) -> int:
    """A row id: positive, and one SQLite can hold."""
    return as_int(value, name, 1, INT64_MAX)


def as_quantity(value: Any, name: str) -> int:
    """A number of units: at least 1, at most MAX_QUANTITY."""
    return as_int(value, name, 1, MAX_QUANTITY)


def find_id(value: Any) -> int | None:
    """The id a path names, or None when it cannot name a row (the caller answers 404)."""
    try:
        return as_id(value, "id")
    except ApiError:
        return None


def as_number(value: Any, name: str, minimum: float, maximum: float) -> float:
    """A JSON number within [minimum, maximum] (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name, "must be a number")
    if not minimum <= value <= maximum:
        raise invalid(name, f"must be between {minimum:g} and {maximum:g}")
    return float(value)


def optional_bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    """An optional boolean field."""
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid(name, "must be a boolean")
    return value


def parse_money(value: Any, name: str, code: str = "invalid_amount") -> Decimal:
    """Money from a JSON number or string via Decimal(str(x)), never through float maths:
    finite, at most MAX_AMOUNT either way, whole cents."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ApiError(422, code, f"'{name}' must be a decimal amount", details={"field": name})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ApiError(
            422, code, f"'{name}' is not a valid amount: {value!r}", details={"field": name}
        ) from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT or amount != amount.quantize(CENT):
        raise ApiError(
            422,
            code,
            f"'{name}' must be a finite amount of at most {MAX_AMOUNT} with at most two decimals",
            details={"field": name},
        )
    return amount


def money(amount: Decimal) -> str:
    """Text form sent and stored: whole cents, two decimals ("124.76", "10.00")."""
    return str(amount.quantize(CENT))
