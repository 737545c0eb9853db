"""One time convention (models/times.py): UTC with Z whatever the machine's zone; local time
only when asked, and then with its offset."""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from models.times import clock, span, stamp, use_local_time

MOMENT = datetime(2026, 12, 7, 7, 42, 28, tzinfo=UTC)


@pytest.fixture
def new_york() -> Iterator[None]:
    """The machine's zone set to New York (UTC-5 in December) for the test."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.mark.usefixtures("new_york")
def test_times_are_utc_with_z_whatever_the_zone() -> None:
    assert clock(MOMENT) == "07:42:28Z"
    assert stamp(MOMENT) == "2026-12-07 07:42:28Z"


@pytest.mark.usefixtures("new_york")
def test_local_time_when_asked_carries_its_offset() -> None:
    def local() -> tuple[str, str]:
        use_local_time(True)
        return clock(MOMENT), stamp(MOMENT)

    assert contextvars.copy_context().run(local) == ("02:42:28-05:00", "2026-12-07 02:42:28-05:00")
    assert clock(MOMENT) == "07:42:28Z"  # only in the context that asked


def test_spans() -> None:
    assert [span(s) for s in (0, 59, 119, 120, 3599, 3600, 11100, -3)] == [
        "0s", "59s", "119s", "2m", "59m", "1h00m", "3h05m", "0s"
    ]  # fmt: skip
