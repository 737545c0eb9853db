"""The catalogue of sagas: config file, workflow, request model and workflow-id rule.

Everything that starts a saga (starter.py, tests, the demo) goes through :func:`prepare`, so
input validation, plan resolution and identity are the same everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from activities.order import OrderActivities
from activities.registration import RegistrationActivities
from activities.step import step_results
from adapter.errors import ConfigError, ConfigErrors
from adapter.loader import DEFAULT_ENV, ENV_VAR, load_template
from adapter.models import TaskTemplate
from adapter.policy import build_plan
from adapter.schema import FieldError, validate_input
from models.order import OrderInput
from models.plan import SagaPlan
from models.registration import RegistrationInput
from models.requests import OrderRequest, RegistrationRequest
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
    make_request: Callable[[dict[str, Any], SagaPlan], BaseModel]
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


def _canonical_digest(data: dict[str, Any]) -> str:
    """Same request, same id: a digest of the request's canonical JSON."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def _order_request(data: dict[str, Any], plan: SagaPlan) -> BaseModel:
    return OrderRequest(order=OrderInput.model_validate(data), plan=plan)


def _email_digest(data: dict[str, Any]) -> str:
    """One registration per email: a digest of the trimmed, lower-cased address (no PII in
    workflow ids)."""
    email = str((data.get("user_info") or {}).get("email", "")).strip().lower()
    return hashlib.sha256(email.encode()).hexdigest()[:20]


def _registration_request(data: dict[str, Any], plan: SagaPlan) -> BaseModel:
    return RegistrationRequest(registration=RegistrationInput.model_validate(data), plan=plan)


SAGAS: dict[str, Saga] = {
    "order": Saga(
        name="order",
        config=CONFIG_DIR / "order_processing.yaml",
        workflow=OrderProcessingWorkflow,
        id_prefix="order",
        step_results=order_processing.STEP_RESULTS,
        activities=OrderActivities,
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
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(map(str, errors)))
        self.errors = errors


def prepare(
    saga: Saga,
    data: Any,
    *,
    workflow_id: str | None = None,
    environment: str | None = None,
    template: TaskTemplate | None = None,
) -> Prepared:
    """Validate ``data`` against the config's schema and resolve the plan; start nothing."""
    template = template or saga.template(environment)
    problems = saga.code_problems(template)
    if problems:
        raise ConfigErrors(problems)
    errors = validate_input(template.schema, data)
    if errors:
        raise InvalidInput(errors)
    plan = build_plan(template, data)
    return Prepared(
        saga=saga,
        workflow_id=workflow_id or f"{saga.id_prefix}-{saga.request_key(data)}",
        request=saga.make_request(data, plan),
        plan=plan,
        correlation_id=data.get("correlation_id"),
    )
