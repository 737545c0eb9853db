"""Which saga a submission is: its identity, and so the workflow ids it may run under.

In order of precedence:

1. an explicit workflow id (``--id``): that id, always;
2. the saga's business rule (``SagaDescriptor.identity``; a registration is one per email):
   one saga per rule, always;
3. an idempotency key (the API's ``Idempotency-Key`` header, ``--idempotency-key``, else
   the request's own ``correlation_id``): one saga per key, always, and the key used again
   with a different request is refused;
4. none of these: the request itself, one saga per identical request within the
   deduplication window (``SAGA_DEDUP_WINDOW``, default 24h), measured from that saga's
   start. After it, the same request is a new saga under the next id: ``<root>-2``, ``-3``.

Rerunning a saga that ended short starts ``<id>-run-2`` (then ``-run-3``): a new workflow id
linked to the one it reruns, so every effect it causes carries new idempotency keys.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from plumbing.keys import keyed_digest

DEDUP_WINDOW_VAR: Final = "SAGA_DEDUP_WINDOW"
DEFAULT_DEDUP_WINDOW: Final = timedelta(hours=24)
MAX_KEY_CHARS: Final = 255
"""Stripe's limit for an ``Idempotency-Key``."""
_DURATION: Final = re.compile(r"(?:\d+[dhms])+")
_PART: Final = re.compile(r"(\d+)([dhms])")
_UNITS: Final = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_RUN: Final = re.compile(r"^(?P<base>.+)-run-(?P<number>[2-9]|[1-9]\d+)$")


class IdentityError(ValueError):
    """A setting or key that cannot be used; one line naming it (exit 2, or a 422)."""


class IdentitySource(StrEnum):
    """What makes two submissions the same saga."""

    ID = "id"
    RULE = "rule"
    KEY = "key"
    REQUEST = "request"


@dataclass(frozen=True)
class Identity:
    """A submission's identity: the workflow id of the first saga it may be, and why."""

    root: str
    source: IdentitySource
    key_name: str | None = None
    """Where the idempotency key came from (``Idempotency-Key``, ``$.correlation_id``), to
    name it when the key was used before with a different request."""

    @property
    def windowed(self) -> bool:
        """Only identical requests within the deduplication window are one saga."""
        return self.source is IdentitySource.REQUEST

    def repeat(self, number: int) -> str:
        """The workflow id of the ``number``-th saga of a windowed identity (1: the root)."""
        return self.root if number == 1 else f"{self.root}-{number}"


def parse_duration(text: str, name: str = DEDUP_WINDOW_VAR) -> timedelta:
    """``24h``, ``90s``, ``1h30m``, ``2d`` or ``0``; IdentityError names ``name``."""
    value = text.strip()
    if value == "0":
        return timedelta(0)
    if not _DURATION.fullmatch(value):
        raise IdentityError(
            f"{name}: expected a duration such as 24h, 90s or 1h30m (or 0), got {text!r}"
        )
    seconds = sum(int(count) * _UNITS[unit] for count, unit in _PART.findall(value))
    return timedelta(seconds=seconds)


def dedup_window() -> timedelta:
    """How long identical requests without a key are one saga: ``SAGA_DEDUP_WINDOW``."""
    text = os.environ.get(DEDUP_WINDOW_VAR, "")
    return parse_duration(text) if text.strip() else DEFAULT_DEDUP_WINDOW


def describe_window(window: timedelta) -> str:
    """``24h``, ``90s``, ``1h30m``, ``48h``: how the README and the messages write a window."""
    seconds = int(window.total_seconds())
    parts = []
    for unit, size in list(_UNITS.items())[1:]:  # hours at most: 24h reads better than 1d
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0"


def key_problem(key: str) -> str | None:
    """Why an idempotency key cannot be used, or None when it can."""
    if not key:
        return "must not be empty"
    if len(key) > MAX_KEY_CHARS:
        return f"must be at most {MAX_KEY_CHARS} characters"
    if not key.isprintable():
        return "must be printable text (no control characters)"
    return None


def _as_json(value: object) -> object:
    """A Decimal (how sagas.inputs reads fractions) digests as the float json would have
    read, so a request keeps the id it had before numbers were read exactly."""
    return float(value) if isinstance(value, Decimal) else str(value)


def request_digest(data: dict[str, Any]) -> str:
    """The keyed digest of a request's canonical JSON."""
    return keyed_digest(json.dumps(data, sort_keys=True, separators=(",", ":"), default=_as_json))


def key_digest(key: str) -> str:
    """The keyed digest of an idempotency key (never equal to a request's: JSON starts
    with ``{``)."""
    return keyed_digest(f"key:{key}")


def customer_key(customer: str) -> str:
    """The keyed digest a saga publishes for its customer (the ``CustomerKey`` search
    attribute: search attributes are not encrypted, so never the plain id). Trimmed and
    case-insensitive, so ``Sarah@GrowthCorp.com`` finds ``sarah@growthcorp.com``."""
    return keyed_digest(f"customer:{customer.strip().lower()}")


def run_number(workflow_id: str) -> tuple[str, int]:
    """``(base, n)``: ``order-ab12-run-3`` is run 3 of ``order-ab12``; any other id is run 1
    of itself."""
    found = _RUN.match(workflow_id)
    return (found["base"], int(found["number"])) if found else (workflow_id, 1)


def run_id(base: str, number: int) -> str:
    """The workflow id of run ``number`` of ``base`` (1: ``base`` itself)."""
    return base if number == 1 else f"{base}-run-{number}"
