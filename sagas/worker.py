"""A worker that hosts every saga of the catalogue: its workflows and its activities."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx
from temporalio.client import (
    Client,
)
from temporalio.worker import Worker

from activities.client import DEFAULT_HTTP_TIMEOUT, ServiceClient
from activities.order import OrderActivities
from activities.registration import RegistrationActivities
from adapter.urls import service_urls
from plumbing.worker_settings import WorkerSettings
from sagas.prepare import SAGAS


def service_client(http: httpx.AsyncClient) -> ServiceClient:
    """One client for every saga's steps, URLs from every config (env overrides applied)."""
    urls: dict[str, str] = {}
    for saga in SAGAS.values():
        urls.update(service_urls(saga.template()))
    timeout = float(os.environ.get("SAGA_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT))
    return ServiceClient(http, urls, timeout)


def activities_for(client: ServiceClient) -> list[Any]:
    return OrderActivities(client).all() + RegistrationActivities(client).all()


def make_worker(
    client: Client,
    task_queue: str,
    activities: Sequence[Any],
    settings: WorkerSettings | None = None,
    **options: Any,
) -> Worker:
    """A worker for every saga; the same settings (and sandbox passthrough) everywhere."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=list(activities),
        **(settings or WorkerSettings()).worker_options([saga.workflow for saga in SAGAS.values()]),
        **options,
    )
