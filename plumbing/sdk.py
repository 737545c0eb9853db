"""The SDK's private names the project still relies on, in one place.

Each has no public equivalent; ``tests/unit/test_sdk_names.py`` fails loudly when an SDK
upgrade moves one, instead of the project silently losing what it was for.
"""

from __future__ import annotations

from typing import Final

ACTIVITY_WORKER_LOGGER: Final = "temporalio.worker._activity"
"""The logger the SDK's activity worker logs each failed attempt to, with a traceback
(the step wrapper logs each failure once already, with its context). A logger is named by
its module, and this module is private."""
