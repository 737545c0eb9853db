"""A saga described once: everything the shared machinery needs to know about it.

A descriptor names its code lazily, as ``"package.module:Name"`` references, so reading
the catalogue (``starter.py --help``, a start) imports no workflow or activity code: each
part is imported the first time something needs it, and then kept.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from adapter.models import TaskTemplate
    from models.plan import SagaPlan
    from models.steps import Steps

_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


class SagaModuleError(Exception):
    """A saga module or descriptor that cannot be used; one line for a person (exit 2)."""


def resolve(reference: str) -> Any:
    """What ``"package.module:Name"`` names, imported now."""
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SagaModuleError(f"{reference}: cannot import {module_name} ({err})") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise SagaModuleError(f"{reference}: {module_name} has no {name}") from None


@dataclass(frozen=True)
class Sample:
    """A request file the demo runs, and what to expect of it."""

    file: str
    """A JSON request, relative to the descriptor's ``samples_dir``."""
    description: str
    expect: str = "complete"
    """The state the saga ends in (the demo checks it)."""


@dataclass(frozen=True)
class SagaDescriptor:
    """One saga: its names, its code (lazily), its config, its request and its front ends."""

    kind: str
    """What the saga is listed as (``list --saga``) and what its workflow ids start with."""
    command: str
    """The ``starter.py`` command that starts one."""
    workflow_type: str
    """The workflow's Temporal type name (``@workflow.defn(name=...)``); starting one needs
    only this."""
    workflow: str
    """``module:Class`` of the workflow."""
    activities: str
    """``module:Class`` of its activities (an ``activities.base.SagaActivities``)."""
    steps: str
    """``module:NAME`` of its declared ``models.steps.Steps``."""
    request: str
    """``module:Class`` of the workflow's argument: the input under ``input_field``, and
    the plan under ``plan``. Its module is shared with the workflow sandbox."""
    input_model: str
    """``module:Class`` of the customer's input, whose types hold the input limits."""
    input_field: str
    config: Path
    """Its Tasker-format YAML config."""
    api_path: str
    """Where the HTTP API takes a start: ``POST <api_path>``."""
    summary: str
    """``module:function`` from the request to the Web UI's one-line summary (no personal
    data)."""
    identity: str | None = None
    """``module:function`` from the request data to the text whose keyed digest is the
    workflow id; None: the whole request's canonical JSON."""
    customer: str | None = None
    """``module:function`` from the request data to its customer's id (text), published as
    a keyed digest so ``list --customer`` finds the saga; None: not listed by customer."""
    samples_dir: Path | None = None
    samples: tuple[Sample, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("kind", "command"):
            if not _KIND.match(getattr(self, name)):
                raise SagaModuleError(
                    f"saga {self.kind!r}: {name} {getattr(self, name)!r} must be lower-case"
                    " letters, digits and _"
                )
        refs = ["workflow", "activities", "steps", "request", "input_model", "summary"]
        optional = [name for name in ("identity", "customer") if getattr(self, name)]
        for name in [*refs, *optional]:
            if not _REF.match(getattr(self, name)):
                raise SagaModuleError(
                    f"saga {self.kind!r}: {name} {getattr(self, name)!r} is not a"
                    " 'package.module:Name' reference"
                )
        if not self.api_path.startswith("/") or "{" in self.api_path:
            raise SagaModuleError(f"saga {self.kind!r}: api_path must be a fixed path like /orders")

    # -- its code, imported on first use ------------------------------------------------

    def workflow_class(self) -> type:
        return _resolved(self.workflow)  # type: ignore[no-any-return]

    def activities_class(self) -> type:
        return _resolved(self.activities)  # type: ignore[no-any-return]

    def step_set(self) -> Steps:
        return _resolved(self.steps)  # type: ignore[no-any-return]

    def input_class(self) -> type[BaseModel]:
        return _resolved(self.input_model)  # type: ignore[no-any-return]

    def request_class(self) -> type[BaseModel]:
        return _resolved(self.request)  # type: ignore[no-any-return]

    @property
    def models_module(self) -> str:
        """The module of its request: shared with the workflow sandbox, not re-imported."""
        return self.request.partition(":")[0]

    def make_request(self, validated: BaseModel, plan: SagaPlan) -> BaseModel:
        """The workflow's argument, from the validated input and the plan."""
        return self.request_class()(**{self.input_field: validated, "plan": plan})

    def summary_of(self, request: BaseModel) -> str:
        return str(_resolved(self.summary)(request))

    def identity_of(self, data: dict[str, Any]) -> str | None:
        return None if self.identity is None else str(_resolved(self.identity)(data))

    def customer_of(self, data: dict[str, Any]) -> str | None:
        if self.customer is None:
            return None
        found = _resolved(self.customer)(data)
        return None if found is None or str(found).strip() == "" else str(found)

    # -- its config -----------------------------------------------------------------------

    def template(self, environment: str | None = None) -> TaskTemplate:
        """The loaded config, read again only when the file changes (loading costs ~40 ms:
        YAML, every check, the schema's own validation)."""
        from adapter.loader import DEFAULT_ENV, ENV_VAR

        env = environment or os.environ.get(ENV_VAR) or DEFAULT_ENV
        stat = self.config.stat()
        return _load_template(self.config, env, stat.st_mtime_ns, stat.st_size)

    def sample_path(self, sample: Sample) -> Path:
        return (self.samples_dir or Path.cwd()) / sample.file


@functools.cache
def _resolved(reference: str) -> Any:
    return resolve(reference)


@functools.lru_cache(maxsize=32)
def _load_template(path: Path, environment: str, _mtime_ns: int, _size: int) -> TaskTemplate:
    from adapter.loader import load_template

    return load_template(path, environment)
