"""structlog set-up: one line per event, key=value for people or JSON for machines."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

LOG_FORMAT_VAR = "SAGA_LOG_FORMAT"
LOG_LEVEL_VAR = "SAGA_LOG_LEVEL"


def _current_stderr(*_: Any) -> structlog.PrintLogger:
    """A logger on whatever ``sys.stderr`` is now, not the one at configuration time (which
    a test harness may have swapped and closed since)."""
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str | None = None, fmt: str | None = None) -> None:
    """``fmt`` is ``console`` (default) or ``json``, ``level`` a logging level name (default
    INFO); ``$SAGA_LOG_FORMAT`` and ``$SAGA_LOG_LEVEL`` set the defaults."""
    fmt = fmt or os.environ.get(LOG_FORMAT_VAR, "console")
    level = level or os.environ.get(LOG_LEVEL_VAR, "INFO")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_current_stderr,
        cache_logger_on_first_use=False,
    )
    # The SDK logs every failed attempt with a traceback; our step wrapper already logs it
    # once, with workflow id, step, attempt and correlation id.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    logging.getLogger("temporalio.worker._activity").setLevel(logging.ERROR)
