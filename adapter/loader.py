"""Read a Tasker task-template YAML file into a :class:`TaskTemplate`, or say clearly why not."""

from __future__ import annotations

import copy
import functools
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from adapter.errors import ConfigError, ConfigErrors, ConfigWarning
from adapter.models import (
    DEFAULT_RETRY_LIMIT,
    ContextOverride,
    RetryStrategy,
    SagaPolicy,
    StepOverride,
    StepSagaPolicy,
    StepTemplate,
    TaskTemplate,
)
from models.plan import Backoff, InterventionTimeoutAction, OnExhausted

T = TypeVar("T")

ENV_VAR = "SAGA_ENV"
DEFAULT_ENV = "development"

TOP_KEYS = {
    "name", "namespace_name", "version", "description", "task_handler_class",
    "module_namespace", "default_dependent_system", "concurrent", "schema", "step_templates",
    "custom_events", "environments", "retry_strategies", "monitoring", "saga",
    "context_overrides",
}  # fmt: skip
STEP_KEYS = {
    "name", "description", "handler_class", "depends_on_step", "depends_on_steps",
    "default_retryable", "default_retry_limit", "skippable", "handler_config", "saga",
}  # fmt: skip
STRATEGY_KEYS = {
    "retry_limit",
    "backoff_strategy",
    "base_delay",
    "max_delay",
    "max_elapsed_seconds",
    "error_types",
    "steps",
}
OVERRIDE_KEYS = {"name", "when", "steps", "high_priority"}
STEP_OVERRIDE_KEYS = {"timeout_seconds", "retry_limit"}
STEP_SAGA_KEYS = {"on_exhausted", "compensation"}
SAGA_KEYS = {"intervention_timeout_seconds", "on_intervention_timeout"}


class _Reader:
    """Type-checked access to one file's raw data, collecting warnings on the way."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.warnings: list[ConfigWarning] = []

    def fail(self, message: str, *, step: str | None = None, key: str | None = None) -> ConfigError:
        return ConfigError(self.file, message, step=step, key=key)

    def warn_unknown(
        self, data: Mapping[str, Any], known: set[str], prefix: str, step: str | None = None
    ) -> None:
        for key in data:
            if key not in known:
                self.warnings.append(
                    ConfigWarning(
                        self.file, "unknown key, ignored", step=step, key=prefix + str(key)
                    )
                )

    def typed(
        self, data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any,
        *, step: str | None = None, prefix: str = "",
    ) -> Any:  # fmt: skip
        if key not in data or data[key] is None:
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            value_ok = False
        else:
            value_ok = isinstance(value, kinds)
        if not value_ok:
            names = " or ".join(_type_name(k) for k in kinds)
            raise self.fail(
                f"must be {names}, got {_type_name(type(value))} {value!r}",
                step=step,
                key=prefix + key,
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(f"must be a finite number, got {value!r}", step=step, key=prefix + key)
        return value

    def mapping(
        self, data: Mapping[str, Any], key: str, *, step: str | None = None, prefix: str = ""
    ) -> dict[str, Any]:
        return dict(self.typed(data, key, dict, {}, step=step, prefix=prefix))

    def choice(
        self, data: Mapping[str, Any], key: str, enum: type[Any], default: Any,
        *, step: str | None = None, prefix: str = "",
    ) -> Any:  # fmt: skip
        raw = self.typed(data, key, str, None, step=step, prefix=prefix)
        if raw is None:
            return default
        try:
            return enum(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise self.fail(
                f"unknown value {raw!r} (allowed: {allowed})", step=step, key=prefix + key
            ) from None


def _type_name(kind: type) -> str:
    return {
        str: "a string", int: "an integer", float: "a number", bool: "a boolean",
        dict: "a mapping", list: "a list", type(None): "null",
    }.get(kind, kind.__name__)  # fmt: skip


def _read_yaml(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(file, f"cannot read file ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(file, f"cannot read file (not UTF-8: {err.reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = err.problem or err.context or "invalid YAML"
        raise ConfigError(file, f"YAML syntax error at {where}{problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(file, f"YAML syntax error: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(file, "the top level must be a mapping of task-template keys")
    return data


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _apply_environment(
    reader: _Reader, data: dict[str, Any], environment: str
) -> tuple[list[Any], tuple[str, ...]]:
    """Base step templates with ``environments.<environment>`` deep-merged by step name."""
    steps = reader.typed(data, "step_templates", list, None)
    if not steps:
        raise reader.fail("must list at least one step", key="step_templates")
    environments = {
        str(env): overlay for env, overlay in reader.mapping(data, "environments").items()
    }
    if not environments:
        return steps, ()
    if environment not in environments:
        known = ", ".join(sorted(environments))
        raise reader.fail(
            f"unknown environment {environment!r} (known: {known})", key="environments"
        )
    overlay = reader.typed(environments, environment, dict, {}, prefix="environments.")
    reader.warn_unknown(overlay, {"step_templates"}, f"environments.{environment}.")
    prefix = f"environments.{environment}."
    key = prefix + "step_templates"
    by_name = {
        s["name"]: i
        for i, s in enumerate(steps)
        if isinstance(s, dict) and isinstance(s.get("name"), str)
    }
    merged = list(steps)
    for i, entry in enumerate(reader.typed(overlay, "step_templates", list, [], prefix=prefix)):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise reader.fail(f"entry {i} must be a mapping with a step name", key=key)
        if name not in by_name:
            raise reader.fail(f"overlay for unknown step {name!r}", step=str(name), key=key)
        index = by_name[name]
        merged[index] = _deep_merge(merged[index], entry)
    return merged, tuple(environments)


def _read_step(reader: _Reader, raw: Any, index: int) -> StepTemplate:
    if not isinstance(raw, dict):
        raise reader.fail(f"entry {index} must be a mapping", key="step_templates")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise reader.fail(f"entry {index} has no name", key="step_templates")
    reader.warn_unknown(raw, STEP_KEYS, "", step=name)
    single = reader.typed(raw, "depends_on_step", str, None, step=name)
    several = reader.typed(raw, "depends_on_steps", list, [], step=name)
    for dep in several:
        if not isinstance(dep, str):
            raise reader.fail(
                f"must list step names, got {dep!r}", step=name, key="depends_on_steps"
            )
    depends_on = tuple(dict.fromkeys(([single] if single else []) + several))
    limit = reader.typed(raw, "default_retry_limit", int, DEFAULT_RETRY_LIMIT, step=name)
    if limit < 1:
        raise reader.fail(
            f"must be at least 1 (it counts executions), got {limit}",
            step=name,
            key="default_retry_limit",
        )
    handler_config = reader.mapping(raw, "handler_config", step=name)
    timeout = reader.typed(
        handler_config, "timeout_seconds", (int, float), None, step=name, prefix="handler_config."
    )
    if timeout is not None and timeout <= 0:
        raise reader.fail(
            f"must be positive, got {timeout}", step=name, key="handler_config.timeout_seconds"
        )
    saga = reader.mapping(raw, "saga", step=name)
    reader.warn_unknown(saga, STEP_SAGA_KEYS, "saga.", step=name)
    skippable = reader.typed(raw, "skippable", bool, False, step=name)
    # Tasker's skippable step may fail without failing the task: the saga goes on.
    exhausted_default = OnExhausted.CONTINUE if skippable else OnExhausted.FAIL
    return StepTemplate(
        name=name,
        description=reader.typed(raw, "description", str, "", step=name),
        handler_class=reader.typed(raw, "handler_class", str, "", step=name),
        depends_on=depends_on,
        retryable=reader.typed(raw, "default_retryable", bool, True, step=name),
        retry_limit=limit,
        skippable=skippable,
        handler_config=handler_config,
        saga=StepSagaPolicy(
            on_exhausted=reader.choice(
                saga, "on_exhausted", OnExhausted, exhausted_default, step=name, prefix="saga."
            ),
            compensation=reader.typed(saga, "compensation", str, None, step=name, prefix="saga."),
        ),
    )


def _check_graph(reader: _Reader, steps: list[StepTemplate]) -> None:
    names: set[str] = set()
    for step in steps:
        if step.name in names:
            raise reader.fail("duplicate step name", step=step.name, key="name")
        names.add(step.name)
    for step in steps:
        for dep in step.depends_on:
            if dep not in names:
                raise reader.fail(f"unknown dependency {dep!r}", step=step.name, key="depends_on")
            if dep == step.name:
                raise reader.fail(
                    "a step cannot depend on itself", step=step.name, key="depends_on"
                )
    graph = {step.name: step.depends_on for step in steps}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise reader.fail(
                "dependency cycle: " + " -> ".join(cycle), step=name, key="depends_on"
            )
        visiting.append(name)
        for dep in graph[name]:
            visit(dep)
        visiting.pop()
        done.add(name)

    for step in steps:
        visit(step.name)


def _read_strategies(
    reader: _Reader, data: Mapping[str, Any], known_steps: set[str]
) -> dict[str, RetryStrategy]:
    strategies: dict[str, RetryStrategy] = {}
    for error_type, raw in reader.mapping(data, "retry_strategies").items():
        error_type = str(error_type)
        prefix = f"retry_strategies.{error_type}."
        if not isinstance(raw, dict):
            raise reader.fail("must be a mapping", key=prefix[:-1])
        reader.warn_unknown(raw, STRATEGY_KEYS, prefix)
        limit = reader.typed(raw, "retry_limit", int, DEFAULT_RETRY_LIMIT, prefix=prefix)
        if limit < 1:
            raise reader.fail(f"must be at least 1, got {limit}", key=prefix + "retry_limit")
        backoff = reader.choice(
            raw, "backoff_strategy", Backoff, Backoff.EXPONENTIAL, prefix=prefix
        )
        base = float(reader.typed(raw, "base_delay", (int, float), 1, prefix=prefix))
        cap = reader.typed(raw, "max_delay", (int, float), None, prefix=prefix)
        if base <= 0:
            raise reader.fail(f"must be positive, got {base}", key=prefix + "base_delay")
        if cap is not None and cap < base:
            raise reader.fail(f"must be at least base_delay ({base})", key=prefix + "max_delay")
        budget = reader.typed(raw, "max_elapsed_seconds", (int, float), None, prefix=prefix)
        if budget is not None and budget <= 0:
            key = prefix + "max_elapsed_seconds"
            raise reader.fail(f"must be positive, got {budget}", key=key)
        strategies[error_type] = RetryStrategy(
            error_type,
            limit,
            backoff,
            base,
            float(cap) if cap is not None else None,
            max_elapsed_seconds=float(budget) if budget is not None else None,
            error_types=_names(reader, raw, "error_types", prefix),
            steps=_step_names(reader, raw, "steps", prefix, known_steps),
        )
    return strategies


def _names(reader: _Reader, raw: Mapping[str, Any], key: str, prefix: str) -> tuple[str, ...]:
    names = reader.typed(raw, key, list, [], prefix=prefix)
    for name in names:
        if not isinstance(name, str) or not name:
            raise reader.fail(f"must list names, got {name!r}", key=prefix + key)
    return tuple(names)


def _step_names(
    reader: _Reader, raw: Mapping[str, Any], key: str, prefix: str, known_steps: set[str]
) -> tuple[str, ...]:
    names = _names(reader, raw, key, prefix)
    for name in names:
        if name not in known_steps:
            raise reader.fail(f"unknown step {name!r}", step=name, key=prefix + key)
    return names


def _read_overrides(
    reader: _Reader, data: Mapping[str, Any], known_steps: set[str]
) -> tuple[ContextOverride, ...]:
    """``context_overrides``: rules that tighten a plan for some requests (express orders)."""
    overrides = []
    for index, raw in enumerate(reader.typed(data, "context_overrides", list, [])):
        prefix = f"context_overrides[{index}]."
        if not isinstance(raw, dict):
            raise reader.fail("must be a mapping", key=prefix[:-1])
        reader.warn_unknown(raw, OVERRIDE_KEYS, prefix)
        when = reader.mapping(raw, "when", prefix=prefix)
        if not when:
            raise reader.fail("must name at least one input field", key=prefix + "when")
        steps: dict[str, StepOverride] = {}
        for name, change in reader.mapping(raw, "steps", prefix=prefix).items():
            key = f"{prefix}steps.{name}"
            if name not in known_steps:
                raise reader.fail(f"unknown step {name!r}", step=str(name), key=key)
            if not isinstance(change, dict):
                raise reader.fail("must be a mapping", step=name, key=key)
            reader.warn_unknown(change, STEP_OVERRIDE_KEYS, key + ".", step=name)
            timeout = reader.typed(change, "timeout_seconds", (int, float), None, prefix=key + ".")
            limit = reader.typed(change, "retry_limit", int, None, prefix=key + ".")
            if timeout is not None and not timeout > 0:
                raise reader.fail(
                    f"must be positive, got {timeout}", step=name, key=key + ".timeout_seconds"
                )
            if limit is not None and limit < 1:
                raise reader.fail(
                    f"must be at least 1, got {limit}", step=name, key=key + ".retry_limit"
                )
            steps[name] = StepOverride(float(timeout) if timeout is not None else None, limit)
        label = reader.typed(raw, "name", str, None, prefix=prefix)
        overrides.append(
            ContextOverride(
                name=label or ", ".join(f"{k}={v}" for k, v in when.items()),
                when=when,
                steps=steps,
                high_priority=reader.typed(raw, "high_priority", bool, False, prefix=prefix),
            )
        )
    return tuple(overrides)


def _read_saga(reader: _Reader, data: Mapping[str, Any]) -> SagaPolicy:
    raw = reader.mapping(data, "saga")
    reader.warn_unknown(raw, SAGA_KEYS, "saga.")
    timeout = reader.typed(
        raw, "intervention_timeout_seconds", (int, float), 24 * 3600, prefix="saga."
    )
    if timeout <= 0:
        raise reader.fail(
            f"must be positive, got {timeout}", key="saga.intervention_timeout_seconds"
        )
    action = reader.choice(
        raw,
        "on_intervention_timeout",
        InterventionTimeoutAction,
        InterventionTimeoutAction.FAIL,
        prefix="saga.",
    )
    return SagaPolicy(float(timeout), action)


def _read_events(reader: _Reader, data: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    events = reader.typed(data, "custom_events", list, [])
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("name"), str):
            raise reader.fail(f"each event needs a name, got {event!r}", key="custom_events")
    return tuple(events)


def _read_schema(reader: _Reader, data: Mapping[str, Any]) -> dict[str, Any]:
    schema = reader.mapping(data, "schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
        raise reader.fail(f"not a valid JSON Schema: {err.message}", key="schema" + where) from None
    return schema


def _check_compensations(reader: _Reader, steps: list[StepTemplate]) -> None:
    for step in steps:
        if step.saga.on_exhausted is OnExhausted.COMPENSATE and not any(
            other.saga.compensation for other in steps
        ):
            raise reader.fail(
                "on_exhausted is compensate but no step declares a compensation",
                step=step.name,
                key="saga.on_exhausted",
            )


def _read_header(reader: _Reader, data: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level scalars (everything but the structured sections)."""
    name = reader.typed(data, "name", str, None)
    if not name:
        raise reader.fail("is required", key="name")
    return {
        "name": name,
        "namespace_name": reader.typed(data, "namespace_name", str, ""),
        "version": str(reader.typed(data, "version", (str, int, float), "")),
        "description": reader.typed(data, "description", str, ""),
        "task_handler_class": reader.typed(data, "task_handler_class", str, ""),
        "module_namespace": reader.typed(data, "module_namespace", str, ""),
        "default_dependent_system": reader.typed(data, "default_dependent_system", str, ""),
        "concurrent": reader.typed(data, "concurrent", bool, True),
        "monitoring": reader.mapping(data, "monitoring"),
    }


def load_template(path: str | Path, environment: str | None = None) -> TaskTemplate:
    """Load and validate one config; ``environment`` defaults to ``$SAGA_ENV`` or development.

    Independent sections (each step, the schema, the strategies, ...) are all checked, so
    one :class:`ConfigErrors` lists every problem found; a YAML syntax error stops at once.
    """
    path = Path(path)
    reader = _Reader(str(path))
    env = environment or os.environ.get(ENV_VAR) or DEFAULT_ENV
    data = _read_yaml(path)
    reader.warn_unknown(data, TOP_KEYS, "")
    problems: list[ConfigError] = []

    def checked(read: Callable[[], T], default: T) -> T:
        try:
            return read()
        except ConfigError as err:
            problems.append(err)
            return default

    header = checked(lambda: _read_header(reader, data), None)
    no_steps: tuple[list[Any], tuple[str, ...]] = ([], ())
    no_events: tuple[dict[str, Any], ...] = ()
    no_schema: dict[str, Any] = {}
    no_strategies: dict[str, RetryStrategy] = {}
    no_overrides: tuple[ContextOverride, ...] = ()
    raw_steps, environments = checked(lambda: _apply_environment(reader, data, env), no_steps)
    steps = [
        step
        for index, raw in enumerate(raw_steps)
        if (step := checked(functools.partial(_read_step, reader, raw, index), None))
    ]
    known_steps = {step.name for step in steps}
    events = checked(lambda: _read_events(reader, data), no_events)
    schema = checked(lambda: _read_schema(reader, data), no_schema)
    steps_read = bool(raw_steps) and len(steps) == len(raw_steps)
    strategies, overrides = no_strategies, no_overrides
    if steps_read:  # what names steps is only checked once every step reads
        checked(lambda: _check_graph(reader, steps), None)
        checked(lambda: _check_compensations(reader, steps), None)
        strategies = checked(lambda: _read_strategies(reader, data, known_steps), no_strategies)
    saga = checked(lambda: _read_saga(reader, data), SagaPolicy())
    if steps_read:
        overrides = checked(lambda: _read_overrides(reader, data, known_steps), no_overrides)
    if problems:
        raise problems[0] if len(problems) == 1 else ConfigErrors(problems)
    assert header is not None
    return TaskTemplate(
        path=str(path),
        environment=env,
        schema=schema,
        steps=tuple(steps),
        custom_events=events,
        environments=environments,
        retry_strategies=strategies,
        saga=saga,
        context_overrides=overrides,
        warnings=tuple(reader.warnings),
        **header,
    )
