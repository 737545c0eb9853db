"""Newest first, a page at a time, from a visibility store that cannot sort.

Temporal's SQL visibility (the dev server's SQLite, PostgreSQL in compose) takes no ORDER
BY: it answers running workflows first, then the rest by close time. So a page is read in
StartTime windows, newest first: each window is counted, narrowed while it holds far more
than a page, then read whole; windows widen fourfold while they hold too few. The rows read
are sorted by (start time, workflow id), newest first, and the page ends with a cursor: the
last row's start time and id, from which the next page goes on.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from temporalio.client import Client, WorkflowExecution

FIRST_WINDOW: Final = timedelta(minutes=1)
NARROWEST: Final = timedelta(seconds=1)
WIDEN: Final = 4
CROWDED: Final = 4
"""A window holding more than this many pages (and at least 1000 rows) is narrowed before
it is read."""


class BadCursor(ValueError):
    """A cursor this service did not give."""


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the last row's start time and workflow id."""

    started_at: datetime
    workflow_id: str

    def token(self) -> str:
        raw = json.dumps({"s": self.started_at.isoformat(), "id": self.workflow_id})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            started = datetime.fromisoformat(raw["s"])
            workflow_id = raw["id"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise BadCursor("not a cursor this list gave (use the 'next' of a page)") from None
        if started.tzinfo is None or not isinstance(workflow_id, str):
            raise BadCursor("not a cursor this list gave (use the 'next' of a page)")
        return cls(started, workflow_id)

    def before(self, execution: WorkflowExecution) -> bool:
        """Whether ``execution`` comes after this cursor, newest first."""
        return _key(execution) < (self.started_at, self.workflow_id)


@dataclass(frozen=True)
class Page:
    executions: list[WorkflowExecution]
    next: Cursor | None
    """Where the next page starts; None when this is the last."""


def _key(execution: WorkflowExecution) -> tuple[datetime, str]:
    return (execution.start_time, execution.id)


def _stamp(moment: datetime) -> str:
    """A visibility query's time literal (RFC 3339, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def newest_first(
    client: Client,
    query: str,
    limit: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Cursor | None = None,
) -> Page:
    """The newest ``limit`` workflows matching ``query`` that started within ``[since,
    until]`` and after the cursor, newest first."""
    upper = after.started_at if after else (until or datetime.now(UTC) + timedelta(seconds=1))
    if until and upper > until:
        upper = until
    width = FIRST_WINDOW
    found: list[WorkflowExecution] = []
    while True:
        lower = upper - width
        last = since is not None and lower <= since
        bound = (
            f'StartTime >= "{_stamp(since)}"'
            if last and since
            else f'StartTime > "{_stamp(lower)}"'
        )
        window = f'{query} AND {bound} AND StartTime <= "{_stamp(upper)}"'
        in_window = (await client.count_workflows(window)).count
        if in_window > max(CROWDED * limit, 1000) and width > NARROWEST:
            width = max(width / (WIDEN * 2), NARROWEST)
            continue
        if in_window:
            found += [
                execution
                async for execution in client.list_workflows(window)
                if after is None or after.before(execution)
            ]
        if last:
            older = False
            break
        below = f'{query} AND StartTime <= "{_stamp(lower)}"'
        if since is not None:
            below += f' AND StartTime >= "{_stamp(since)}"'
        if len(found) > limit:
            older = True
            break
        older = (await client.count_workflows(below)).count > 0
        if len(found) == limit or not older:
            break
        upper, width = lower, width * WIDEN
    found.sort(key=_key, reverse=True)
    page = found[:limit]
    more = older or len(found) > limit
    cursor = Cursor(*_key(page[-1])) if more and page else None
    return Page(page, cursor)
