"""Delay curves of retry strategies (property-based) and how the activity applies them."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError

from activities.step import apply_rules
from adapter.backoff import JITTER, base_delay, jittered, strategy_delay
from models.plan import Backoff, RetryRules, StrategyPlan

bases = st.floats(min_value=0.01, max_value=600, allow_nan=False)
caps = st.one_of(st.none(), st.floats(min_value=0.01, max_value=3600, allow_nan=False))
attempts = st.integers(min_value=1, max_value=200)
curves = st.sampled_from(list(Backoff))


@given(curves, bases, caps, attempts)
def test_delays_never_exceed_the_cap(
    curve: Backoff, base: float, cap: float | None, n: int
) -> None:
    delay = base_delay(curve, base, cap, n)
    assert delay >= 0
    if cap is not None:
        assert delay <= cap


@given(st.sampled_from([Backoff.EXPONENTIAL, Backoff.LINEAR]), bases, caps, attempts)
def test_growing_curves_are_monotone(
    curve: Backoff, base: float, cap: float | None, n: int
) -> None:
    assert base_delay(curve, base, cap, n) <= base_delay(curve, base, cap, n + 1)


@given(bases, caps, attempts)
def test_fixed_is_constant(base: float, cap: float | None, n: int) -> None:
    expected = base if cap is None else min(base, cap)
    assert base_delay(Backoff.FIXED, base, cap, n) == expected


@given(bases, attempts)
def test_exact_shapes_without_cap(base: float, n: int) -> None:
    assert base_delay(Backoff.LINEAR, base, None, n) == pytest.approx(base * n)
    assert base_delay(Backoff.EXPONENTIAL, base, None, min(n, 30)) == pytest.approx(
        base * 2 ** (min(n, 30) - 1)
    )


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.integers())
def test_jitter_stays_within_ten_percent(delay: float, seed: int) -> None:
    moved = jittered(delay, random.Random(seed))
    assert delay * (1 - JITTER) - 1e-9 <= moved <= delay * (1 + JITTER) + 1e-9


def test_jitter_actually_varies() -> None:
    rng = random.Random(7)
    assert len({round(jittered(10.0, rng), 6) for _ in range(20)}) > 1


def test_reference_strategies() -> None:
    assert [base_delay(Backoff.EXPONENTIAL, 2, 60, n) for n in range(1, 8)] == [
        2, 4, 8, 16, 32, 60, 60,
    ]  # fmt: skip
    assert [base_delay(Backoff.LINEAR, 1, None, n) for n in (1, 2, 3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="start at 1"):
        base_delay(Backoff.LINEAR, 1, None, 0)


# -- the activity's side: limits and delays from RetryRules ---------------------------------

TIMEOUTS = StrategyPlan(
    name="payment_timeout", error_types=["SERVICE_TIMEOUT"], retry_limit=5,
    backoff=Backoff.EXPONENTIAL, base_delay=2, max_delay=60,
)  # fmt: skip
RULES = RetryRules(attempt_limit=3, maximum_attempts=5, strategies=[TIMEOUTS])


def fail(code: str, *, delay: float | None = None, permanent: bool = False) -> ApplicationError:
    return ApplicationError(
        "x",
        type=code,
        non_retryable=permanent,
        next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
    )


@given(st.integers(min_value=1, max_value=4))
def test_matching_strategy_sets_jittered_delay(attempt: int) -> None:
    raised = apply_rules(fail("SERVICE_TIMEOUT"), attempt, RULES)
    assert not raised.non_retryable
    assert raised.next_retry_delay is not None
    expected = min(2 * 2 ** (attempt - 1), 60)
    seconds = raised.next_retry_delay.total_seconds()
    assert expected * 0.9 - 1e-6 <= seconds <= expected * 1.1 + 1e-6


def test_matching_strategy_stops_at_its_own_limit() -> None:
    last = apply_rules(fail("SERVICE_TIMEOUT"), 5, RULES)
    assert last.details == ({"attempt": 5, "exhausted": "strategy payment_timeout: 5 attempts"},)
    assert not last.non_retryable  # Temporal's maximum_attempts (5) stops it


def test_other_errors_stop_at_the_step_limit_before_temporal_does() -> None:
    assert not apply_rules(fail("SERVICE_UNAVAILABLE"), 2, RULES).non_retryable
    assert apply_rules(fail("SERVICE_UNAVAILABLE"), 2, RULES).next_retry_delay is None
    third = apply_rules(fail("SERVICE_UNAVAILABLE"), 3, RULES)
    assert third.non_retryable
    assert third.details == ({"attempt": 3, "exhausted": "step limit: 3 attempts"},)


OUTAGES = StrategyPlan(
    name="infrastructure", error_types=["SERVICE_UNAVAILABLE"], retry_limit=20,
    backoff=Backoff.EXPONENTIAL, base_delay=1, max_delay=60, max_elapsed_seconds=300,
)  # fmt: skip
OUTAGE_RULES = RetryRules(attempt_limit=3, maximum_attempts=20, strategies=[OUTAGES])


def test_budget_keeps_retrying_while_the_next_attempt_fits() -> None:
    raised = apply_rules(fail("SERVICE_UNAVAILABLE"), 8, OUTAGE_RULES, elapsed=200)
    assert not raised.non_retryable
    assert raised.next_retry_delay is not None
    assert 54 <= raised.next_retry_delay.total_seconds() <= 66  # capped at max_delay


def test_budget_stops_when_the_next_attempt_would_start_past_it() -> None:
    raised = apply_rules(fail("SERVICE_UNAVAILABLE"), 8, OUTAGE_RULES, elapsed=250)
    assert raised.non_retryable
    assert raised.details == (
        {"attempt": 8, "exhausted": "strategy infrastructure: 300 s budget, 8 attempts"},
    )


def test_server_delay_counts_against_the_budget() -> None:
    late = apply_rules(fail("SERVICE_UNAVAILABLE", delay=120), 2, OUTAGE_RULES, elapsed=200)
    assert late.non_retryable
    early = apply_rules(fail("SERVICE_UNAVAILABLE", delay=120), 2, OUTAGE_RULES, elapsed=100)
    assert early.next_retry_delay == timedelta(seconds=120)


def test_a_service_error_keeps_the_step_limit_beside_an_outage_strategy() -> None:
    assert apply_rules(fail("SERVICE_ERROR"), 3, OUTAGE_RULES).non_retryable
    assert not apply_rules(fail("SERVICE_UNAVAILABLE"), 3, OUTAGE_RULES).non_retryable


def test_each_limit_counts_the_failures_of_its_own_class() -> None:
    """Two attempts lost to an outage, then a service error: the step's limit (3) has one
    failure against it, and the outage strategy's curve restarts from its own count."""
    business = apply_rules(fail("SERVICE_ERROR"), 3, OUTAGE_RULES, failures=1)
    assert not business.non_retryable
    last = apply_rules(fail("SERVICE_ERROR"), 5, OUTAGE_RULES, failures=3)
    assert last.non_retryable
    assert last.details == ({"attempt": 5, "exhausted": "step limit: 3 attempts"},)
    outage = apply_rules(fail("SERVICE_UNAVAILABLE"), 4, OUTAGE_RULES, failures=1)
    assert outage.next_retry_delay is not None
    assert outage.next_retry_delay.total_seconds() <= 1.1  # the curve's first step


def test_server_delay_wins_over_the_curve() -> None:
    raised = apply_rules(fail("SERVICE_TIMEOUT", delay=42), 1, RULES)
    assert raised.next_retry_delay == timedelta(seconds=42)


def test_permanent_errors_and_missing_rules_pass_through() -> None:
    permanent = apply_rules(fail("PAYMENT_DECLINED", permanent=True), 1, RULES)
    assert permanent.non_retryable
    assert permanent.details == ({"attempt": 1},)
    plain = apply_rules(fail("SERVICE_TIMEOUT"), 9, None)
    assert plain.next_retry_delay is None
    assert not plain.non_retryable


def test_unlimited_policies_are_left_to_temporal() -> None:
    unlimited = RetryRules(attempt_limit=1, maximum_attempts=0)
    assert not apply_rules(fail("ANY"), 50, unlimited).non_retryable


def test_strategy_delay_uses_the_plan() -> None:
    assert 1.8 <= strategy_delay(TIMEOUTS, 1, random.Random(1)) <= 2.2
