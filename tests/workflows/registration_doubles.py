"""Doubles for the registration saga: the REAL activities over an in-memory HTTP world.

The registration steps are thin HTTP calls whose interesting behaviour (409 handling, the
status table, Retry-After, request bodies) lives in the activities themselves, so instead
of replacing the activities the doubles replace the services: an ``httpx.MockTransport``
behind the real :class:`ServiceClient` and :class:`RegistrationActivities`. The world
records every request (with the activity attempt and its scheduled time) and answers from
a script where a test wants failures.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from temporalio import activity

from activities.client import ServiceClient
from activities.registration import RegistrationActivities
from adapter.urls import service_urls
from sagas.catalogue import saga

BASE_URL = "http://services.test"
NOW = "2026-11-22T10:00:00.000000+00:00"
Script = Callable[[int], httpx.Response | None]
"""Given the 1-based call number of an operation, a scripted answer (None: the normal one)."""

BRANCH_OPS = ("billing.create", "preferences.create")


def status(code: int, *, retry_after: int | None = None) -> httpx.Response:
    """An error answer in the services' shape."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    body = {"error": {"code": f"http_{code}", "message": f"scripted {code}"}}
    return httpx.Response(code, json=body, headers=headers)


def fail_times(n: int, response: Callable[[], httpx.Response]) -> Script:
    """Answer the first ``n`` calls with ``response()``, then normally."""
    return lambda call: response() if call <= n else None


def always(response: Callable[[], httpx.Response]) -> Script:
    return lambda call: response()


@dataclass
class Recorded:
    op: str
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    attempt: int | None
    activity_type: str | None
    at: datetime | None
    """The server's clock when the request arrived (skipped time included), if known."""


@dataclass
class FakeServices:
    """Users, billing, preferences and notifications, in memory, with scripted failures.

    ``overlap=True`` makes billing and preferences each wait (up to ``overlap_timeout`` real
    seconds) until the other has started: ``met`` then records whether they really ran at
    the same time. ``clock`` (e.g. the time-skipping environment's ``get_current_time``)
    stamps each request with server time. (``activity.info().current_attempt_scheduled_time``
    cannot serve: the test server stamps a retry when the previous attempt failed, before
    the backoff.)
    """

    script: dict[str, Script] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)
    overlap: bool = False
    overlap_timeout: float = 5.0
    branch_delay: float = 0.0
    """Real seconds billing and preferences each take (after meeting), so timings show."""
    clock: Callable[[], Awaitable[datetime]] | None = None
    requests: list[Recorded] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    met: dict[str, bool] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(
        default_factory=lambda: {op: asyncio.Event() for op in BRANCH_OPS}
    )
    billing: dict[str, str] = field(default_factory=dict)
    preferences: dict[str, str] = field(default_factory=dict)

    def ops(self) -> list[str]:
        return [r.op for r in self.requests]

    def of(self, op: str) -> list[Recorded]:
        return [r for r in self.requests if r.op == op]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/effects/"):
            # These fakes keep no effects: an unknown outcome is "never happened".
            return httpx.Response(404, json={"error": {"code": "effect_not_found"}})
        op, path_user = self._route(request)
        body = json.loads(request.content) if request.content else None
        await self._record(op, request, body)
        self.calls[op] += 1
        if op in BRANCH_OPS:
            await self._meet(op)
            await asyncio.sleep(self.branch_delay)
        scripted = self.script.get(op)
        answer = scripted(self.calls[op]) if scripted else None
        if answer is not None:
            return answer
        return self._answer(op, request, body or {}, path_user)

    def _route(self, request: httpx.Request) -> tuple[str, str | None]:
        method, path = request.method, request.url.path
        if path == "/users":
            return ("users.create" if method == "POST" else "users.lookup"), None
        if path.startswith("/users/") and method == "PATCH":
            return "users.update", path.rsplit("/", 1)[1]
        routes = {
            "/billing/profiles": "billing.create",
            "/preferences": "preferences.create",
            "/notifications/welcome-sequences": "notifications.welcome",
        }
        if method == "POST" and path in routes:
            return routes[path], None
        raise AssertionError(f"unexpected request {method} {path}")

    async def _record(self, op: str, request: httpx.Request, body: dict[str, Any] | None) -> None:
        try:
            info: activity.Info | None = activity.info()
        except RuntimeError:
            info = None
        self.requests.append(
            Recorded(
                op=op,
                method=request.method,
                path=request.url.path,
                body=body,
                headers=dict(request.headers),
                attempt=info.attempt if info else None,
                activity_type=info.activity_type if info else None,
                at=await self.clock() if self.clock else None,
            )
        )

    async def _meet(self, op: str) -> None:
        self.started[op].set()
        if not self.overlap:
            return
        (other,) = (o for o in BRANCH_OPS if o != op)
        try:
            await asyncio.wait_for(self.started[other].wait(), self.overlap_timeout)
            self.met[op] = True
        except TimeoutError:
            self.met[op] = False

    def _user(self, email: str) -> dict[str, Any] | None:
        key = email.strip().lower()
        return next((u for u in self.users if u["email"].strip().lower() == key), None)

    def _answer(
        self, op: str, request: httpx.Request, body: dict[str, Any], path_user: str | None
    ) -> httpx.Response:
        if op == "users.create":
            existing = self._user(body["email"])
            if existing is not None:
                return httpx.Response(409, json={"error": {"code": "email_exists"}})
            user = {**body, "id": f"usr_{secrets.token_hex(6)}", "status": "pending",
                    "created_at": NOW}  # fmt: skip
            self.users.append(user)
            return httpx.Response(201, json=user)
        if op == "users.lookup":
            found = self._user(request.url.params["email"])
            return httpx.Response(200, json=found) if found else status(404)
        if op == "users.update":
            target = next((u for u in self.users if u["id"] == path_user), None)
            if target is None:
                return status(404)
            target.update(body)
            return httpx.Response(200, json=target)
        if op == "billing.create":
            return self._once(self.billing, "bil", body, "profile_id", extra={"plan": body["plan"]})
        if op == "preferences.create":
            return self._once(self.preferences, "prf", body, "preferences_id")
        emails = {"free": 3, "pro": 4, "enterprise": 5}[body["plan"]]
        return httpx.Response(
            201,
            json={
                "sequence_id": f"seq_{secrets.token_hex(6)}",
                "user_id": body["user_id"],
                "email": body["email"],
                "plan": body["plan"],
                "emails_sent": emails,
                "email_ids": [f"eml_{i}" for i in range(emails)],
                "created_at": NOW,
            },
        )

    @staticmethod
    def _once(
        store: dict[str, str],
        prefix: str,
        body: dict[str, Any],
        id_key: str,
        extra: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """One record per user; a second one is 409 with the existing id."""
        user_id = body["user_id"]
        if user_id in store:
            return httpx.Response(409, json={id_key: store[user_id], "error": {"code": "exists"}})
        store[user_id] = f"{prefix}_{secrets.token_hex(6)}"
        return httpx.Response(201, json={"id": store[user_id], **body, **(extra or {})})


class RegistrationDoubles:
    """The real registration activities wired to :class:`FakeServices`."""

    def __init__(self, services: FakeServices | None = None) -> None:
        self.services = services or FakeServices()
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self.services.handle))
        urls = service_urls(saga("register").template(), {"SAGA_SERVICES_URL": BASE_URL})
        self.activities = RegistrationActivities(ServiceClient(self.http, urls))

    def all(self) -> list[Any]:
        return self.activities.all()

    async def aclose(self) -> None:
        await self.http.aclose()
