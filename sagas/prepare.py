"""Preparing a start: the input checked, the plan resolved, the identity derived.

Everything that starts a saga (starter.py, the API, tests, the demo) goes through
:func:`prepare`, so input validation, plan resolution and identity (sagas/identity.py) are the same
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from adapter.errors import ConfigError, ConfigErrors
from adapter.models import TaskTemplate
from adapter.policy import build_plan
from adapter.schema import FieldError, validate_input
from models.limits import Identifier
from models.plan import SagaPlan
from plumbing.keys import keyed_digest
from sagas.catalogue import catalogue
from sagas.descriptor import SagaDescriptor
from sagas.identity import (
    Identity,
    IdentitySource,
    customer_key,
    key_digest,
    key_problem,
    request_digest,
)


def code_problems(saga: SagaDescriptor, template: TaskTemplate) -> list[ConfigError]:
    """Where ``template`` does not fit the saga's code: a step the code lacks or the config
    lacks, a compensation activity the code lacks, a step ordered before a step whose
    result it reads (from the saga's declared steps: no activity code is imported). Empty
    when it fits: a workflow given such a config could only fail, so nothing starts."""
    steps = saga.step_set()
    provided = steps.provided
    problems: list[ConfigError] = []

    def problem(message: str, step: str | None, key: str) -> None:
        problems.append(ConfigError(template.path, message, step=step, key=key))

    configured = {step.name for step in template.steps}
    for step in template.steps:
        if step.name not in steps:
            problem(
                f"the {saga.kind} saga's code has no such step ({', '.join(steps.names)})",
                step.name,
                "name",
            )
            continue
        undo = step.saga.compensation
        if undo is not None and undo not in provided:
            known = ", ".join(sorted(provided))
            message = f"no activity {undo!r} to compensate with (known: {known})"
            problem(message, step.name, "saga.compensation")
    depends_on = {step.name: list(step.depends_on) for step in template.steps}
    unordered = steps.unordered_reads(depends_on, sequential=not template.concurrent)
    for name, reads in unordered.items():
        problem(
            f"reads the result of {', '.join(reads)}, but depends_on_step does not order it"
            f" after {'it' if len(reads) == 1 else 'them'} (directly or through other steps)",
            name,
            "depends_on_step",
        )
    for missing in steps.names:
        if missing not in configured:
            message = f"the {saga.kind} saga's code runs step {missing!r}; the config lacks it"
            problem(message, None, "step_templates")
    return problems


def saga_running(template: TaskTemplate) -> SagaDescriptor | None:
    """The saga whose code runs configs named like ``template`` (its own config's name)."""
    return next((s for s in catalogue() if s.template().name == template.name), None)


def plan_for(
    saga: SagaDescriptor, template: TaskTemplate, data: dict[str, Any] | None = None
) -> SagaPlan:
    """The plan ``data`` runs with, each step on the activity the saga's code declares."""
    return build_plan(template, data, saga.step_set().activities)


def identity_of(
    saga: SagaDescriptor,
    data: dict[str, Any],
    workflow_id: str | None = None,
    key: tuple[str, str] | None = None,
) -> Identity:
    """The submission's identity (sagas/identity.py): an explicit id, the saga's business
    rule, an idempotency key (``key``: its value and where it came from, else the request's
    ``correlation_id``), or the request itself."""
    if workflow_id is not None:
        return Identity(workflow_id, IdentitySource.ID)
    rule = saga.identity_of(data)
    if rule is not None:
        return Identity(f"{saga.kind}-{keyed_digest(rule)}", IdentitySource.RULE)
    correlation_id = data.get("correlation_id")
    if key is None and isinstance(correlation_id, str):
        key = (correlation_id, "$.correlation_id")
    if key is not None:
        value, name = key
        return Identity(f"{saga.kind}-{key_digest(value)}", IdentitySource.KEY, name)
    return Identity(f"{saga.kind}-{request_digest(data)}", IdentitySource.REQUEST)


@dataclass(frozen=True)
class Prepared:
    """A validated request, ready to start: its identity, its argument, its plan."""

    saga: SagaDescriptor
    identity: Identity
    request: BaseModel
    plan: SagaPlan
    correlation_id: str | None
    customer_key: str | None = None
    """The keyed digest of its customer, published for ``list --customer``."""

    @property
    def workflow_id(self) -> str:
        """The id of the first saga this submission may be (a repeat after the dedup window
        runs under a later one: the submission says which)."""
        return self.identity.root


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
    "extra_forbidden": "unknown: not one of the accepted names",
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
    saga: SagaDescriptor,
    data: Any,
    *,
    workflow_id: str | None = None,
    environment: str | None = None,
    template: TaskTemplate | None = None,
    idempotency_key: tuple[str, str] | None = None,
) -> Prepared:
    """Validate ``data`` and resolve the plan; start nothing.

    Every problem is collected: the config's schema first, then the input model's limits
    (models/limits.py) wherever the schema found nothing already, then ``workflow_id`` and
    ``idempotency_key`` (its value, and the name a problem with it goes by).
    """
    template = template or saga.template(environment)
    problems = code_problems(saga, template)
    if problems:
        raise ConfigErrors(problems)
    errors = validate_input(template.schema, data)
    validated: BaseModel | None = None
    try:
        validated = saga.input_class().model_validate(data)
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
    if idempotency_key is not None and (problem := key_problem(idempotency_key[0])):
        errors.append(FieldError(idempotency_key[1], problem))
    if errors or validated is None:
        ordered = sorted(errors, key=lambda error: (error.path, error.message))
        raise InvalidInput([_shortened(error) for error in ordered])
    plan = plan_for(saga, template, data)
    return Prepared(
        saga=saga,
        identity=identity_of(saga, data, workflow_id, idempotency_key),
        request=saga.make_request(validated, plan),
        plan=plan,
        correlation_id=data.get("correlation_id"),
        customer_key=customer_key(customer) if (customer := saga.customer_of(data)) else None,
    )
