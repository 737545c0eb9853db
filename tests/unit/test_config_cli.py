"""``starter.py config validate`` and ``config show`` (issue 4 tooling), through ``main``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import starter
from adapter.errors import ConfigErrors
from adapter.loader import load_template
from sagas.catalogue import saga
from sagas.prepare import prepare

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "fixtures" / "tasker"  # Tasker's own configs, see its README
ALL_CONFIGS = [
    *sorted((ROOT / "config").glob("*.yaml")),
    *sorted(REFERENCE.glob("*.yaml")),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = starter.main(list(argv))
    return code, capsys.readouterr().out


def rows(output: str) -> dict[str, list[str]]:
    """Table rows by step name, cells split on runs of two or more spaces."""
    table: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 6 and not cells[0].startswith("-"):
            table[cells[0]] = cells
    return table


def test_all_configs_validate(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(ALL_CONFIGS) == 5
    code, out = run(capsys, "config", "validate", *map(str, ALL_CONFIGS))
    assert code == 0
    assert out.count("ok: ") == 5
    assert "error" not in out


def test_validate_lists_every_broken_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nstep_templates:\n  - name: a\n    depends_on_step: b\n")
    odd = tmp_path / "odd.yaml"
    odd.write_text("name: y\nstep_templates:\n  - name: a\n    retries: 3\n")
    code, out = run(capsys, "config", "validate", str(broken), str(odd), str(tmp_path / "no"))
    assert code == 2
    assert f"error: {broken}: step 'a': key 'depends_on': unknown dependency 'b'" in out
    assert f"warning: {odd}: step 'a': key 'retries': unknown key, ignored" in out
    assert f"ok: {odd}" in out
    assert "cannot read file" in out


def test_show_order_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "config", "show", "order")
    assert code == 0
    table = rows(out)
    assert table["process_payment"][1:5] == ["validate_cart", "3 (max 20)", "30s", "2s x2 ≤30s"]
    assert table["process_payment"][5] == (
        "payment_timeout[SERVICE_TIMEOUT] x5 exponential 2s..60s; "
        "infrastructure[SERVICE_UNAVAILABLE|SERVICE_TIMEOUT] x20 exponential 1s..60s within 300s"
    )
    assert table["update_inventory"][2] == "2 (max 20)"
    assert "linear 1s" in table["update_inventory"][5]
    assert table["update_inventory"][6] == "on_exhausted=intervene undo=release_inventory"
    assert table["create_order"][6] == "on_exhausted=compensate undo=cancel_order"
    assert table["send_confirmation"][6] == "on_exhausted=continue"
    assert "intervention: timeout 86400s, then compensate" in out


def test_show_applies_environment_and_request_context(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request = tmp_path / "express.json"
    request.write_text('{"priority": "express"}')
    code, out = run(
        capsys, "config", "show", "process_order", "--env", "production", "--input", str(request)
    )
    assert code == 0
    table = rows(out)
    assert table["validate_cart"][3] == "10s"
    assert table["process_payment"][2:4] == ["1", "15s"]
    assert table["send_confirmation"][2] == "2"
    assert "applied: express: process_payment timeout 15s, 1 attempt" in out


def test_show_registration_diamond(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "config", "show", "register")
    assert code == 0
    table = rows(out)
    assert table["send_welcome_sequence"][1] == "setup_billing_profile, initialize_preferences"
    assert [table[s][2] for s in table if s != "step"] == [f"{n} (max 20)" for n in (3, 3, 3, 5, 2)]


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (
            "order_processing_handler.yaml",
            {"validate_cart": ["-", "3", "15s"], "create_order": ["update_inventory", "3", "15s"]},
        ),
        (
            "user_registration_handler.yaml",
            {"update_user_status": ["send_welcome_sequence", "2", "30s"]},
        ),
        (
            "order_processing.yaml",
            {
                "validate_cart": ["-", "3 (max 10)", "30s"],
                "create_order": ["update_inventory", "2 (max 10)", "15s"],
            },
        ),
    ],
)  # fmt: skip
def test_show_reference_configs(
    capsys: pytest.CaptureFixture[str], file: str, expected: dict[str, list[str]]
) -> None:
    code, out = run(capsys, "config", "show", str(REFERENCE / file))
    assert code == 0
    table = rows(out)
    for step, cells in expected.items():
        assert table[step][1:4] == cells


def test_show_unknown_name_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert starter.main(["config", "show", "nope"]) == 2
    assert "no config named 'nope'" in capsys.readouterr().err


def test_validate_lists_every_problem_of_one_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "several.yaml"
    broken.write_text(
        "name: x\nstep_templates:\n"
        "  - name: a\n    default_retry_limit: 0\n"
        "  - name: b\n    default_retryable: 'yes'\n"
        "retry_strategies:\n  t:\n    backoff_strategy: cubic\n"
        "saga:\n  on_intervention_timeout: shrug\n"
    )
    code, out = run(capsys, "config", "validate", str(broken))
    assert code == 2
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {broken}: step 'a': key 'default_retry_limit': must be at least 1"
        " (it counts executions), got 0",
        f"error: {broken}: step 'b': key 'default_retryable': must be a boolean, got a string"
        " 'yes'",
        f"error: {broken}: key 'saga.on_intervention_timeout': unknown value 'shrug'"
        " (allowed: compensate, fail)",
    ]


def _order_config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "config" / "order_processing.yaml").read_text()
    assert old in text
    changed = tmp_path / "order_processing.yaml"
    changed.write_text(text.replace(old, new))
    return changed


def test_a_step_the_code_does_not_have_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Renamed in the YAML (dependencies renamed too, so it loads): the workflow could only
    fail, so validate refuses it, and so does every start."""
    config = _order_config_with(tmp_path, "update_inventory", "update_stock")
    code, out = run(capsys, "config", "validate", str(config))
    assert code == 2
    assert (
        f"error: {config}: step 'update_stock': key 'name': the order saga's code has no such step"
        in out
    )
    assert f"error: {config}: key 'step_templates': the order saga's code runs step" in out
    assert "ok: " not in out

    sample = json.loads((ROOT / "examples" / "order_sample.json").read_text())
    with pytest.raises(ConfigErrors, match="has no such step"):
        prepare(saga("order"), sample, template=load_template(config))


def test_a_compensation_the_code_does_not_have_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = _order_config_with(
        tmp_path, "compensation: refund_payment", "compensation: refund_paymnt"
    )
    code, out = run(capsys, "config", "validate", str(config))
    assert code == 2
    assert (
        f"error: {config}: step 'process_payment': key 'saga.compensation': "
        "no activity 'refund_paymnt' to compensate with" in out
    )


def test_a_step_ordered_before_a_result_it_reads_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """create_order reads the payment and the reservations: ordered after validate_cart
    alone, it could run before them. The check reads the steps' declarations."""
    config = _order_config_with(
        tmp_path, "depends_on_step: update_inventory", "depends_on_step: validate_cart"
    )
    code, out = run(capsys, "config", "validate", str(config))
    assert code == 2
    assert (
        f"error: {config}: step 'create_order': key 'depends_on_step': reads the result of"
        " process_payment, update_inventory, but depends_on_step does not order it after them"
        in out
    )
    sample = json.loads((ROOT / "examples" / "order_sample.json").read_text())
    with pytest.raises(ConfigErrors, match="does not order it after"):
        prepare(saga("order"), sample, template=load_template(config))


def test_an_order_through_other_steps_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Tasker's own order config orders create_order after update_inventory only, which
    comes after the payment: transitively after everything create_order reads."""
    code, out = run(capsys, "config", "validate", str(REFERENCE / "order_processing_handler.yaml"))
    assert code == 0
    assert "checked against the order saga's code" in out
