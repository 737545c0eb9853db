"""Delay curves of ``retry_strategies`` (Tasker's exponential, linear and fixed backoff).

Pure functions shared by the activity wrapper (which applies them through
``next_retry_delay``) and ``starter.py config show`` (which prints them).
"""

from __future__ import annotations

import random

from models.plan import Backoff, StrategyPlan

JITTER = 0.10
"""Tasker adds a small random jitter to every delay: ±10 %."""


def base_delay(backoff: Backoff, base: float, cap: float | None, attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based), before jitter.

    exponential: ``base * 2^(attempt-1)``; linear: ``base * attempt``; fixed: ``base``;
    each capped at ``cap`` when one is given.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if backoff is Backoff.EXPONENTIAL:
        delay = base * 2.0 ** min(attempt - 1, 64)
    elif backoff is Backoff.LINEAR:
        delay = base * attempt
    else:
        delay = base
    return min(delay, cap) if cap is not None else delay


def jittered(delay: float, rng: random.Random | None = None) -> float:
    """``delay`` moved by a uniform ±10 %, never negative."""
    spread = delay * JITTER
    return max(0.0, delay + (rng or random).uniform(-spread, spread))


def strategy_delay(strategy: StrategyPlan, attempt: int, rng: random.Random | None = None) -> float:
    """The jittered delay ``strategy`` asks for after failed attempt ``attempt``."""
    return jittered(
        base_delay(strategy.backoff, strategy.base_delay, strategy.max_delay, attempt), rng
    )
