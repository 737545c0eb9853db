"""The catalogue of sagas: config file, workflow, request model and workflow-id rule.

Everything that starts a saga (starter.py, tests, the demo) goes through :func:`prepare`, so
input validation, plan resolution and identity are the same everywhere.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from activities.order import OrderActivities
from activities.registration import RegistrationActivities
from activities.step import step_results
from adapter.errors import ConfigError, ConfigErrors
from adapter.loader import DEFAULT_ENV, ENV_VAR, load_template
from adapter.models import TaskTemplate
from adapter.policy import build_plan
from adapter.schema import FieldError, validate_input
from models.limits import Identifier
from models.order import OrderInput
from models.plan import SagaPlan
from models.registration import RegistrationInput
from models.requests import OrderRequest, RegistrationRequest
from plumbing.keys import keyed_digest
from workflows import order_processing, user_registration
from workflows.order_processing import OrderProcessingWorkflow
from workflows.user_registration import UserRegistrationWorkflow

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


@dataclass(frozen=True)
class Saga:
    name: str
    config: Path
    workflow: type
    id_prefix: str
    input_model: type[BaseModel]
    """The workflow's input, whose types hold the limits the schema cannot state."""
    make_request: Callable[[Any, SagaPlan], BaseModel]
    """The workflow's argument, from an ``input_model`` instance and the plan."""
    request_key: Callable[[dict[str, Any]], str]
    step_results: Mapping[str, type[BaseModel]]
    """The steps the workflow code runs and the result it reads from each."""
    activities: type
    """The class holding the saga's step and compensation activities."""

    def code_problems(self, template: TaskTemplate) -> list[ConfigError]:
        """Where ``template`` does not fit this saga's code (unknown or missing step, an
        activity the code lacks, a result the workflow would misread); empty when it fits.
        A workflow given such a config could only fail, so nothing starts with one."""
        provided = step_results(self.activities)
        problems: list[ConfigError] = []

        def problem(message: str, step: str | None, key: str) -> None:
            problems.append(ConfigError(template.path, message, step=step, key=key))

        configured = {step.name for step in template.steps}
        for step in template.steps:
            expected = self.step_results.get(step.name)
            if expected is None:
                known = ", ".join(self.step_results)
                problem(
                    f"the {self.name} saga's code has no such step ({known})", step.name, "name"
                )
            elif provided.get(step.name) is not expected:
                problem(
                    f"no activity {step.name!r} returning {expected.__name__}", step.name, "name"
                )
            undo = step.saga.compensation
            if undo is not None and undo not in provided:
                known = ", ".join(sorted(provided))
                message = f"no activity {undo!r} to compensate with (known: {known})"
                problem(message, step.name, "saga.compensation")
        for missing in self.step_results.keys() - configured:
            message = f"the {self.name} saga's code runs step {missing!r}; the config lacks it"
            problem(message, None, "step_templates")
        return problems

    def template(self, environment: str | None = None) -> TaskTemplate:
        """The loaded config, read again only when the file changes (loading costs ~40 ms:
        YAML, every check, the schema's own validation)."""
        env = environment or os.environ.get(ENV_VAR) or DEFAULT_ENV
        stat = self.config.stat()
        return _load_template(self.config, env, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load_template(path: Path, environment: str, _mtime_ns: int, _size: int) -> TaskTemplate:
    return load_template(path, environment)


def _as_json(value: object) -> object:
    """A Decimal (how sagas.inputs reads fractions) digests as the float json would have
    read, so a request keeps the id it had before numbers were read exactly."""
    return float(value) if isinstance(value, Decimal) else str(value)


def _canonical_digest(data: dict[str, Any]) -> str:
    """Same request, same id: a digest of the request's canonical JSON."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=_as_json)
    return keyed_digest(canonical)


def _order_request(order: OrderInput, plan: SagaPlan) -> BaseModel:
    return OrderRequest(order=order, plan=plan)


def _email_digest(data: dict[str, Any]) -> str:
    """One registration per email: a keyed digest of the trimmed, lower-cased address (no
    personal data in workflow ids, and no way to compute one from an email alone)."""
    email = str((data.get("user_info") or {}).get("email", "")).strip().lower()
    return keyed_digest(email)


def _registration_request(registration: RegistrationInput, plan: SagaPlan) -> BaseModel:
    return RegistrationRequest(registration=registration, plan=plan)


SAGAS: dict[str, Saga] = {
    "order": Saga(
        name="order",
        config=CONFIG_DIR / "order_processing.yaml",
        workflow=OrderProcessingWorkflow,
        id_prefix="order",
        step_results=order_processing.STEP_RESULTS,
        activities=OrderActivities,
        input_model=OrderInput,
        make_request=_order_request,
        request_key=_canonical_digest,
    ),
    "register": Saga(
        name="register",
        config=CONFIG_DIR / "user_registration.yaml",
        workflow=UserRegistrationWorkflow,
        id_prefix="registration",
        step_results=user_registration.STEP_RESULTS,
        activities=RegistrationActivities,
        input_model=RegistrationInput,
        make_request=_registration_request,
        request_key=_email_digest,
    ),
}


def saga_running(template: TaskTemplate) -> Saga | None:
    """The saga whose code runs configs named like ``template`` (its own config's name)."""
    return next((saga for saga in SAGAS.values() if saga.template().name == template.name), None)


@dataclass(frozen=True)
class Prepared:
    """A validated request, ready to start: the workflow id, its argument, its plan."""

    saga: Saga
    workflow_id: str
    request: BaseModel
    plan: SagaPlan
    correlation_id: str | None


class InvalidInput(Exception):
    """Input that must not start a saga: every problem, each named by its JSON path."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(map(str, errors)))
        self.errors = errors


_WORKFLOW_ID: TypeAdapter[str] = TypeAdapter(Identifier)
_MESSAGE_CHARS = 240
"""The schema's messages quote the offending value, which may be a megabyte long."""


def _path(root: str, loc: tuple[int | str, ...]) -> str:
    return root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


_MESSAGES = {
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "string_too_long": "must be at most {max_length} characters",
    "too_long": "must have at most {max_length} items",
    "decimal_max_places": "must have at most {decimal_places} decimal places",
    "finite_number": "must be a finite number",
    "string_unicode": "must be Unicode text (a lone surrogate such as \\ud800 is not)",
}
"""The limits' messages in the words of the rest (pydantic's own for anything else)."""


def field_errors(error: ValidationError, root: str) -> list[FieldError]:
    """A model's violations, each named by its JSON path under ``root``, in the words of
    the schema's messages (the API's 422 answers too)."""
    return [
        FieldError(
            _path(root, line["loc"]),
            _MESSAGES[line["type"]].format(**line.get("ctx", {}))
            if line["type"] in _MESSAGES
            else line["msg"],
        )
        for line in error.errors()
    ]


def _within(path: str, outer: str) -> bool:
    return path == outer or path.startswith((f"{outer}.", f"{outer}["))


def _shortened(error: FieldError) -> FieldError:
    message = error.message
    if len(message) <= _MESSAGE_CHARS:
        return error
    half = _MESSAGE_CHARS // 2
    return FieldError(error.path, f"{message[:half]} ... {message[-half:]}")


def prepare(
    saga: Saga,
    data: Any,
    *,
    workflow_id: str | None = None,
    environment: str | None = None,
    template: TaskTemplate | None = None,
) -> Prepared:
    """Validate ``data`` and resolve the plan; start nothing.

    Every problem is collected: the config's schema first, then the input model's limits
    (models/limits.py) wherever the schema found nothing already, then ``workflow_id``.
    """
    template = template or saga.template(environment)
    problems = saga.code_problems(template)
    if problems:
        raise ConfigErrors(problems)
    errors = validate_input(template.schema, data)
    validated: BaseModel | None = None
    try:
        validated = saga.input_model.model_validate(data)
    except ValidationError as invalid:
        schema_paths = [error.path for error in errors]
        errors += [
            error
            for error in field_errors(invalid, "$")
            if not any(_within(error.path, path) for path in schema_paths)
        ]
    if workflow_id is not None:
        try:
            _WORKFLOW_ID.validate_python(workflow_id)
        except ValidationError as invalid:
            errors += field_errors(invalid, "workflow_id")
    if errors or validated is None:
        ordered = sorted(errors, key=lambda error: (error.path, error.message))
        raise InvalidInput([_shortened(error) for error in ordered])
    plan = build_plan(template, data)
    return Prepared(
        saga=saga,
        workflow_id=workflow_id or f"{saga.id_prefix}-{saga.request_key(data)}",
        request=saga.make_request(validated, plan),
        plan=plan,
        correlation_id=data.get("correlation_id"),
    )
