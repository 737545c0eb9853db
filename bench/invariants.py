"""The soak's invariants: what the services' own records hold (money, stock, orders,
emails, users), read read-only from their SQLite file, set against how each saga ended.

A saga that ended ``complete`` keeps exactly its effects (its charge, its stock, one
confirmed order, one confirmation email); one that ended ``compensated``, ``error`` or
``cancelled`` keeps none; one awaiting an operator keeps all of a step's effects or none of
them (the operator decides). A saga whose end is unknown (it did not finish) is not judged,
only counted. Every record must belong to a saga of the run.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

from activities.registration import REGISTRATION_COMPLETE
from bench.faultplan import read_only
from models.status import SagaState

Row = dict[str, Any]
V = TypeVar("V")

COMPLETE: Final = SagaState.COMPLETE.value
AWAITING: Final = SagaState.AWAITING_INTERVENTION.value
UNDONE: Final = frozenset(
    {SagaState.COMPENSATED.value, SagaState.ERROR.value, SagaState.CANCELLED.value}
)
"""Ended without keeping anything."""
TERMINAL: Final = UNDONE | {COMPLETE}
ZERO: Final = Decimal("0.00")

MONEY: Final = "1. money: charges - refunds = totals of complete orders"
STOCK: Final = "2. stock: taken = reserved by complete orders"
ORDERS: Final = "3. no confirmed order without a complete saga"
EMAILS: Final = "4. one confirmation email per complete order"
USERS: Final = "5. one user per email"
SETTLED: Final = "6. every saga terminal, or awaiting an operator with a reason"
REGISTRATION_EFFECTS: Final = "7. registration side effects not duplicated"

_DESCRIPTION: Final = re.compile(r"Order (\S+)")


@dataclass(frozen=True)
class SagaRecord:
    """How one saga of the run ended, with what its input says it should keep."""

    kind: str
    """``order`` or ``registration``."""
    workflow_id: str
    state: str
    """A ``SagaState`` value, or anything else when the end is unknown (``unfinished``)."""
    total: Decimal | None = None
    """Orders: what the customer pays."""
    quantities: Mapping[int, int] = field(default_factory=dict)
    """Orders: units per product."""
    email: str | None = None
    """Registrations: the address registered."""
    confirmation_sent: bool | None = None
    """Orders: whether the saga says its confirmation email went out."""
    intervention_error: str | None = None
    """Awaiting sagas: the error the operator is asked about."""

    @property
    def known(self) -> bool:
        return self.state in TERMINAL or self.state == AWAITING


@dataclass(frozen=True)
class Records:
    """The services' tables the invariants read (JSON columns decoded)."""

    stock: dict[int, int]
    charges: list[Row]
    refunds: list[Row]
    reservations: list[Row]
    orders: list[Row]
    emails: list[Row]
    users: list[Row]
    billing_profiles: list[Row]
    preferences: list[Row]
    welcome_sequences: list[Row]
    charge_keys: dict[str, str]
    """Charge id → the Idempotency-Key of the request that made it."""


def read_stock(db_path: Path) -> dict[int, int]:
    """Every product's stock now."""
    with contextlib.closing(read_only(db_path)) as db:
        return {row["id"]: row["stock"] for row in db.execute("SELECT id, stock FROM products")}


def read_records(db_path: Path) -> Records:
    """One consistent read of everything the invariants need (one read transaction)."""
    with contextlib.closing(read_only(db_path)) as db:
        db.execute("BEGIN")

        def rows(table: str, *json_columns: str) -> list[Row]:
            found = [dict(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for row in found:
                for column in json_columns:
                    row[column] = json.loads(row[column])
            return found

        charge_keys = {
            json.loads(row["body"]).get("id", ""): row["idem_key"]
            for row in db.execute(
                "SELECT idem_key, body FROM idempotency "
                "WHERE method = 'POST' AND route = '/payments/charges' AND status = 201"
            )
        }
        return Records(
            stock={row["id"]: row["stock"] for row in db.execute("SELECT id, stock FROM products")},
            charges=rows("charges"),
            refunds=rows("refunds"),
            reservations=rows("reservations"),
            orders=rows("orders", "items"),
            emails=rows("emails", "data"),
            users=rows("users"),
            billing_profiles=rows("billing_profiles"),
            preferences=rows("preferences"),
            welcome_sequences=rows("welcome_sequences"),
            charge_keys=charge_keys,
        )


@dataclass(frozen=True)
class Offender:
    id: str
    problem: str


@dataclass(frozen=True)
class Invariant:
    name: str
    offenders: list[Offender]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.offenders

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "offenders": [asdict(o) for o in self.offenders],
            "facts": self.facts,
        }


def _keeps(saga: SagaRecord, held: V, full: V, empty: V) -> str | None:
    """Why what ``saga`` holds is wrong for how it ended, or None (also when unknown)."""
    if saga.state == COMPLETE and held != full:
        return f"complete but holds {_show(held)}, expected {_show(full)}"
    if saga.state in UNDONE and held != empty:
        return f"{saga.state} but still holds {_show(held)}"
    if saga.state == AWAITING and held not in (empty, full):
        return f"awaiting an operator and holds {_show(held)}: neither nothing nor {_show(full)}"
    return None


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"product {k}: {v}" for k, v in sorted(value.items())) + "}"
    return str(value)


def _workflow_of_key(key: str) -> str:
    """Idempotency keys are ``<workflow id>:<step>[:<suffix>]``."""
    return key.split(":", 1)[0]


def _charge_owner(charge: Row, charge_keys: Mapping[str, str]) -> str | None:
    """The workflow a charge was made for: by the key it was made under, else its
    description."""
    key = charge_keys.get(charge["id"])
    if key is not None:
        return _workflow_of_key(key)
    found = _DESCRIPTION.fullmatch(charge.get("description") or "")
    return found.group(1) if found else None


def _reservation_owner(reservation: Row) -> str:
    """Reservations are held under ``<workflow id>:<customer>``."""
    return str(reservation["order_id"]).split(":", 1)[0]


def _by(rows: Sequence[Row], key: Callable[[Row], Any]) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped


def check_money(orders: Sequence[SagaRecord], records: Records) -> Invariant:
    """Net money (charges - refunds, in Decimal) per order and in total."""
    ids = {saga.workflow_id for saga in orders}
    refunded: dict[str, Decimal] = defaultdict(Decimal)
    for refund in records.refunds:
        refunded[refund["charge_id"]] += Decimal(refund["amount"])
    offenders: list[Offender] = []
    charges_of: dict[str, list[Row]] = defaultdict(list)
    for charge in records.charges:
        owner = _charge_owner(charge, records.charge_keys)
        if owner in ids:
            charges_of[owner].append(charge)
        else:
            offenders.append(
                Offender(charge["id"], f"charge of {charge['amount']} for no order saga ({owner})")
            )
        if refunded[charge["id"]] > Decimal(charge["amount"]):
            offenders.append(
                Offender(charge["id"], f"refunded {refunded[charge['id']]} of {charge['amount']}")
            )
    expected = held_by_awaiting = unknown = ZERO
    for saga in orders:
        charges = charges_of.get(saga.workflow_id, [])
        net = sum((Decimal(c["amount"]) - refunded[c["id"]] for c in charges), ZERO)
        if len(charges) > 1:
            listed = ", ".join(c["id"] for c in charges)
            offenders.append(Offender(saga.workflow_id, f"charged {len(charges)} times: {listed}"))
        problem = _keeps(saga, net, saga.total, ZERO)
        if problem:
            offenders.append(Offender(saga.workflow_id, problem))
        if saga.state == COMPLETE and saga.total is not None:
            expected += saga.total
        elif saga.state == AWAITING:
            held_by_awaiting += net
        elif not saga.known:
            unknown += net
    charged = sum((Decimal(c["amount"]) for c in records.charges), ZERO)
    refunds = sum((Decimal(r["amount"]) for r in records.refunds), ZERO)
    if charged - refunds != expected + held_by_awaiting + unknown:
        offenders.append(
            Offender(
                "total",
                f"charges {charged} - refunds {refunds} = {charged - refunds}, but complete "
                f"orders total {expected} (+ {held_by_awaiting} held awaiting an operator, "
                f"+ {unknown} held by unfinished sagas)",
            )
        )
    facts = {
        "charges": len(records.charges),
        "refunds": len(records.refunds),
        "charged": str(charged),
        "refunded": str(refunds),
        "net": str(charged - refunds),
        "complete_orders_total": str(expected),
        "held_awaiting_operator": str(held_by_awaiting),
        "held_by_unfinished": str(unknown),
    }
    return Invariant(MONEY, offenders, facts)


def check_stock(
    orders: Sequence[SagaRecord], records: Records, initial_stock: Mapping[int, int]
) -> Invariant:
    """Stock taken per product = what is still reserved = what complete orders bought."""
    ids = {saga.workflow_id for saga in orders}
    offenders: list[Offender] = []
    held: dict[str, dict[int, int]] = defaultdict(dict)
    reserved: Counter[int] = Counter()
    for reservation in records.reservations:
        owner = _reservation_owner(reservation)
        if owner not in ids:
            offenders.append(
                Offender(reservation["id"], f"reservation for no order saga ({owner})")
            )
        if reservation["status"] == "reserved":
            product, quantity = reservation["product_id"], reservation["quantity"]
            reserved[product] += quantity
            held[owner][product] = held[owner].get(product, 0) + quantity
    bought: Counter[int] = Counter()
    for saga in orders:
        holding = held.get(saga.workflow_id, {})
        problem = _keeps(saga, holding, dict(saga.quantities), {})
        if problem:
            offenders.append(Offender(saga.workflow_id, problem))
        if saga.state == COMPLETE:
            bought.update(saga.quantities)
        elif saga.state == AWAITING or not saga.known:
            bought.update(holding)
    for product in sorted(set(initial_stock) | set(records.stock)):
        if product not in initial_stock or product not in records.stock:
            offenders.append(
                Offender(f"product {product}", "not in the catalogue before and after")
            )
            continue
        taken = initial_stock[product] - records.stock[product]
        if taken != reserved[product]:
            offenders.append(
                Offender(
                    f"product {product}",
                    f"stock down by {taken}, but {reserved[product]} units are reserved",
                )
            )
        if reserved[product] != bought[product]:
            offenders.append(
                Offender(
                    f"product {product}",
                    f"{reserved[product]} units reserved, complete orders (and sagas holding "
                    f"theirs pending an operator) account for {bought[product]}",
                )
            )
    released = sum(1 for r in records.reservations if r["status"] == "released")
    facts = {
        "reservations": len(records.reservations),
        "released": released,
        "taken_by_product": {
            str(p): initial_stock[p] - records.stock[p]
            for p in sorted(initial_stock)
            if p in records.stock
        },
    }
    return Invariant(STOCK, offenders, facts)


def check_order_rows(orders: Sequence[SagaRecord], records: Records) -> Invariant:
    """A complete saga has its confirmed order (with its total); no other saga has one."""
    by_id = {saga.workflow_id: saga for saga in orders}
    rows_of = _by(records.orders, lambda row: row["workflow_id"])
    offenders: list[Offender] = []
    for workflow_id, rows in rows_of.items():
        saga = by_id.get(workflow_id)
        if saga is None:
            numbers = ", ".join(row["order_number"] for row in rows)
            offenders.append(Offender(workflow_id, f"order {numbers} for no saga of the run"))
        elif saga.known and saga.state != COMPLETE:
            for row in rows:
                if row["status"] != "cancelled":
                    offenders.append(
                        Offender(
                            workflow_id,
                            f"{saga.state} but order {row['order_number']} is {row['status']}",
                        )
                    )
    for saga in orders:
        if saga.state != COMPLETE:
            continue
        rows = rows_of.get(saga.workflow_id, [])
        if len(rows) != 1:
            offenders.append(Offender(saga.workflow_id, f"complete with {len(rows)} order rows"))
            continue
        (row,) = rows
        if row["status"] != "confirmed":
            offenders.append(
                Offender(
                    saga.workflow_id, f"complete but order {row['order_number']} is {row['status']}"
                )
            )
        if saga.total is not None and Decimal(row["total"]) != saga.total:
            offenders.append(
                Offender(saga.workflow_id, f"order total {row['total']}, expected {saga.total}")
            )
    statuses = Counter(row["status"] for row in records.orders)
    return Invariant(ORDERS, offenders, {"order_rows": dict(sorted(statuses.items()))})


def check_emails(orders: Sequence[SagaRecord], records: Records) -> Invariant:
    """Confirmation emails, found by the order number they name: one per complete order
    whose saga says it went out, none elsewhere, never two."""
    owner_of = {row["order_number"]: row["workflow_id"] for row in records.orders}
    offenders: list[Offender] = []
    sent: Counter[str] = Counter()
    for email in records.emails:
        number = email["data"].get("order_number")
        owner = owner_of.get(number)
        if owner is None:
            offenders.append(Offender(email["id"], f"email for no known order ({number})"))
        else:
            sent[owner] += 1
    degraded: list[str] = []
    for saga in orders:
        count = sent[saga.workflow_id]
        if count > 1:
            offenders.append(Offender(saga.workflow_id, f"{count} confirmation emails"))
        elif saga.state == COMPLETE and saga.confirmation_sent is False:
            degraded.append(saga.workflow_id)
            if count:
                offenders.append(
                    Offender(saga.workflow_id, "an email went out, but the saga says it failed")
                )
        elif saga.state == COMPLETE and count != 1:
            offenders.append(Offender(saga.workflow_id, "complete, but no confirmation email"))
        elif saga.known and saga.state != COMPLETE and count:
            offenders.append(Offender(saga.workflow_id, f"{saga.state} with an email sent"))
    facts = {"emails": len(records.emails), "complete_without_email_by_design": degraded}
    return Invariant(EMAILS, offenders, facts)


def _email_key(email: str) -> str:
    """Users are unique by trimmed, case-folded address, as the users service keeps them."""
    return email.strip().lower()


def check_users(registrations: Sequence[SagaRecord], records: Records) -> Invariant:
    """One user per address; a complete registration's user is marked complete; every
    user belongs to a registration of the run."""
    by_key = _by(records.users, lambda row: _email_key(row["email"]))
    ours = {_email_key(saga.email or ""): saga for saga in registrations}
    offenders: list[Offender] = []
    for key, users in by_key.items():
        if len(users) > 1:
            offenders.append(
                Offender(key, f"{len(users)} users: " + ", ".join(u["id"] for u in users))
            )
        if key not in ours:
            offenders.append(Offender(users[0]["id"], f"user {key} for no registration saga"))
    for saga in registrations:
        users = by_key.get(_email_key(saga.email or ""), [])
        if saga.state != COMPLETE:
            continue
        if not users:
            offenders.append(Offender(saga.workflow_id, "complete, but no user"))
        elif users[0]["status"] != REGISTRATION_COMPLETE:
            offenders.append(
                Offender(saga.workflow_id, f"complete, but user status is {users[0]['status']}")
            )
    return Invariant(USERS, offenders, {"users": len(records.users)})


def check_registration_effects(registrations: Sequence[SagaRecord], records: Records) -> Invariant:
    """At most one billing profile, preferences record and welcome sequence per user."""
    offenders: list[Offender] = []
    for what, rows in (
        ("billing profiles", records.billing_profiles),
        ("preferences records", records.preferences),
        ("welcome sequences", records.welcome_sequences),
    ):
        for user_id, found in _by(rows, lambda row: row["user_id"]).items():
            if len(found) > 1:
                offenders.append(Offender(user_id, f"{len(found)} {what}"))
    facts = {
        "billing_profiles": len(records.billing_profiles),
        "preferences": len(records.preferences),
        "welcome_sequences": len(records.welcome_sequences),
    }
    return Invariant(REGISTRATION_EFFECTS, offenders, facts)


def check_settled(sagas: Sequence[SagaRecord]) -> Invariant:
    """Every saga ended, or waits for an operator and says what about."""
    offenders = [
        Offender(saga.workflow_id, f"{saga.state}")
        for saga in sagas
        if saga.state not in TERMINAL and not (saga.state == AWAITING and saga.intervention_error)
    ]
    return Invariant(SETTLED, offenders, {"states": dict(Counter(s.state for s in sagas))})


def check(
    sagas: Sequence[SagaRecord], records: Records, initial_stock: Mapping[int, int]
) -> list[Invariant]:
    """Every invariant, in the order they are reported."""
    orders = [saga for saga in sagas if saga.kind == "order"]
    registrations = [saga for saga in sagas if saga.kind == "registration"]
    return [
        check_money(orders, records),
        check_stock(orders, records, initial_stock),
        check_order_rows(orders, records),
        check_emails(orders, records),
        check_users(registrations, records),
        check_settled(sagas),
        check_registration_effects(registrations, records),
    ]
