"""The Tasker-YAML adapter (SPEC §2): loading, overlays, errors, plans, input schema, URLs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.errors import ConfigError
from adapter.loader import load_template
from adapter.models import RetryStrategy, TaskTemplate
from adapter.policy import build_plan
from adapter.schema import validate_input
from adapter.urls import service_urls
from models.plan import Backoff, InterventionTimeoutAction, OnExhausted

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "fixtures" / "tasker"  # Tasker's own configs, see its README
PROJECT_CONFIG = ROOT / "config" / "order_processing.yaml"
REGISTRATION_CONFIG = ROOT / "config" / "user_registration.yaml"
EXAMPLES = ROOT / "examples"
ORDER_STEPS = [
    "validate_cart",
    "process_payment",
    "update_inventory",
    "create_order",
    "send_confirmation",
]


@pytest.fixture(autouse=True)
def _no_ambient_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader and service_urls read the environment; start every test from a clean one."""
    monkeypatch.delenv("SAGA_ENV", raising=False)
    monkeypatch.delenv("SAGA_SERVICES_URL", raising=False)
    for step in [*ORDER_STEPS, "a", "b", "c"]:
        monkeypatch.delenv(f"SAGA_URL_{step.upper()}", raising=False)


Writer = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    def _write(text: str) -> Path:
        path = tmp_path / "task.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def _reference(name: str, environment: str | None = None) -> TaskTemplate:
    return load_template(REFERENCE / f"{name}.yaml", environment)


# -- the reference configs and the project's own ------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        REFERENCE / "order_processing.yaml",
        REFERENCE / "order_processing_handler.yaml",
        REFERENCE / "user_registration_handler.yaml",
        PROJECT_CONFIG,
    ],
    ids=lambda p: p.name if p.parent == REFERENCE else "project",
)
@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_every_config_loads_without_warnings(path: Path, environment: str) -> None:
    template = load_template(path, environment)
    assert template.steps
    assert template.warnings == ()
    assert template.environment == environment


def test_order_processing_handler_values() -> None:
    t = _reference("order_processing_handler")
    assert t.name == "process_order"
    assert t.namespace_name == "ecommerce"
    assert t.version == "1.0.0"
    assert t.default_dependent_system == "ecommerce_platform"
    assert t.task_handler_class == "BlogExamples::Post01::OrderProcessingHandler"
    assert [s.name for s in t.steps] == ORDER_STEPS
    assert [s.retry_limit for s in t.steps] == [3, 3, 2, 3, 5]
    assert [s.timeout_seconds for s in t.steps] == [15, 30, 20, 15, 10]
    assert [s.depends_on for s in t.steps] == [
        (),
        ("validate_cart",),
        ("process_payment",),
        ("update_inventory",),
        ("create_order",),
    ]
    assert all(s.retryable for s in t.steps)
    assert t.step("process_payment").handler_class == (
        "BlogExamples::Post01::StepHandlers::ProcessPaymentHandler"
    )
    assert t.schema["required"] == ["cart_items", "payment_info", "customer_info"]
    assert t.environments == ()


def test_reference_order_processing_values() -> None:
    t = _reference("order_processing", "development")
    assert t.name == "ecommerce/process_order"
    assert [s.retry_limit for s in t.steps] == [3, 3, 2, 2, 5]
    assert t.environments == ("development", "test", "production")
    # the development overlay is deep-merged by step name
    assert t.step("validate_cart").timeout_seconds == 30
    assert t.step("process_payment").handler_config == {
        "timeout_seconds": 30,
        "debug_mode": True,
        "simulate_failures": True,
    }
    assert t.retry_strategies["inventory_conflict"] == RetryStrategy(
        "inventory_conflict", 3, Backoff.LINEAR, 1.0, None
    )
    assert t.retry_strategies["email_delivery"] == RetryStrategy(
        "email_delivery", 10, Backoff.EXPONENTIAL, 5.0, 300.0
    )
    assert t.monitoring["step_duration_alert_ms"]["update_inventory"] == 3000
    assert [m["name"] for m in t.monitoring["business_metrics"]] == [
        "checkout_conversion_rate",
        "average_order_value",
        "payment_failure_rate",
    ]


def test_user_registration_diamond() -> None:
    t = _reference("user_registration_handler")
    deps = {s.name: s.depends_on for s in t.steps}
    assert deps == {
        "create_user_account": (),
        "setup_billing_profile": ("create_user_account",),
        "initialize_preferences": ("create_user_account",),
        "send_welcome_sequence": ("setup_billing_profile", "initialize_preferences"),
        "update_user_status": ("send_welcome_sequence",),
    }
    assert [s.retry_limit for s in t.steps] == [3, 3, 3, 5, 2]
    assert t.step("setup_billing_profile").handler_config["url"] == "https://api.billingservice.com"
    assert [e["name"] for e in t.custom_events] == [
        "service_call_started",
        "service_call_completed",
        "service_call_failed",
    ]
    # the two middle steps depend on the same step only: the plan can run them together
    plan = build_plan(t)
    assert plan.step("setup_billing_profile").depends_on == ["create_user_account"]
    assert plan.step("initialize_preferences").depends_on == ["create_user_account"]


def test_depends_on_step_and_steps_are_united(write: Writer) -> None:
    t = load_template(
        write(
            "name: t\nstep_templates:\n"
            "  - name: a\n  - name: b\n  - name: c\n"
            "  - name: d\n    depends_on_step: a\n    depends_on_steps: [b, a, c]\n"
        )
    )
    assert t.step("d").depends_on == ("a", "b", "c")


@pytest.mark.parametrize(
    ("environment", "validate_timeout", "payment_config"),
    [
        (
            "development",
            15,
            {"payment_backend": "simulator", "debug_mode": True},
        ),
        ("test", 20, {"payment_backend": "simulator"}),
        ("production", 10, {"payment_backend": "stripe", "fraud_detection": True}),
    ],
)
def test_project_config_environments(
    environment: str, validate_timeout: int, payment_config: dict[str, Any]
) -> None:
    t = load_template(PROJECT_CONFIG, environment)
    assert t.name == "process_order"
    assert t.environment == environment
    assert t.step("validate_cart").timeout_seconds == validate_timeout
    assert t.step("process_payment").handler_config == {
        "timeout_seconds": 30,
        "url": "http://127.0.0.1:8700",
        **payment_config,
    }
    assert build_plan(t).step("validate_cart").start_to_close == timedelta(seconds=validate_timeout)


def test_environment_comes_from_saga_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_template(PROJECT_CONFIG).environment == "development"
    monkeypatch.setenv("SAGA_ENV", "production")
    t = load_template(PROJECT_CONFIG)
    assert t.environment == "production"
    assert t.step("validate_cart").timeout_seconds == 10
    # an explicit argument wins over the variable
    assert load_template(PROJECT_CONFIG, "test").step("validate_cart").timeout_seconds == 20


def test_project_config_saga_policy() -> None:
    t = load_template(PROJECT_CONFIG)
    assert [s.retry_limit for s in t.steps] == [3, 3, 2, 3, 5]
    assert [s.timeout_seconds for s in t.steps] == [15, 30, 20, 15, 10]
    assert [s.saga.on_exhausted for s in t.steps] == [
        OnExhausted.FAIL,
        OnExhausted.FAIL,
        OnExhausted.INTERVENE,
        OnExhausted.COMPENSATE,
        OnExhausted.CONTINUE,
    ]
    assert [s.saga.compensation for s in t.steps] == [
        None,
        "refund_payment",
        "release_inventory",
        "cancel_order",
        None,
    ]
    assert t.saga.intervention_timeout_seconds == 86400
    assert t.saga.on_intervention_timeout is InterventionTimeoutAction.COMPENSATE
    assert t.retry_strategies["payment_timeout"] == RetryStrategy(
        "payment_timeout", 5, Backoff.EXPONENTIAL, 2.0, 60.0,
        error_types=("SERVICE_TIMEOUT",), steps=("process_payment",),
    )  # fmt: skip


def test_defaults_when_keys_are_absent(write: Writer) -> None:
    t = load_template(write("name: t\nstep_templates:\n  - name: a\n"))
    step = t.step("a")
    assert (step.retryable, step.retry_limit, step.skippable) == (True, 3, False)
    assert step.timeout_seconds == 30.0
    assert step.saga.on_exhausted is OnExhausted.FAIL
    assert t.saga.intervention_timeout_seconds == 24 * 3600
    assert (t.environments, t.retry_strategies, t.schema) == ((), {}, {})


def test_null_timeout_means_default(write: Writer) -> None:
    path = write(
        "name: t\nstep_templates:\n  - name: a\n    handler_config:\n      timeout_seconds:\n"
    )
    assert build_plan(load_template(path)).step("a").start_to_close_seconds == 30.0


# -- build_plan -------------------------------------------------------------------------------


def test_plan_translates_retry_limits_and_timeouts() -> None:
    plan = build_plan(load_template(PROJECT_CONFIG), {})
    assert plan.workflow == "process_order"
    assert plan.version == "1.0.0"
    assert plan.environment == "development"
    assert [s.name for s in plan.steps] == ORDER_STEPS
    assert [s.activity for s in plan.steps] == ORDER_STEPS
    assert [s.attempt_limit for s in plan.steps] == [3, 3, 2, 3, 5]
    # Temporal's limit must allow the largest strategy limit that can apply to the step:
    # the infrastructure strategy's 20, on every step
    assert [s.retry.maximum_attempts for s in plan.steps] == [20] * 5
    assert [s.start_to_close_seconds for s in plan.steps] == [15, 30, 20, 15, 10]
    assert [s.depends_on for s in plan.steps] == [[], *([name] for name in ORDER_STEPS[:-1])]
    for step in plan.steps:
        assert step.retry.initial_interval_seconds == 2.0
        assert step.retry.backoff_coefficient == 2.0
        assert step.retry.maximum_interval_seconds == 30.0
    assert plan.step("update_inventory").on_exhausted is OnExhausted.INTERVENE
    assert plan.step("update_inventory").compensation == "release_inventory"
    assert plan.on_intervention_timeout is InterventionTimeoutAction.COMPENSATE
    assert plan.overrides == []
    assert plan.high_priority is False


def test_plan_retry_policy_for_temporal() -> None:
    step = build_plan(load_template(PROJECT_CONFIG)).step("send_confirmation")
    policy = step.retry.to_temporal()
    rules = step.rules()
    assert rules is not None
    assert rules.attempt_limit == 5
    assert policy.maximum_attempts == 20
    assert policy.initial_interval == timedelta(seconds=2)
    assert policy.backoff_coefficient == 2.0
    assert policy.maximum_interval == timedelta(seconds=30)
    assert step.start_to_close == timedelta(seconds=10)


def test_steps_without_strategies_send_no_rules(write: Writer) -> None:
    """Their limit is their retry policy's: the activity reads it from there."""
    path = write(
        "name: t\nstep_templates:\n  - name: a\n  - name: b\n"
        "retry_strategies:\n  busy:\n    retry_limit: 5\n    steps: [b]\n"
    )
    plan = build_plan(load_template(path))
    assert plan.step("a").rules() is None
    assert plan.step("b").rules() is not None


def test_infrastructure_strategy_rides_out_outages_on_every_step() -> None:
    """Refused connections, 502/503 and timeouts retry for minutes on every step of both
    sagas; the steps' own limits still apply to every other error."""
    for config in (PROJECT_CONFIG, REGISTRATION_CONFIG):
        for step in build_plan(load_template(config)).steps:
            rules = step.rules()
            assert rules is not None, step.name
            outage = rules.strategy_for("SERVICE_UNAVAILABLE")
            assert outage is not None, step.name
            assert outage.name == "infrastructure"
            assert (outage.max_elapsed_seconds, outage.max_delay) == (300, 60)
            assert rules.limit_for("SERVICE_ERROR") == step.attempt_limit <= 5


def test_plan_not_retryable_means_one_attempt(write: Writer) -> None:
    path = write(
        "name: t\nstep_templates:\n"
        "  - name: a\n    default_retryable: false\n    default_retry_limit: 7\n"
        "    handler_config: {timeout_seconds: 2.5}\n"
        "  - name: b\n    default_retry_limit: 7\n"
    )
    plan = build_plan(load_template(path))
    assert plan.step("a").retry.maximum_attempts == 1
    assert plan.step("a").start_to_close_seconds == 2.5
    assert plan.step("b").retry.maximum_attempts == 7


def test_plan_express_overrides() -> None:
    template = load_template(PROJECT_CONFIG)
    plan = build_plan(template, {"priority": "express"})
    payment = plan.step("process_payment")
    assert payment.start_to_close_seconds == 15
    assert payment.retry.maximum_attempts == 1
    assert [s.retry_limit for s in payment.strategies] == [1, 1]  # timeouts, outages
    assert plan.step("send_confirmation").retry.maximum_attempts == 2
    # other steps and the retry curve are untouched
    assert plan.step("validate_cart").retry.maximum_attempts == 20
    assert plan.step("send_confirmation").start_to_close_seconds == 10
    assert payment.retry.maximum_interval_seconds == 30.0
    assert plan.overrides == [
        "express: process_payment timeout 15s, 1 attempt; send_confirmation 2 attempts;"
        " high priority",
    ]
    assert plan.high_priority is True
    # the template itself is not changed by a request's context
    default_payment = build_plan(template).step("process_payment")
    assert (default_payment.attempt_limit, default_payment.retry.maximum_attempts) == (3, 20)


@pytest.mark.parametrize(
    ("context", "high_priority", "overrides"),
    [
        ({"customer_info": {"tier": "premium"}}, True, ["premium: high priority"]),
        ({"customer_info": {"tier": "standard"}}, False, []),
        ({"customer_info": {"tier": "enterprise"}}, False, []),
        ({"priority": "overnight"}, True, ["overnight: high priority"]),
        ({"priority": "standard"}, False, []),
        (None, False, []),
    ],
)
def test_plan_priority(
    context: dict[str, Any] | None, high_priority: bool, overrides: list[str]
) -> None:
    plan = build_plan(load_template(PROJECT_CONFIG), context)
    assert plan.high_priority is high_priority
    assert plan.overrides == overrides
    assert plan.step("process_payment").attempt_limit == 3


def test_plan_is_json_serialisable() -> None:
    plan = build_plan(load_template(PROJECT_CONFIG), {"priority": "express"})
    again = type(plan).model_validate_json(plan.model_dump_json())
    assert again == plan


# -- broken configs: one clear error naming file, step and key ------------------------------

GOOD_STEPS = "step_templates:\n  - name: a\n  - name: b\n    depends_on_step: a\n"
ENVS = (
    "environments:\n"
    "  development:\n    step_templates:\n      - name: a\n        handler_config: {x: 1}\n"
    "  test: {}\n  production: {}\n"
)

BROKEN: list[tuple[str, str, str]] = [
    (
        "yaml_syntax",
        "name: t\nstep_templates:\n  - name: a\n    handler_config: {timeout_seconds: 5\n",
        "YAML syntax error at line 5, column 1: expected ',' or '}', but got '<stream end>'",
    ),
    (
        "yaml_indentation",
        "name: t\n  bad: 1\n",
        "YAML syntax error at line 2, column 6: mapping values are not allowed here",
    ),
    ("top_level_list", "- name: t\n", "the top level must be a mapping of task-template keys"),
    ("empty_file", "", "the top level must be a mapping of task-template keys"),
    ("missing_name", GOOD_STEPS, "key 'name': is required"),
    (
        "name_not_string",
        "name: [t]\n" + GOOD_STEPS,
        "key 'name': must be a string, got a list ['t']",
    ),
    ("no_steps", "name: t\n", "key 'step_templates': must list at least one step"),
    (
        "empty_steps",
        "name: t\nstep_templates: []\n",
        "key 'step_templates': must list at least one step",
    ),
    (
        "step_not_mapping",
        "name: t\nstep_templates:\n  - a\n",
        "key 'step_templates': entry 0 must be a mapping",
    ),
    (
        "step_without_name",
        "name: t\nstep_templates:\n  - name: a\n  - description: nameless\n",
        "key 'step_templates': entry 1 has no name",
    ),
    (
        "unknown_dependency",
        "name: t\nstep_templates:\n  - name: a\n  - name: b\n    depends_on_steps: [a, z]\n",
        "step 'b': key 'depends_on': unknown dependency 'z'",
    ),
    (
        "dependency_cycle",
        "name: t\nstep_templates:\n"
        "  - name: a\n    depends_on_step: c\n"
        "  - name: b\n    depends_on_step: a\n"
        "  - name: c\n    depends_on_step: b\n",
        "step 'a': key 'depends_on': dependency cycle: a -> c -> b -> a",
    ),
    (
        "self_dependency",
        "name: t\nstep_templates:\n  - name: a\n    depends_on_step: a\n",
        "step 'a': key 'depends_on': a step cannot depend on itself",
    ),
    (
        "duplicate_step",
        "name: t\nstep_templates:\n  - name: a\n  - name: b\n  - name: a\n",
        "step 'a': key 'name': duplicate step name",
    ),
    (
        "retry_limit_zero",
        "name: t\nstep_templates:\n  - name: a\n    default_retry_limit: 0\n",
        "step 'a': key 'default_retry_limit': must be at least 1 (it counts executions), got 0",
    ),
    (
        "retry_limit_string",
        "name: t\nstep_templates:\n  - name: a\n    default_retry_limit: three\n",
        "step 'a': key 'default_retry_limit': must be an integer, got a string 'three'",
    ),
    (
        "retry_limit_boolean",
        "name: t\nstep_templates:\n  - name: a\n    default_retry_limit: true\n",
        "step 'a': key 'default_retry_limit': must be an integer, got a boolean True",
    ),
    (
        "retryable_string",
        "name: t\nstep_templates:\n  - name: a\n    default_retryable: 'yes'\n",
        "step 'a': key 'default_retryable': must be a boolean, got a string 'yes'",
    ),
    (
        "depends_on_steps_not_names",
        "name: t\nstep_templates:\n  - name: a\n  - name: b\n    depends_on_steps: [1]\n",
        "step 'b': key 'depends_on_steps': must list step names, got 1",
    ),
    (
        "handler_config_not_mapping",
        "name: t\nstep_templates:\n  - name: a\n    handler_config: fast\n",
        "step 'a': key 'handler_config': must be a mapping, got a string 'fast'",
    ),
    (
        "negative_timeout",
        "name: t\nstep_templates:\n  - name: a\n    handler_config: {timeout_seconds: -5}\n",
        "step 'a': key 'handler_config.timeout_seconds': must be positive, got -5",
    ),
    (
        "nan_timeout",
        "name: t\nstep_templates:\n  - name: a\n    handler_config: {timeout_seconds: .nan}\n",
        "step 'a': key 'handler_config.timeout_seconds': must be a finite number, got nan",
    ),
    (
        "timeout_string",
        "name: t\nstep_templates:\n  - name: a\n    handler_config: {timeout_seconds: 10s}\n",
        "step 'a': key 'handler_config.timeout_seconds': must be an integer or a number, "
        "got a string '10s'",
    ),
    (
        "unknown_backoff",
        "name: t\n" + GOOD_STEPS + "retry_strategies:\n  timeout:\n    backoff_strategy: random\n",
        "key 'retry_strategies.timeout.backoff_strategy': unknown value 'random' "
        "(allowed: exponential, linear, fixed)",
    ),
    (
        "max_delay_below_base",
        "name: t\n" + GOOD_STEPS + "retry_strategies:\n  timeout:\n    base_delay: 5\n"
        "    max_delay: 2\n",
        "key 'retry_strategies.timeout.max_delay': must be at least base_delay (5.0)",
    ),
    (
        "strategy_limit_zero",
        "name: t\n" + GOOD_STEPS + "retry_strategies:\n  timeout:\n    retry_limit: 0\n",
        "key 'retry_strategies.timeout.retry_limit': must be at least 1, got 0",
    ),
    (
        "strategy_base_zero",
        "name: t\n" + GOOD_STEPS + "retry_strategies:\n  timeout:\n    base_delay: 0\n",
        "key 'retry_strategies.timeout.base_delay': must be positive, got 0.0",
    ),
    (
        "strategy_not_mapping",
        "name: t\n" + GOOD_STEPS + "retry_strategies:\n  timeout: 3\n",
        "key 'retry_strategies.timeout': must be a mapping",
    ),
    (
        "overlay_unknown_step",
        "name: t\n" + GOOD_STEPS + "environments:\n  development:\n    step_templates:\n"
        "      - name: ghost\n        handler_config: {timeout_seconds: 1}\n",
        "step 'ghost': key 'environments.development.step_templates': "
        "overlay for unknown step 'ghost'",
    ),
    (
        "overlay_without_name",
        "name: t\n" + GOOD_STEPS + "environments:\n  development:\n    step_templates:\n"
        "      - handler_config: {timeout_seconds: 1}\n",
        "key 'environments.development.step_templates': entry 0 must be a mapping with a step name",
    ),
    (
        "overlay_steps_not_list",
        "name: t\n" + GOOD_STEPS + "environments:\n  development:\n    step_templates: 5\n",
        "key 'environments.development.step_templates': must be a list, got an integer 5",
    ),
    (
        "overlay_sets_bad_value",
        "name: t\n" + GOOD_STEPS + "environments:\n  development:\n    step_templates:\n"
        "      - name: b\n        default_retry_limit: 0\n",
        "step 'b': key 'default_retry_limit': must be at least 1 (it counts executions), got 0",
    ),
    (
        "unknown_on_exhausted",
        "name: t\nstep_templates:\n  - name: a\n    saga: {on_exhausted: retry}\n",
        "step 'a': key 'saga.on_exhausted': unknown value 'retry' "
        "(allowed: fail, compensate, intervene, continue)",
    ),
    (
        "compensate_without_compensation",
        "name: t\nstep_templates:\n  - name: a\n    saga: {on_exhausted: compensate}\n",
        "step 'a': key 'saga.on_exhausted': on_exhausted is compensate but no step declares "
        "a compensation",
    ),
    (
        "unknown_intervention_action",
        "name: t\n" + GOOD_STEPS + "saga:\n  on_intervention_timeout: wait\n",
        "key 'saga.on_intervention_timeout': unknown value 'wait' (allowed: compensate, fail)",
    ),
    (
        "intervention_timeout_zero",
        "name: t\n" + GOOD_STEPS + "saga:\n  intervention_timeout_seconds: 0\n",
        "key 'saga.intervention_timeout_seconds': must be positive, got 0",
    ),
    (
        "event_without_name",
        "name: t\n" + GOOD_STEPS + "custom_events:\n  - description: nameless\n",
        "key 'custom_events': each event needs a name, got {'description': 'nameless'}",
    ),
    (
        "invalid_schema",
        "name: t\n" + GOOD_STEPS + "schema:\n  type: object\n  required: email\n",
        "key 'schema.required': not a valid JSON Schema: 'email' is not of type 'array'",
    ),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_config_gives_one_clear_error(write: Writer, text: str, message: str) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as caught:
        load_template(path, "development")
    assert str(caught.value) == f"{path}: {message}"
    assert caught.value.file == str(path)
    assert "Traceback" not in str(caught.value)


def test_unknown_environment_argument(write: Writer) -> None:
    path = write("name: t\n" + GOOD_STEPS + ENVS)
    with pytest.raises(ConfigError) as caught:
        load_template(path, "staging")
    assert str(caught.value) == (
        f"{path}: key 'environments': unknown environment 'staging' "
        "(known: development, production, test)"
    )


def test_unknown_environment_from_saga_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGA_ENV", "qa")
    with pytest.raises(ConfigError) as caught:
        load_template(PROJECT_CONFIG)
    assert str(caught.value) == (
        f"{PROJECT_CONFIG}: key 'environments': unknown environment 'qa' "
        "(known: development, production, test)"
    )
    assert caught.value.key == "environments"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_template(path)
    assert str(caught.value) == f"{path}: cannot read file (No such file or directory)"


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_template(path)
    assert str(caught.value) == f"{path}: cannot read file (not UTF-8: invalid continuation byte)"


def test_unknown_keys_are_warnings_not_errors(write: Writer) -> None:
    path = write(
        "name: t\ntimeout: 5\nstep_templates:\n"
        "  - name: a\n    retry_limit: 9\n    saga: {undo: x}\n"
        "retry_strategies:\n  timeout:\n    jitter: true\n"
        "saga:\n  patience: 1\n"
        "environments:\n  development:\n    step_templates: []\n    flags: {}\n"
    )
    t = load_template(path)
    assert [str(w) for w in t.warnings] == [
        f"{path}: key 'timeout': unknown key, ignored",
        f"{path}: key 'environments.development.flags': unknown key, ignored",
        f"{path}: step 'a': key 'retry_limit': unknown key, ignored",
        f"{path}: step 'a': key 'saga.undo': unknown key, ignored",
        f"{path}: key 'retry_strategies.timeout.jitter': unknown key, ignored",
        f"{path}: key 'saga.patience': unknown key, ignored",
    ]
    assert t.step("a").retry_limit == 3  # the unknown key is not applied
    assert t.warnings[2].step == "a"
    assert t.warnings[2].key == "retry_limit"


def test_non_string_keys_are_warnings_not_crashes(write: Writer) -> None:
    path = write("name: t\n1: x\nstep_templates:\n  - name: a\n    2: y\n")
    t = load_template(path)
    assert [str(w) for w in t.warnings] == [
        f"{path}: key '1': unknown key, ignored",
        f"{path}: step 'a': key '2': unknown key, ignored",
    ]


# Arbitrary YAML-shaped data in task-template positions: the loader either accepts it or
# raises ConfigError, never anything else (no stack trace for a user's typo).
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["a", "b", "", "exponential", "compensate", "intervene", "development"]),
)
_keys = st.integers(0, 2) | st.sampled_from(
    [
        "name", "x", "a", "type", "url", "timeout_seconds", "on_exhausted", "compensation",
        "step_templates", "development", "retry_limit", "backoff_strategy", "base_delay",
        "max_delay", "required", "properties", "intervention_timeout_seconds",
    ]
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)
_step_keys = st.sampled_from(
    [
        "name", "depends_on_step", "depends_on_steps", "default_retryable",
        "default_retry_limit", "skippable", "handler_config", "saga", "description",
    ]
)  # fmt: skip
_step = st.dictionaries(_step_keys, _values | st.sampled_from(["a", "b"]), max_size=5) | _values
_top_keys = st.sampled_from(
    [
        "name", "version", "schema", "custom_events", "environments", "retry_strategies",
        "saga", "monitoring", "concurrent", "namespace_name",
    ]
)  # fmt: skip
_config = st.fixed_dictionaries(
    {"step_templates": st.lists(_step, max_size=4) | _values},
    optional={"name": st.just("t") | _values},
).flatmap(
    lambda base: st.dictionaries(_top_keys, _values, max_size=4).map(
        lambda extra: {**extra, **base}
    )
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=_config)
def test_malformed_configs_never_crash(write: Writer, config: dict[str, Any]) -> None:
    path = write(yaml.safe_dump(config))
    try:
        template = load_template(path, "development")
    except ConfigError as err:
        message = str(err)
    else:
        build_plan(template)
        return
    assert message.startswith(f"{path}: ")


# -- input validation against the config's schema -------------------------------------------


def _order_schema() -> dict[str, Any]:
    return load_template(PROJECT_CONFIG).schema


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def test_sample_order_is_valid() -> None:
    assert validate_input(_order_schema(), _example("order_sample.json")) == []


def test_invalid_order_names_every_violation_by_path() -> None:
    errors = validate_input(_order_schema(), _example("order_invalid.json"))
    assert {e.path for e in errors} == {
        "$.cart_items[0].product_id",
        "$.cart_items[0].quantity",
        "$.payment_info.method",
        "$.payment_info.amount",
        "$.customer_info.email",
        "$.customer_info.name",
    }
    assert len(errors) == 6
    assert [e.path for e in errors] == sorted(e.path for e in errors)
    assert str(errors[0]) == "$.cart_items[0].product_id: 'one' is not of type 'integer'"


@pytest.mark.parametrize(
    ("remove", "path"),
    [
        (("customer_info", "email"), "$.customer_info.email"),
        (("payment_info", "currency"), "$.payment_info.currency"),
        (("cart_items",), "$.cart_items"),
    ],
)
def test_missing_required_field_is_reported_at_its_own_path(
    remove: tuple[str, ...], path: str
) -> None:
    data = _example("order_sample.json")
    parent = data
    for key in remove[:-1]:
        parent = parent[key]
    del parent[remove[-1]]
    errors = validate_input(_order_schema(), data)
    assert [(e.path, e.message) for e in errors] == [
        (path, f"{remove[-1]!r} is a required property")
    ]


def test_several_missing_fields_each_at_their_own_path() -> None:
    data = _example("order_sample.json")
    data["customer_info"] = {}
    del data["payment_info"]
    errors = validate_input(_order_schema(), data)
    assert [e.path for e in errors] == [
        "$.customer_info.email",
        "$.customer_info.name",
        "$.payment_info",
    ]


def test_schema_checks_nested_items_and_priority() -> None:
    data = _example("order_sample.json")
    data["cart_items"].append({"product_id": 3, "quantity": 1.5})
    data["priority"] = "asap"
    data["customer_info"]["tier"] = "gold"
    paths = [e.path for e in validate_input(_order_schema(), data)]
    assert paths == ["$.cart_items[2].quantity", "$.customer_info.tier", "$.priority"]


# -- service URLs ---------------------------------------------------------------------------


def _url_template(write: Writer) -> TaskTemplate:
    return load_template(
        write(
            "name: t\nstep_templates:\n"
            "  - name: a\n    handler_config: {url: 'https://api.users.example.com/v1/users'}\n"
            "  - name: b\n    handler_config: {url: 'http://billing:8080'}\n"
        )
    )


def test_service_urls_from_config(write: Writer) -> None:
    assert service_urls(_url_template(write), {}) == {
        "a": "https://api.users.example.com/v1/users",
        "b": "http://billing:8080",
    }


def test_services_url_replaces_every_origin_keeping_paths(write: Writer) -> None:
    env = {"SAGA_SERVICES_URL": "http://127.0.0.1:9100"}
    assert service_urls(_url_template(write), env) == {
        "a": "http://127.0.0.1:9100/v1/users",
        "b": "http://127.0.0.1:9100",
    }
    env = {"SAGA_SERVICES_URL": "http://sim:1/world/"}
    assert service_urls(_url_template(write), env)["a"] == "http://sim:1/world/v1/users"


def test_step_url_overrides_one_step(write: Writer) -> None:
    env = {"SAGA_SERVICES_URL": "http://127.0.0.1:9100", "SAGA_URL_B": "http://other:7000/b"}
    assert service_urls(_url_template(write), env) == {
        "a": "http://127.0.0.1:9100/v1/users",
        "b": "http://other:7000/b",
    }


def test_service_urls_read_the_process_environment(
    write: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGA_URL_A", "http://from-env:1")
    assert service_urls(_url_template(write))["a"] == "http://from-env:1"


def test_reference_registration_urls_follow_services_url() -> None:
    urls = service_urls(
        _reference("user_registration_handler"), {"SAGA_SERVICES_URL": "http://s:9"}
    )
    assert set(urls.values()) == {"http://s:9"}
    assert len(urls) == 5


def test_missing_url_names_step_and_key() -> None:
    template = _reference("order_processing_handler")
    with pytest.raises(ConfigError) as caught:
        service_urls(template, {})
    err = caught.value
    assert str(err) == (
        f"{template.path}: step 'validate_cart': key 'handler_config.url': "
        "no service URL (set it or SAGA_URL_VALIDATE_CART)"
    )
    assert (err.step, err.key) == ("validate_cart", "handler_config.url")
    # with the step's variable set, the step is satisfied and the next one is named
    with pytest.raises(ConfigError, match="step 'process_payment'"):
        service_urls(template, {"SAGA_URL_VALIDATE_CART": "http://v:1"})


def test_skippable_step_continues_and_concurrent_false_is_planned(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nconcurrent: false\nstep_templates:\n"
        "  - name: a\n    skippable: true\n"
        "  - name: b\n    skippable: true\n    saga: {on_exhausted: fail}\n"
        "  - name: c\n"
    )
    template = load_template(path)
    assert [s.saga.on_exhausted for s in template.steps] == [
        OnExhausted.CONTINUE,
        OnExhausted.FAIL,  # an explicit saga policy wins over skippable
        OnExhausted.FAIL,
    ]
    assert build_plan(template).concurrent is False
    assert build_plan(load_template(PROJECT_CONFIG)).concurrent is True
