"""What the CLI prints of a status document and of a list of sagas: an error a step had
before it completed is shown as earlier, never as the step's state."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from frontends.report import model_shape, render_sagas, render_status
from models.status import SagaState, SagaStatus, StepError, StepState, StepStatus
from sagas.operations import SagaSummary

OUT_OF_STOCK = StepError(type="OUT_OF_STOCK", message="no stock", non_retryable=False)


def _line(text: str, step: str) -> str:
    [line] = [line for line in text.splitlines() if line.strip().startswith(step)]
    return line


def test_an_error_before_completion_is_marked_earlier() -> None:
    status = SagaStatus(
        workflow_id="order-1",
        workflow="process_order",
        state=SagaState.COMPLETE,
        correlation_id="c-1",
        steps={
            "update_inventory": StepStatus(
                state=StepState.COMPLETE, attempts=3, earlier_error=OUT_OF_STOCK
            ),
            "process_payment": StepStatus(state=StepState.ERROR, attempts=1, error=OUT_OF_STOCK),
            "validate_cart": StepStatus(state=StepState.COMPLETE, attempts=1),
        },
    )
    text = render_status(status)
    assert _line(text, "update_inventory").split()[1:] == [
        "complete", "3", "(earlier:", "OUT_OF_STOCK:", "no", "stock)",
    ]  # fmt: skip
    assert _line(text, "process_payment").split()[1:] == [
        "error", "1", "OUT_OF_STOCK:", "no", "stock",
    ]  # fmt: skip
    assert _line(text, "validate_cart").split()[1:] == ["complete", "1"]


def test_the_earlier_error_is_left_out_of_payloads_when_there_is_none() -> None:
    """Older readers and recorded histories never see the new field unless it is set."""
    assert "earlier_error" not in StepStatus().model_dump(exclude_defaults=True)


def test_list_rows_have_state_step_correlation_id_and_start() -> None:
    started = datetime(2026, 11, 28, 18, 15, 26, tzinfo=UTC)
    sagas = [
        SagaSummary(
            workflow_id="order-abc", saga="order", state="awaiting_intervention",
            current_step="update_inventory", correlation_id="ord_1", started_at=started,
        ),
        SagaSummary(workflow_id="registration-def", saga="registration", state="complete"),
    ]  # fmt: skip
    header, stuck, done = render_sagas(sagas).splitlines()
    assert header.split("  ")[0] == "workflow id"
    assert stuck.split() == [
        "order-abc", "order", "awaiting_intervention", "update_inventory", "ord_1",
        "2026-11-28", "18:15:26Z",
    ]  # fmt: skip
    assert done.split() == ["registration-def", "registration", "complete", "-", "-", "-"]
    assert header.index("current step") == stuck.index("update_inventory")
    assert render_sagas([]) == "no sagas match"


class Line(BaseModel):
    sku: str
    count: int = 1


class Small(BaseModel):
    lines: list[Line]
    note: str | None = None


def test_a_model_shape_names_every_key_and_marks_optional_ones() -> None:
    assert model_shape(Small) == (
        '{"lines": [{"sku": string, "count"?: integer}, …], "note"?: string | null}'
    )
