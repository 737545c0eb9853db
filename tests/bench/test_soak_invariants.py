"""The soak's invariant checker and fault plan, without a Temporal server.

The records are made by the real services (in-process, over HTTP) the way the sagas make
them: a consistent world passes every invariant, and a world with one step left out or
done twice (a refund missing, stock not released, an email sent twice, …) fails exactly the
invariant about it, naming the saga.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.faultplan import (
    LOST_REPLY,
    REFUSALS,
    SIDE_EFFECTING,
    FaultInjector,
    PlannedFault,
    build_plan,
    expected_calls,
    operation_of,
)
from bench.invariants import (
    AWAITING,
    EMAILS,
    MONEY,
    ORDERS,
    REGISTRATION_EFFECTS,
    SETTLED,
    STOCK,
    USERS,
    Invariant,
    SagaRecord,
    check,
    read_records,
    read_stock,
)
from services import Settings, create_app
from services.faults import OPERATIONS

COMPLETE_ORDER = "order-complete"
UNDONE_ORDER = "order-undone"
AWAITING_ORDER = "order-awaiting"
REGISTRATION = "registration-one"
EMAIL = "ada@example.com"
CUSTOMER = 42
CART = {1: 2, 2: 1}
TOTAL = Decimal("124.76")

SAGAS = [
    SagaRecord("order", COMPLETE_ORDER, "complete", TOTAL, CART, confirmation_sent=True),
    SagaRecord("order", UNDONE_ORDER, "compensated", TOTAL, CART),
    SagaRecord(
        "order", AWAITING_ORDER, AWAITING, TOTAL, CART, intervention_error="RESOURCE_NOT_FOUND: x"
    ),
    SagaRecord("registration", REGISTRATION, "complete", email=EMAIL),
]


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(tmp_path / "services.db", settings=Settings(test_api=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as c:
        yield c
    app.state.db.close()


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any], key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    answer = await http.post(path, json=body, headers=headers)
    assert answer.status_code < 300, answer.text
    return answer.json()


async def _charge(http: httpx.AsyncClient, workflow_id: str) -> str:
    body = {"amount": str(TOTAL), "token": "tok_visa", "description": f"Order {workflow_id}"}
    charge = await _post(http, "/payments/charges", body, f"{workflow_id}:process_payment")
    return str(charge["id"])


async def _reserve(http: httpx.AsyncClient, workflow_id: str) -> list[str]:
    items = [{"product_id": p, "quantity": q} for p, q in CART.items()]
    body = {"order_id": f"{workflow_id}:{CUSTOMER}", "items": items}
    held = await _post(http, "/inventory/reservations/batch", body)
    return [r["reservation_id"] for r in held["reservations"]]


async def _create_order(
    http: httpx.AsyncClient, workflow_id: str, charge: str, reservations: list[str]
) -> str:
    body = {
        "workflow_id": workflow_id,
        "customer_email": "jane@example.com",
        "customer_name": "Jane",
        "items": [{"product_id": p, "quantity": q} for p, q in CART.items()],
        "subtotal": "109.97",
        "tax": "8.80",
        "shipping": "5.99",
        "total": str(TOTAL),
        "payment_id": charge,
        "reservation_ids": reservations,
    }
    return str((await _post(http, "/orders", body))["order_number"])


async def build_world(
    http: httpx.AsyncClient,
    *,
    refund: bool = True,
    release: bool = True,
    cancel: bool = True,
    emails: int = 1,
    welcomes: int = 1,
    stranger_charge: bool = False,
) -> None:
    """A complete order, an order compensated after it was created, an order waiting for
    an operator with its charge held, and a complete registration; the flags break it."""
    charge = await _charge(http, COMPLETE_ORDER)
    number = await _create_order(http, COMPLETE_ORDER, charge, await _reserve(http, COMPLETE_ORDER))
    for _ in range(emails):
        body = {"to": "jane@example.com", "data": {"order_number": number}}
        await _post(http, "/emails", body)

    undone_charge = await _charge(http, UNDONE_ORDER)
    reservations = await _reserve(http, UNDONE_ORDER)
    await _create_order(http, UNDONE_ORDER, undone_charge, reservations)
    if cancel:
        await _post(http, "/orders/cancel", {"workflow_id": UNDONE_ORDER})
    if release:
        for reservation in reservations:
            await _post(http, f"/inventory/reservations/{reservation}/release", {})
    if refund:
        await _post(http, "/payments/refunds", {"charge_id": undone_charge})

    await _charge(http, AWAITING_ORDER)
    if stranger_charge:
        await _charge(http, "order-stranger")

    user = await _post(http, "/users", {"email": EMAIL, "name": "Ada", "plan": "pro"})
    for _ in range(welcomes):
        await _post(
            http, "/notifications/welcome-sequences", {"user_id": user["id"], "email": EMAIL}
        )
    await http.patch(f"/users/{user['id']}", json={"status": "registration_complete"})


def _failed(invariants: list[Invariant]) -> dict[str, list[str]]:
    return {i.name: [o.id for o in i.offenders] for i in invariants if not i.passed}


async def test_a_consistent_world_passes_every_invariant(
    services: httpx.AsyncClient, tmp_path: Path
) -> None:
    db = tmp_path / "services.db"
    before = read_stock(db)
    await build_world(services)

    invariants = check(SAGAS, read_records(db), before)

    assert _failed(invariants) == {}
    money = invariants[0].facts
    assert (money["net"], money["complete_orders_total"]) == ("249.52", "124.76")
    assert money["held_awaiting_operator"] == "124.76"
    assert invariants[1].facts["taken_by_product"]["1"] == 2


@pytest.mark.parametrize(
    ("breakage", "invariant", "offenders"),
    [
        ({"refund": False}, MONEY, [UNDONE_ORDER, "total"]),
        ({"stranger_charge": True}, MONEY, ["ch_", "total"]),
        ({"release": False}, STOCK, [UNDONE_ORDER, "product 1", "product 2"]),
        ({"cancel": False}, ORDERS, [UNDONE_ORDER]),
        ({"emails": 2}, EMAILS, [COMPLETE_ORDER]),
        ({"emails": 0}, EMAILS, [COMPLETE_ORDER]),
        ({"welcomes": 2}, REGISTRATION_EFFECTS, ["usr_"]),
    ],
    ids=[
        "refund missing",
        "charge for no saga",
        "stock not released",
        "order not cancelled",
        "email sent twice",
        "email never sent",
        "welcome sequence twice",
    ],
)
async def test_one_thing_wrong_fails_its_invariant_naming_the_saga(
    services: httpx.AsyncClient,
    tmp_path: Path,
    breakage: dict[str, Any],
    invariant: str,
    offenders: list[str],
) -> None:
    db = tmp_path / "services.db"
    before = read_stock(db)
    await build_world(services, **breakage)

    failed = _failed(check(SAGAS, read_records(db), before))

    assert list(failed) == [invariant]
    assert len(failed[invariant]) == len(offenders), failed
    for found, expected in zip(sorted(failed[invariant]), sorted(offenders), strict=True):
        assert found.startswith(expected), failed


async def test_an_order_whose_saga_did_not_complete_keeps_nothing(
    services: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The complete order's records, but its saga says it was compensated: every record it
    keeps is an offence (its charge, its stock, its confirmed order, its email)."""
    db = tmp_path / "services.db"
    before = read_stock(db)
    await build_world(services)
    sagas = [dataclasses.replace(SAGAS[0], state="compensated"), *SAGAS[1:]]

    failed = _failed(check(sagas, read_records(db), before))

    assert set(failed) == {MONEY, STOCK, ORDERS, EMAILS}
    assert all(COMPLETE_ORDER in ids for ids in failed.values()), failed


async def test_unsettled_sagas_and_a_second_user_for_one_email_fail(
    services: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Sagas that did not end, or wait with no reason; two users for one address (the
    users service refuses that, so the second row is added to what was read)."""
    db = tmp_path / "services.db"
    before = read_stock(db)
    await build_world(services)
    records = read_records(db)
    twin = {**records.users[0], "id": "usr_twin", "email": EMAIL.upper()}
    records = dataclasses.replace(records, users=[*records.users, twin])
    sagas = [
        *SAGAS[:2],
        dataclasses.replace(SAGAS[2], intervention_error=None),
        dataclasses.replace(SAGAS[3], state="unfinished"),
    ]

    failed = _failed(check(sagas, records, before))

    assert sorted(failed[SETTLED]) == sorted([AWAITING_ORDER, REGISTRATION])
    assert failed[USERS] == [EMAIL]
    assert set(failed) == {SETTLED, USERS}


def test_the_fault_plan_is_reproducible_and_keeps_its_shares() -> None:
    plan = build_plan(7, 500, 200, 0.10, 0.05, 0.02)
    assert plan == build_plan(7, 500, 200, 0.10, 0.05, 0.02)
    assert plan != build_plan(8, 500, 200, 0.10, 0.05, 0.02)
    for operation, calls in expected_calls(500, 200).items():
        mine = [fault for fault in plan if fault.operation == operation]
        assert operation in OPERATIONS
        assert len({fault.position for fault in mine}) == len(mine)
        lost = [fault for fault in mine if fault.kind == LOST_REPLY]
        refused = [fault for fault in mine if fault.kind.startswith("refused_")]
        assert len(mine) - len(lost) - len(refused) == round(0.10 * calls)
        assert len(lost) == (round(0.05 * calls) if operation in SIDE_EFFECTING else 0)
        assert len(refused) == (round(0.02 * calls) if operation in REFUSALS else 0)


def test_requests_are_counted_as_calls_of_their_operation() -> None:
    assert operation_of("GET", "/catalog/products") == "catalog.get_product"
    assert operation_of("POST", "/inventory/reservations/batch") == "inventory.reserve"
    assert operation_of("POST", "/inventory/reservations/res_1/release") == "inventory.release"
    assert operation_of("PATCH", "/users/usr_1") == "users.update"
    assert operation_of("GET", "/users/usr_1") is None
    assert operation_of("GET", "/effects/order-1:process_payment") is None


async def test_faults_are_queued_when_due_and_counted_when_hit(
    services: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Every kind of planned fault is accepted by the fault API; the second fault waits
    for the first call; what nobody ran into is reported and cleared."""
    kinds = ["503", "502", "timeout", "rate_limit", LOST_REPLY, "refused_422"]
    plan = [
        PlannedFault("emails.send", 0, "503"),
        PlannedFault("emails.send", 1, LOST_REPLY),
        *(PlannedFault("users.update", 0, kind) for kind in kinds),
    ]
    injector = FaultInjector(services, tmp_path / "services.db", plan, seed=1)

    await injector.tick()
    assert len(injector.injected) == 1 + len(kinds)
    refused = await services.post("/emails", json={"to": "a@example.com"})
    assert refused.status_code == 503
    await injector.tick()
    report = await injector.finish()

    assert (report.planned, report.injected, report.hit) == (len(plan), len(plan), 1)
    assert report.pending_at_end == len(plan) - 1
    assert report.hit_by_kind == {"503": 1}
    assert report.injected_by_kind["refused_422"] == 1
    assert report.calls_by_operation == {"emails.send": 1}
    assert (await services.get("/_faults")).json()["faults"] == []
