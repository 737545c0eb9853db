"""What the entry points (worker.py, starter.py, the demo, the floor worker) share about
ending a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys


async def until_stopped() -> None:
    """Return on SIGINT or SIGTERM, so the caller can shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def exit_now(code: int) -> None:
    """Exit without interpreter teardown: the SDK's Rust threads can abort a finalizing
    interpreter (temporalio/sdk-python#300), turning a clean exit into SIGABRT. Output
    nobody reads any more (a closed pipe) is dropped."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # ValueError: it is closed
            stream.flush()
    os._exit(code)
