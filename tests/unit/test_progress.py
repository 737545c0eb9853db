"""The progress lines of ``--wait`` and ``status --watch``, from the polls they are made of:
each step starting and ending, each failed attempt with its error and the next retry's
time, the operator awaited with the command to run, and nothing said twice."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from models.status import (
    AttemptNow,
    CompensationStatus,
    Intervention,
    InterventionAction,
    SagaState,
    SagaStatus,
    StepError,
    StepState,
    StepStatus,
)
from sagas.progress import Printer, Snapshot, attempt_line, changes, waiting_line

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
STEPS = ("validate_cart", "process_payment", "update_inventory")
TIMEOUT = "SERVICE_TIMEOUT: gateway timeout"


def _clock(moment: datetime) -> str:
    """Times print in UTC with an explicit Z, whatever the machine's zone."""
    return moment.astimezone(UTC).strftime("%H:%M:%SZ")


def _status(*states: StepState, saga: SagaState = SagaState.IN_PROGRESS) -> SagaStatus:
    return SagaStatus(
        workflow_id="order-1",
        workflow="process_order",
        correlation_id="ord_1",
        state=saga,
        steps={
            name: StepStatus(state=state, attempts=int(state is StepState.COMPLETE))
            for name, state in zip(STEPS, states, strict=True)
        },
    )


def _payment(attempt: int, *, running: bool = False, wait: float = 11) -> AttemptNow:
    return AttemptNow(
        activity="process_payment",
        attempt=attempt,
        maximum_attempts=5,
        running=running,
        last_failure=TIMEOUT if attempt > 1 else None,
        next_attempt_at=None if running else NOW + timedelta(seconds=wait),
        started_at=NOW - timedelta(seconds=3) if running else None,
    )


P, R, C, E = StepState.PENDING, StepState.IN_PROGRESS, StepState.COMPLETE, StepState.ERROR


def test_a_retried_step_from_start_to_finish() -> None:
    polls = [
        Snapshot(_status(R, P, P), {}),
        Snapshot(_status(C, R, P), {"process_payment": _payment(1, running=True)}),
        Snapshot(_status(C, R, P), {"process_payment": _payment(2)}),
        Snapshot(_status(C, R, P), {"process_payment": _payment(2)}),  # nothing new
        Snapshot(_status(C, R, P), {"process_payment": _payment(2, running=True)}),
    ]
    done = _status(C, C, C, saga=SagaState.COMPLETE)
    done.steps["process_payment"].attempts = 2
    polls.append(Snapshot(done, {}))
    lines = []
    previous = None
    for poll in polls:
        lines += changes(previous, poll, NOW)
        previous = poll
    assert lines == [
        "▶ validate_cart started",
        "✓ validate_cart complete (1 attempt)",
        "▶ process_payment started",
        f"  process_payment: attempt 1 failed: {TIMEOUT}; attempt 2 of 5 at"
        f" {_clock(NOW + timedelta(seconds=11))} (in 11s)",
        "✓ process_payment complete (2 attempts)",
        "✓ update_inventory complete (1 attempt)",
        "■ saga complete",
    ]


def test_attempts_missed_between_polls_are_named_together() -> None:
    first = Snapshot(_status(C, R, P), {"process_payment": _payment(2)})
    later = Snapshot(_status(C, R, P), {"process_payment": _payment(4)})
    [line] = changes(first, later, NOW)
    assert line.startswith(f"  process_payment: attempts 2-3 failed, the last: {TIMEOUT};")


def test_status_shows_the_running_attempt_and_the_last_failure() -> None:
    status = _status(C, R, P)
    running = attempt_line(status, _payment(3, running=True), NOW)
    assert running == (
        f"process_payment: attempt 2 failed: {TIMEOUT}; attempt 3 of 5 running since"
        f" {_clock(NOW - timedelta(seconds=3))}"
    )
    waiting = attempt_line(status, _payment(2, wait=125), NOW)
    assert waiting.endswith(f"attempt 2 of 5 at {_clock(NOW + timedelta(seconds=125))} (in 2m)")


def test_a_compensation_is_named_with_the_step_it_undoes() -> None:
    status = _status(C, C, E, saga=SagaState.IN_PROGRESS)
    status.compensations.append(
        CompensationStatus(activity="refund_payment", for_step="process_payment",
                           state=StepState.IN_PROGRESS)
    )  # fmt: skip
    undo = AttemptNow(activity="refund_payment", attempt=1, maximum_attempts=0, running=True)
    lines = changes(Snapshot(_status(C, C, E), {}), Snapshot(status, {"refund_payment": undo}), NOW)
    assert lines == ["↩ refund_payment (undo process_payment) started"]
    assert attempt_line(status, undo, NOW) == (
        "refund_payment (undo process_payment): attempt 1 running"
    )


def test_awaiting_an_operator_says_why_and_the_command_to_run() -> None:
    before = Snapshot(_status(C, C, R), {})
    stuck = _status(C, C, E, saga=SagaState.AWAITING_INTERVENTION)
    error = StepError(type="SERVICE_ERROR", message="inventory said 500", non_retryable=False)
    stuck.steps["update_inventory"] = StepStatus(state=E, attempts=2, error=error)
    stuck.intervention = Intervention(
        step="update_inventory",
        error=error,
        allowed=[InterventionAction.RETRY, InterventionAction.RESOLVE, InterventionAction.FAIL],
        deadline=NOW + timedelta(hours=24),
    )
    lines = changes(before, Snapshot(stuck, {}), NOW)
    assert (
        lines[0] == "✗ update_inventory failed after 2 attempts: SERVICE_ERROR: inventory said 500"
    )
    assert lines[1] == "⏸ update_inventory awaits an operator: SERVICE_ERROR: inventory said 500"
    assert lines[2].startswith("  allowed: retry, resolve, fail; until ")
    assert lines[3] == "  run: python starter.py intervene order-1 retry|resolve|fail"
    assert waiting_line(Snapshot(stuck, {}), NOW) == (
        "… update_inventory awaits an operator (deadline in 24h00m)"
    )


def test_waiting_line_counts_down_to_the_next_attempt() -> None:
    current = Snapshot(_status(C, R, P), {"process_payment": _payment(2, wait=9)})
    assert waiting_line(current, NOW) == "… process_payment: attempt 2 of 5 in 9s"
    running = Snapshot(_status(C, R, P), {"process_payment": _payment(2, running=True)})
    assert waiting_line(running, NOW) == "… process_payment: attempt 2 of 5 running for 3s"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_and_a_redrawn_line_on_one() -> None:
    plain = io.StringIO()
    printer = Printer(plain)
    printer.transient("… waiting")
    printer.lines(["✓ done"])
    assert plain.getvalue() == "✓ done\n"

    terminal = _Terminal()
    printer = Printer(terminal)
    printer.transient("… waiting")
    printer.lines(["✓ done"])
    assert terminal.getvalue() == "… waiting\r\x1b[K✓ done\n"


def _inventory(attempt: int, failures: dict[str, int] | None = None) -> AttemptNow:
    """update_inventory as the server holds it: Temporal's maximum is the outage budget's
    (20), the step's own limit is 2."""
    return AttemptNow(
        activity="update_inventory",
        attempt=attempt,
        maximum_attempts=20,
        running=False,
        last_failure="SERVICE_ERROR: 500" if attempt > 1 else None,
        next_attempt_at=NOW + timedelta(seconds=4),
        failures=failures or {},
    )


def test_an_attempt_counts_against_the_step_limit_and_the_outage_budget_apart() -> None:
    status = _status(C, C, R)
    status.steps["update_inventory"].attempt_limit = 2
    line = attempt_line(status, _inventory(2, {"step": 1}), NOW)
    assert "attempt 1 failed: SERVICE_ERROR: 500; attempt 2 of 2 at" in line
    assert "20" not in line
    outage = attempt_line(status, _inventory(6, {"step": 1, "infrastructure": 4}), NOW)
    assert outage.split("; ", 1)[1].startswith(
        "attempt 6 (step limit 2: 1 failed; infrastructure outage budget 20: 4 failed) at"
    )


def test_an_operator_retry_starts_a_new_round() -> None:
    stuck = _status(C, C, E, saga=SagaState.AWAITING_INTERVENTION)
    stuck.steps["update_inventory"].attempts = 2
    again = _status(C, C, R)
    step = again.steps["update_inventory"]
    step.attempts, step.attempt_limit, step.round = 2, 2, 2
    step.earlier_error = StepError(type="SERVICE_ERROR", message="500", non_retryable=True)
    lines = changes(Snapshot(stuck, {}), Snapshot(again, {}), NOW)
    assert "▶ update_inventory started again (round 2)" in lines
    retried = attempt_line(again, _inventory(2, {"step": 1}), NOW)
    assert retried.startswith("update_inventory: round 2, attempt 1 failed: SERVICE_ERROR: 500;")
    assert "round 2, attempt 2 of 2 at" in retried
    failed = again.model_copy(deep=True)
    failed.steps["update_inventory"].state, failed.steps["update_inventory"].attempts = E, 4
    [line] = changes(Snapshot(again, {}), Snapshot(failed, {}), NOW)
    assert line.startswith("✗ update_inventory failed after 4 attempts in 2 rounds:")
