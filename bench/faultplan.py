"""Faults for the soak: a plan drawn from a seed, injected through the services' own fault
API (``POST /_faults``) as the sagas' calls go by.

A planned fault names an operation and the call of that operation it is meant for (its
*position*, e.g. "the 37th charge"). The injector counts each operation's calls in the
services' request log and queues a fault (``count: 1``) once its position is reached, so
the faults are spread over the whole run in proportion to each operation's traffic instead
of all hitting the first calls; the same seed gives the same plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sqlite3
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx

ORDER_OPERATIONS: Final = (
    "catalog.get_product",
    "payments.charge",
    "inventory.reserve",
    "orders.create",
    "emails.send",
    "payments.refund",
    "inventory.release",
)
"""What an order saga calls: once each on the way forward, the last two when it undoes."""
REGISTRATION_OPERATIONS: Final = (
    "users.create",
    "users.lookup",
    "billing.create",
    "preferences.create",
    "notifications.welcome",
    "users.update",
)
"""What a registration saga calls (``users.lookup`` only after a 409 on create)."""
SIDE_EFFECTING: Final = frozenset(
    {
        "payments.charge",
        "inventory.reserve",
        "orders.create",
        "emails.send",
        "users.create",
        "billing.create",
        "preferences.create",
        "notifications.welcome",
        "users.update",
    }
)
"""Writes whose reply can be lost after they committed (``commit_then_timeout``)."""

LOST_REPLY: Final = "lost_reply"
TRANSIENT_KINDS: Final = ("503", "502", "timeout", "rate_limit")
"""What a transient fault answers: a 503 or 502 status, a 504 after a delay, a 429."""
REFUSALS: Final = {
    "payments.charge": 402,
    "inventory.reserve": 404,
    "orders.create": 422,
    "emails.send": 422,
    "users.create": 422,
    "billing.create": 402,
    "preferences.create": 422,
    "users.update": 422,
}
"""A permanent refusal per operation, each one a path the sagas take on purpose: a declined
card ends the order in ``error`` with nothing to undo, a refused order is compensated
(refund, release), a refused reservation or status update waits for an operator, a refused
email completes the order without one, billing and preferences degrade."""
REFUSED: Final = "refused_"

_ROUTES: Final = (
    ("catalog.get_product", "GET", r"/catalog/products(/[^/]+)?"),
    ("payments.charge", "POST", r"/payments/charges"),
    ("payments.refund", "POST", r"/payments/refunds"),
    ("inventory.reserve", "POST", r"/inventory/reservations(/batch)?"),
    ("inventory.release", "POST", r"/inventory/reservations/[^/]+/release"),
    ("orders.create", "POST", r"/orders"),
    ("emails.send", "POST", r"/emails"),
    ("users.create", "POST", r"/users"),
    ("users.lookup", "GET", r"/users"),
    ("users.update", "PATCH", r"/users/[^/]+"),
    ("billing.create", "POST", r"/billing/profiles"),
    ("preferences.create", "POST", r"/preferences"),
    ("notifications.welcome", "POST", r"/notifications/welcome-sequences"),
)
"""Which requests are calls of which operation, as services/ routes them."""
_MATCHERS: Final = [(op, method, re.compile(path)) for op, method, path in _ROUTES]


def operation_of(method: str, path: str) -> str | None:
    """The fault operation a logged request was a call of, or None (reads, admin)."""
    for op, wanted, pattern in _MATCHERS:
        if method == wanted and pattern.fullmatch(path):
            return op
    return None


@dataclass(frozen=True)
class PlannedFault:
    """One fault: for ``operation``, queued once that operation has had ``position`` calls."""

    operation: str
    position: int
    kind: str
    """One of ``TRANSIENT_KINDS``, ``lost_reply`` or ``refused_<status>``."""
    retry_after: int = 0
    delay_seconds: float = 0.0

    def request_body(self) -> dict[str, Any]:
        """The ``POST /_faults`` body: this fault, for the next call only."""
        body: dict[str, Any] = {"operation": self.operation, "count": 1}
        if self.kind in ("503", "502"):
            return {**body, "mode": "status", "status": int(self.kind)}
        if self.kind.startswith(REFUSED):
            return {**body, "mode": "status", "status": int(self.kind.removeprefix(REFUSED))}
        if self.kind == "timeout":
            return {**body, "mode": "timeout", "delay_seconds": self.delay_seconds}
        if self.kind == "rate_limit":
            return {**body, "mode": "rate_limit", "retry_after": self.retry_after}
        return {**body, "mode": "commit_then_timeout", "delay_seconds": self.delay_seconds}


def expected_calls(orders: int, registrations: int) -> dict[str, int]:
    """Calls of each operation if every saga made each of its calls once: the range the
    faults' positions are drawn from (an undo only runs for some, so fewer of its planned
    faults come due: the same share of the calls that do happen)."""
    return {
        **dict.fromkeys(ORDER_OPERATIONS, orders),
        **dict.fromkeys(REGISTRATION_OPERATIONS, registrations),
    }


def build_plan(
    seed: int,
    orders: int,
    registrations: int,
    transient_rate: float,
    lost_reply_rate: float,
    refusal_rate: float = 0.0,
) -> list[PlannedFault]:
    """About ``transient_rate`` of each operation's calls get a transient fault, on the
    side-effecting ones ``lost_reply_rate`` lose their reply after committing, and on
    those in ``REFUSALS`` ``refusal_rate`` are refused for good; each call at most one
    planned fault. Delays stay short so the soak measures recovery, not waiting."""
    rng = random.Random(seed)
    plan: list[PlannedFault] = []
    for operation, calls in expected_calls(orders, registrations).items():
        transient = round(transient_rate * calls)
        lost = round(lost_reply_rate * calls) if operation in SIDE_EFFECTING else 0
        refused = round(refusal_rate * calls) if operation in REFUSALS else 0
        positions = rng.sample(range(calls), min(calls, transient + lost + refused))
        for index, position in enumerate(positions):
            if index < transient:
                kind = rng.choice(TRANSIENT_KINDS)
            elif index < transient + lost:
                kind = LOST_REPLY
            else:
                kind = f"{REFUSED}{REFUSALS[operation]}"
            plan.append(
                PlannedFault(
                    operation=operation,
                    position=position,
                    kind=kind,
                    retry_after=rng.randint(1, 3) if kind == "rate_limit" else 0,
                    delay_seconds=(
                        round(rng.uniform(0.2, 2.0), 2)
                        if kind == "timeout"
                        else round(rng.uniform(0.0, 0.5), 2)
                        if kind == LOST_REPLY
                        else 0.0
                    ),
                )
            )
    return sorted(plan, key=lambda fault: (fault.operation, fault.position))


def read_only(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to the services' database (they keep writing it meanwhile)."""
    connection = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    return connection


@dataclass(frozen=True)
class FaultReport:
    """What was planned, queued and actually hit, by kind and by operation."""

    seed: int
    planned: int
    injected: int
    hit: int
    """Injected faults that some call ran into (queued minus still pending at the end)."""
    pending_at_end: int
    injected_by_kind: dict[str, int]
    hit_by_kind: dict[str, int]
    injected_by_operation: dict[str, int]
    calls_by_operation: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kind_of(pending: Mapping[str, Any]) -> str:
    """The kind of a fault as ``GET /_faults`` lists it."""
    mode, status = pending["mode"], str(pending["status"])
    if mode == "status":
        return status if status in TRANSIENT_KINDS else f"{REFUSED}{status}"
    return LOST_REPLY if mode == "commit_then_timeout" else str(mode)


class FaultInjector:
    """Queues each planned fault when its operation reaches the fault's position."""

    def __init__(
        self, http: httpx.AsyncClient, db_path: Path, plan: Sequence[PlannedFault], seed: int
    ) -> None:
        self._http = http
        self._db_path = db_path
        self._seed = seed
        self._planned = len(plan)
        self._due: dict[str, deque[PlannedFault]] = {}
        for fault in sorted(plan, key=lambda f: f.position):
            self._due.setdefault(fault.operation, deque()).append(fault)
        self.calls: Counter[str] = Counter()
        self.injected: list[PlannedFault] = []
        self._last_request = 0

    def _count_new_calls(self) -> None:
        """Add the requests logged since the last look to each operation's call count."""
        with contextlib.closing(read_only(self._db_path)) as db:
            rows = db.execute(
                "SELECT method, path, COUNT(*) AS n, MAX(id) AS last FROM requests "
                "WHERE id > ? GROUP BY method, path",
                (self._last_request,),
            ).fetchall()
        for row in rows:
            self._last_request = max(self._last_request, row["last"])
            operation = operation_of(row["method"], row["path"])
            if operation is not None:
                self.calls[operation] += row["n"]

    async def tick(self) -> None:
        """Count the new calls, then queue every fault that came due."""
        await asyncio.to_thread(self._count_new_calls)
        for operation, due in self._due.items():
            while due and due[0].position <= self.calls[operation]:
                fault = due.popleft()
                answer = await self._http.post("/_faults", json=fault.request_body())
                answer.raise_for_status()
                self.injected.append(fault)

    async def run(self, stop: asyncio.Event, interval: float = 0.2) -> None:
        """Tick until ``stop`` is set."""
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def finish(self) -> FaultReport:
        """Drop the faults nobody ran into (listed first) and report."""
        answer = await self._http.get("/_faults")
        answer.raise_for_status()
        pending: list[dict[str, Any]] = answer.json()["faults"]
        (await self._http.delete("/_faults")).raise_for_status()
        injected = Counter(fault.kind for fault in self.injected)
        unhit = Counter(_kind_of(fault) for fault in pending for _ in range(fault["remaining"]))
        left = unhit.total()
        return FaultReport(
            seed=self._seed,
            planned=self._planned,
            injected=len(self.injected),
            hit=len(self.injected) - left,
            pending_at_end=left,
            injected_by_kind=dict(sorted(injected.items())),
            hit_by_kind=dict(sorted((injected - unhit).items())),
            injected_by_operation=dict(
                sorted(Counter(fault.operation for fault in self.injected).items())
            ),
            calls_by_operation=dict(sorted(self.calls.items())),
        )


def kinds(plan: Iterable[PlannedFault]) -> dict[str, int]:
    """How many of each kind a plan holds."""
    return dict(sorted(Counter(fault.kind for fault in plan).items()))
