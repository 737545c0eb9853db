"""structlog set-up: one line per event, key=value for people or JSON for machines.

One pipeline for everything a process logs: structlog's own loggers; the standard
library's (the Temporal SDK, httpx, asyncio, uvicorn when a server leaves its loggers to
propagate) through a root handler with structlog's ``ProcessorFormatter``; and the SDK
core's (Rust) logs, forwarded to the ``temporalio.core`` logger instead of being printed
by the core itself (plain text with colour codes). So in JSON mode every line is a JSON
object, a traceback included (its ``exception`` field), and durations are seconds.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import structlog
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from plumbing.sdk import ACTIVITY_WORKER_LOGGER

LOG_FORMAT_VAR = "SAGA_LOG_FORMAT"
LOG_LEVEL_VAR = "SAGA_LOG_LEVEL"
CORE_LOGGER = "temporalio.core"
"""Where the SDK core's log lines arrive (warnings and errors)."""
QUIET_LIBRARIES = ("httpx", "httpcore", "aiohttp")
"""A line per HTTP request at INFO: ours (``activities.client``, at DEBUG) says more."""
EventDict = MutableMapping[str, Any]


def _current_stderr(*_: Any) -> structlog.PrintLogger:
    """A logger on whatever ``sys.stderr`` is now, not the one at configuration time (which
    a test harness may have swapped and closed since)."""
    return structlog.PrintLogger(sys.stderr)


class _StderrHandler(logging.Handler):
    """The standard library's records, formatted by structlog, on the current stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


def durations_in_seconds(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """``timedelta`` values as seconds (JSON has no timedelta; its repr is no number)."""
    for key, value in event.items():
        if isinstance(value, timedelta):
            event[key] = value.total_seconds()
    return event


def _core_fields(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A forwarded core line's target and structured fields, as fields of the event."""
    entry = getattr(event.get("_record"), "temporal_log", None)
    if entry is not None:
        event["target"] = entry.target
        if entry.fields:
            event["fields"] = entry.fields
    return event


def core_telemetry(metrics: PrometheusConfig | None = None) -> TelemetryConfig:
    """The SDK core's telemetry: warnings and errors forwarded to :data:`CORE_LOGGER` (so
    they go through the same pipeline), and ``metrics`` when given."""
    forwarding = LogForwardingConfig(
        logger=logging.getLogger(CORE_LOGGER),
        append_target_to_name=False,
        prepend_target_on_message=False,
        append_log_fields_to_message=False,
    )
    return TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=forwarding,
        ),
        metrics=metrics,
    )


@functools.cache
def _forwarding_runtime() -> Runtime:
    """One default runtime per process, whatever the number of configurations."""
    return Runtime(telemetry=core_telemetry())


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """``fmt`` is ``console`` (default) or ``json``, ``level`` a logging level name (default
    INFO); ``$SAGA_LOG_FORMAT`` and ``$SAGA_LOG_LEVEL`` set the defaults. Call it before
    the first Temporal client: clients made earlier keep the core's own console logging."""
    fmt = fmt or os.environ.get(LOG_FORMAT_VAR, "console")
    level_number: int = logging.getLevelName(
        (level or os.environ.get(LOG_LEVEL_VAR, "INFO")).upper()
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        durations_in_seconds,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=_current_stderr,
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(
                    allow=("temporal_workflow", "temporal_activity", "saga_event")
                ),
                _core_fields,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_number)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level_number, logging.WARNING))
    # The SDK logs every failed attempt with a traceback; our step wrapper already logs it
    # once, with workflow id, step, attempt and correlation id.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    logging.getLogger(ACTIVITY_WORKER_LOGGER).setLevel(logging.ERROR)
    Runtime.set_default(_forwarding_runtime(), error_if_already_set=False)
