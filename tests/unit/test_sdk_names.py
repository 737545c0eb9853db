"""The private SDK names in plumbing/sdk.py still name what they did."""

from __future__ import annotations

import importlib
import logging

from plumbing.sdk import ACTIVITY_WORKER_LOGGER


def test_the_activity_worker_logs_to_the_logger_we_quiet() -> None:
    module = importlib.import_module(ACTIVITY_WORKER_LOGGER)
    logger = getattr(module, "logger", None)
    assert isinstance(logger, logging.Logger), f"{ACTIVITY_WORKER_LOGGER} has no logger now"
    assert logger.name == ACTIVITY_WORKER_LOGGER
