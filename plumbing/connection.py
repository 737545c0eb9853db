"""Temporal clients, workers, and starting/awaiting sagas: the same code for CLI, demo, tests."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
)
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime

from plumbing.converter import data_converter


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
