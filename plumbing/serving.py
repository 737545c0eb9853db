"""Serving a Starlette app with uvicorn: on its own (``starter.py api``, ``codec-server``),
owning the process's signals, or inside a process that owns them itself (the worker's
health endpoints)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.applications import Starlette


def _config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    """uvicorn's own log lines go through the project's log pipeline (``plumbing.logs``:
    JSON on every line in JSON mode), not its formatter."""
    return uvicorn.Config(app, host=host, port=port, log_level="warning", log_config=None)


async def serve(app: Starlette, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    await uvicorn.Server(_config(app, host, port)).serve()


class _Embedded(uvicorn.Server):
    """A server that leaves the process's signals to whoever owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: Starlette, host: str, port: int) -> AsyncIterator[None]:
    """Serve ``app`` while the block runs. The socket is bound here first, so a port that
    is taken is a RuntimeError saying so (uvicorn would exit the process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as err:
        listener.close()
        raise RuntimeError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
    server = _Embedded(_config(app, host, port))
    task = asyncio.ensure_future(server.serve(sockets=[listener]))
    try:
        yield
    finally:
        server.should_exit = True
        await task
        listener.close()
