"""Which saga a submission is (sagas/identity.py, sagas/prepare.py): precedence of the
explicit id, the business rule, the idempotency key and the request; the dedup window's
setting; run and repeat ids; the search for the latest of a chain."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from sagas.catalogue import saga
from sagas.identity import (
    DEFAULT_DEDUP_WINDOW,
    IdentityError,
    IdentitySource,
    dedup_window,
    describe_window,
    parse_duration,
    run_id,
    run_number,
)
from sagas.lifecycle import highest
from sagas.prepare import InvalidInput, prepare

ROOT = Path(__file__).resolve().parents[2]
ORDER = json.loads((ROOT / "examples" / "order_sample.json").read_text())
REGISTRATION = json.loads((ROOT / "examples" / "registration_sample.json").read_text())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("90s", 90), ("1h30m", 5400), ("2d", 172800), ("0", 0), (" 15m ", 900)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-1h", "1w", "24 h", "1h 30m"])
def test_a_bad_duration_names_the_setting(text: str) -> None:
    with pytest.raises(IdentityError, match=r"^SAGA_DEDUP_WINDOW: expected a duration"):
        parse_duration(text)


def test_the_window_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGA_DEDUP_WINDOW", raising=False)
    assert dedup_window() == DEFAULT_DEDUP_WINDOW == timedelta(hours=24)
    monkeypatch.setenv("SAGA_DEDUP_WINDOW", "90s")
    assert dedup_window() == timedelta(seconds=90)
    assert describe_window(timedelta(hours=1, minutes=30)) == "1h30m"
    assert describe_window(timedelta(0)) == "0"


def test_run_ids_round_trip() -> None:
    assert run_number("order-ab12") == ("order-ab12", 1)
    assert run_number("order-ab12-run-3") == ("order-ab12", 3)
    assert run_number("order-ab12-run-12") == ("order-ab12", 12)
    assert run_number("order-ab12-run-1") == ("order-ab12-run-1", 1)  # run 1 is the id itself
    assert run_number("order-ab12-run-02") == ("order-ab12-run-02", 1)
    assert run_id("order-ab12", 1) == "order-ab12"
    assert run_id("order-ab12", 2) == "order-ab12-run-2"
    assert run_number(run_id("x-2", 7)) == ("x-2", 7)


@pytest.mark.parametrize(("existing", "known"), [(1, 1), (2, 1), (5, 1), (37, 1), (37, 20)])
def test_highest_finds_the_last_of_a_dense_chain(existing: int, known: int) -> None:
    asked: list[int] = []

    async def exists(number: int) -> bool:
        asked.append(number)
        return number <= existing

    assert asyncio.run(highest(exists, known)) == existing
    assert len(asked) <= 2 * max(existing - known, 1).bit_length() + 2


def test_an_identical_request_without_a_key_is_windowed() -> None:
    first, second = (
        prepare(saga("order"), ORDER),
        prepare(saga("order"), json.loads(json.dumps(ORDER))),
    )
    assert first.identity == second.identity
    assert first.identity.source is IdentitySource.REQUEST
    assert first.identity.windowed
    assert first.workflow_id.startswith("order-")
    assert first.identity.repeat(1) == first.workflow_id
    assert first.identity.repeat(3) == f"{first.workflow_id}-3"
    other = prepare(saga("order"), {**ORDER, "priority": "express"})
    assert other.workflow_id != first.workflow_id


def test_the_correlation_id_is_the_key_and_an_explicit_key_wins() -> None:
    keyed = prepare(saga("order"), {**ORDER, "correlation_id": "checkout-1"})
    assert keyed.identity.source is IdentitySource.KEY
    assert keyed.identity.key_name == "$.correlation_id"
    changed = prepare(
        saga("order"), {**ORDER, "correlation_id": "checkout-1", "priority": "express"}
    )
    assert changed.workflow_id == keyed.workflow_id  # same key, same saga (the start refuses it)
    explicit = prepare(
        saga("order"),
        {**ORDER, "correlation_id": "checkout-1"},
        idempotency_key=("checkout-1", "Idempotency-Key"),
    )
    assert explicit.workflow_id == keyed.workflow_id
    assert explicit.identity.key_name == "Idempotency-Key"
    unkeyed = prepare(saga("order"), ORDER)
    assert prepare(
        saga("order"), ORDER, idempotency_key=("k", "--idempotency-key")
    ).workflow_id not in {
        keyed.workflow_id,
        unkeyed.workflow_id,
    }


def test_a_registration_is_one_per_email_whatever_the_key() -> None:
    first = prepare(saga("registration"), REGISTRATION)
    keyed = prepare(
        saga("registration"),
        {**REGISTRATION, "correlation_id": "reg-9"},
        idempotency_key=("anything", "Idempotency-Key"),
    )
    assert first.identity.source is keyed.identity.source is IdentitySource.RULE
    assert first.workflow_id == keyed.workflow_id


def test_an_explicit_id_is_its_own_identity() -> None:
    prepared = prepare(saga("order"), ORDER, workflow_id="order-42")
    assert (prepared.workflow_id, prepared.identity.source) == ("order-42", IdentitySource.ID)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("k" * 256, "must be at most 255 characters"),
        ("a\nb", "must be printable text"),
    ],
)
def test_a_bad_key_is_refused_by_name(key: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        prepare(saga("order"), ORDER, idempotency_key=(key, "Idempotency-Key"))
    [error] = refused.value.errors
    assert error.path == "Idempotency-Key"
    assert error.message.startswith(message)
