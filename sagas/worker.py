"""A worker that hosts every saga of the catalogue: its workflows and its activities."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.base import step_results
from activities.client import DEFAULT_HTTP_TIMEOUT, ServiceClient
from adapter.urls import service_urls
from plumbing.worker_settings import WorkerSettings
from sagas.catalogue import catalogue
from sagas.descriptor import SagaDescriptor, SagaModuleError
from sagas.metrics import SagaMetrics, saga_names


def service_client(http: httpx.AsyncClient) -> ServiceClient:
    """One client for every saga's steps, URLs from every config (env overrides applied)."""
    urls: dict[str, str] = {}
    for saga in catalogue():
        urls.update(service_urls(saga.template()))
    timeout = float(os.environ.get("SAGA_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT))
    return ServiceClient(http, urls, timeout)


def check_activities(saga: SagaDescriptor) -> None:
    """The saga's activity class provides exactly the activities its steps declare, each
    step's returning the step's result model; SagaModuleError says where it does not."""
    declared = saga.step_set().provided
    provided = step_results(saga.activities_class())
    missing = sorted(declared.keys() - provided.keys())
    extra = sorted(provided.keys() - declared.keys())
    wrong = sorted(
        name
        for name, model in declared.items()
        if model is not None and name in provided and provided[name] is not model
    )
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("declared but not provided", missing),
            ("provided but not declared", extra),
            ("returning another model than their step's", wrong),
        )
        if names
    ]
    if problems:
        raise SagaModuleError(f"{saga.activities} does not fit {saga.steps}: {'; '.join(problems)}")


def activities_for(client: ServiceClient) -> list[Any]:
    """Every saga's activities, bound to ``client``, each class checked against its saga's
    declared steps. Activity names share one task queue, so a name two sagas both use is
    refused (a saga package namespaces its own)."""
    found: list[Any] = []
    owner: dict[str, str] = {}
    for saga in catalogue():
        check_activities(saga)
        for bound in saga.activities_class()(client).all():
            name = getattr(bound, "__saga_activity_name__", "")
            if name in owner:
                raise SagaModuleError(
                    f"activity {name!r} is defined by both the {owner[name]} and the"
                    f" {saga.kind} saga: give one a name of its own (Step(..., activity=...))"
                )
            owner[name] = saga.kind
            found.append(bound)
    return found


def make_worker(
    client: Client,
    task_queue: str,
    activities: Sequence[Any],
    settings: WorkerSettings | None = None,
    **options: Any,
) -> Worker:
    """A worker for every saga; the same settings (and sandbox passthrough) everywhere."""
    sagas = list(catalogue())
    return Worker(
        client,
        task_queue=task_queue,
        activities=list(activities),
        interceptors=[SagaMetrics(saga_names(sagas))],
        **(settings or WorkerSettings()).worker_options(
            [saga.workflow_class() for saga in sagas],
            passthrough=[saga.models_module for saga in sagas],
        ),
        **options,
    )
