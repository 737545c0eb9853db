"""One time convention for what people read: UTC with an explicit ``Z`` (``23:20:01Z``), or
local time with its explicit offset (``18:20:01-05:00``) when ``--local-time`` asks.

JSON answers (``--json``, the API) are ISO 8601 from pydantic, UTC with ``Z``; logs are UTC
ISO 8601 too. Only the CLI's plain text can be switched to local time, and then never
without its offset.
"""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime

_LOCAL: contextvars.ContextVar[bool] = contextvars.ContextVar("local_time", default=False)


def use_local_time(local: bool) -> None:
    """Print times in local time (with the offset) from now on, in this context."""
    _LOCAL.set(local)


def _shown(moment: datetime) -> datetime:
    return moment.astimezone() if _LOCAL.get() else moment.astimezone(UTC)


def _zone(moment: datetime) -> str:
    if not _LOCAL.get():
        return "Z"
    offset = moment.strftime("%z")  # +0100
    return f"{offset[:3]}:{offset[3:]}"


def clock(moment: datetime) -> str:
    """``23:20:01Z``: a time of day, for progress lines."""
    shown = _shown(moment)
    return f"{shown:%H:%M:%S}{_zone(shown)}"


def stamp(moment: datetime) -> str:
    """``2026-12-07 23:20:01Z``: a date and time, for lists, deadlines and status."""
    shown = _shown(moment)
    return f"{shown:%Y-%m-%d %H:%M:%S}{_zone(shown)}"


def span(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``: a duration, to the second below two minutes."""
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds}s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
