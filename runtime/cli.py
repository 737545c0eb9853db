"""What the two entry points (worker.py, starter.py) share about ending a process."""

from __future__ import annotations

import os
import sys


def exit_now(code: int) -> None:
    """Exit without interpreter teardown: the SDK's Rust threads can abort a finalizing
    interpreter (temporalio/sdk-python#300), turning a clean exit into SIGABRT."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
