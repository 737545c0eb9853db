"""Temporal clients, workers, and starting/awaiting sagas: the same code for CLI, demo, tests."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.envconfig import ClientConfigProfile
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.client import DEFAULT_HTTP_TIMEOUT, ServiceClient
from activities.order import OrderActivities
from activities.registration import RegistrationActivities
from adapter.urls import service_urls
from models.envelope import StepOutput
from models.status import SagaState, SagaStatus
from runtime.converter import data_converter
from runtime.sagas import SAGAS, Prepared
from runtime.workers import WorkerSettings
from workflows.visibility import (
    CORRELATION_ID,
    SAGA_STATE,
    start_details,
    start_summary,
    step_named,
)


class ConnectionSettingsError(Exception):
    """Temporal's client configuration (profile file or environment) cannot be used."""


@dataclass(frozen=True)
class TemporalSettings:
    """Where the cluster is and how to reach it, the way Temporal's own tools read it."""

    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "sagas"
    connection: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """TLS, API key and gRPC metadata from the profile (kept out of reprs: it holds secrets)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TemporalSettings:
        """``temporalio.envconfig``: the profile ``TEMPORAL_PROFILE`` (default ``default``) of
        the TOML file ``TEMPORAL_CONFIG_FILE`` (default ``~/.config/temporalio/temporal.toml``,
        if any), overridden by ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``,
        ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS*``; and ``TEMPORAL_TASK_QUEUE``."""
        env = os.environ if env is None else env
        try:
            profile = ClientConfigProfile.load(
                env.get("TEMPORAL_PROFILE"), override_env_vars=dict(env)
            )
            config: dict[str, Any] = dict(profile.to_client_connect_config())
        except Exception as err:  # the SDK's bridge raises its own ConfigError type
            raise ConnectionSettingsError(f"Temporal client configuration: {err}") from None
        return cls(
            address=config.pop("target_host", None) or cls.address,
            namespace=config.pop("namespace", None) or cls.namespace,
            task_queue=env.get("TEMPORAL_TASK_QUEUE", cls.task_queue),
            connection=config,
        )


class TemporalUnreachable(RuntimeError):
    """No Temporal server answers at the address; the message says how to start one."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(
            f"cannot reach Temporal at {address} ({reason}): is a server running? Start one"
            " with 'temporal server start-dev' or 'make demo DEMO_ARGS=--keep-running'"
        )
        self.address = address


def _transport_reason(error: RuntimeError) -> str:
    """The OS's words from the SDK's transport error (``Connection refused``), not the
    whole ``tonic::transport::Error(...)`` chain."""
    found = re.search(r'(?:message|error): "([^"]+)"', str(error))
    return found.group(1) if found else "no connection"


async def connect(settings: TemporalSettings, runtime: Runtime | None = None) -> Client:
    """A client with the project's data converter; ``runtime`` carries metrics settings.
    Raises :class:`TemporalUnreachable` when nothing answers at the address."""
    try:
        return await Client.connect(
            settings.address,
            namespace=settings.namespace,
            data_converter=data_converter(),
            runtime=runtime,
            **settings.connection,
        )
    except RuntimeError as err:  # the SDK's bridge raises RuntimeError for transport failures
        raise TemporalUnreachable(settings.address, _transport_reason(err)) from err


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


async def pollers(
    client: Client,
    task_queue: str,
    kind: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
) -> set[str]:
    """The identities of the workers that recently polled ``task_queue`` for ``kind`` tasks."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        )
    )
    return {poller.identity for poller in described.pollers}


async def start_saga(
    client: Client, prepared: Prepared, task_queue: str, *, visibility: bool = True
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """Start, or attach to the saga already holding this id. Returns (handle, started_now).

    The id comes from the request, so submitting the same request twice runs one saga. One
    call: the server refuses a second start of the id (running or finished) and we attach.
    """
    pairs: list[SearchAttributePair[Any]] = []
    if visibility:
        pairs.append(SearchAttributePair(SAGA_STATE, SagaState.IN_PROGRESS.value))
        if prepared.correlation_id:
            pairs.append(SearchAttributePair(CORRELATION_ID, prepared.correlation_id))
    try:
        handle = await client.start_workflow(
            prepared.saga.workflow.run,  # type: ignore[attr-defined]
            prepared.request,
            id=prepared.workflow_id,
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(pairs),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=start_summary(prepared.request),
            static_details=start_details(prepared.plan),
        )
    except WorkflowAlreadyStartedError:
        # Running or finished: either way the request is already handled; attach to it.
        return client.get_workflow_handle(prepared.workflow_id), False
    return handle, True


async def final_status(handle: WorkflowHandle[Any, Any]) -> SagaStatus:
    """Wait for the saga to end and return its status document, whatever the outcome, with
    every step result in place (the stored document leaves activity results out)."""
    try:
        status = SagaStatus.model_validate(await handle.result())
    except WorkflowFailureError as err:
        cause = err.cause
        if not (isinstance(cause, ApplicationError) and cause.details):
            return await query_status(handle)
        status = SagaStatus.model_validate(cause.details[0])
    await restore_step_results(handle, status)
    return status


async def restore_step_results(handle: WorkflowHandle[Any, Any], status: SagaStatus) -> None:
    """Put back the results a finished saga's document left in the history: each step's
    last completed activity (an activity's summary starts with its step's name)."""
    wanted = {name for name, step in status.steps.items() if step.result_in_history}
    if not wanted:
        return
    step_of: dict[int, str] = {}
    results: dict[str, Payload] = {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            summary = event.user_metadata.summary
            if summary.data:
                [name] = await data_converter().decode([summary], [str])
                step_of[event.event_id] = step_named(name)
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            name = step_of.get(completed.scheduled_event_id, "")
            if name in wanted and completed.result.payloads:
                results[name] = completed.result.payloads[0]
    for name, payload in results.items():
        [output] = await data_converter().decode([payload], [StepOutput])
        step = status.steps[name]
        step.result, step.result_in_history = output.result, False


async def query_status(
    handle: WorkflowHandle[Any, Any], rpc_timeout: timedelta | None = None
) -> SagaStatus:
    raw = await handle.query("status", rpc_timeout=rpc_timeout)
    return SagaStatus.model_validate(raw)
