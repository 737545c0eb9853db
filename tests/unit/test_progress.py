"""The progress lines of ``--wait`` and ``status --watch``, from the polls they are made of:
each step starting and ending, each failed attempt with its error and the next retry's
time, the operator awaited with the command to run, and nothing said twice."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from models.status import (
    CompensationStatus,
    Intervention,
    InterventionAction,
    SagaState,
    SagaStatus,
    StepError,
    StepState,
    StepStatus,
)
from sagas.progress import PendingAttempt, Printer, Snapshot, attempt_line, changes, waiting_line

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
STEPS = ("validate_cart", "process_payment", "update_inventory")
TIMEOUT = "SERVICE_TIMEOUT: gateway timeout"


def _clock(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


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


def _payment(attempt: int, *, running: bool = False, wait: float = 11) -> PendingAttempt:
    return PendingAttempt(
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
    undo = PendingAttempt("refund_payment", attempt=1, maximum_attempts=0, running=True)
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
