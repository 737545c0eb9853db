"""The order-return saga package (examples/order_return), used the way an outside team
would: copied to a folder outside the checkout, put on PYTHONPATH and named with
``--saga-module`` (or ``SAGA_MODULES``). Nothing in the checkout's examples/ is importable
by the processes these tests start, so the copy is what makes them work.

Real processes (worker.py, starter.py, starter.py api) against the dev server and the
simulated services; the package's rules and its validate activity in-process; its
recorded history replayed against the copy's workflow class.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from activities.client import ServiceClient
from plumbing.converter import data_converter
from plumbing.ports import free_port
from plumbing.processes import ApiServer, DevServer, Services
from plumbing.worker_settings import WorkerSettings
from sagas.catalogue import catalogue
from sagas.prepare import prepare
from services import Settings, create_app
from tests.integration.helpers import Finished, worker_process

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "order_return"
HISTORY = ROOT / "tests" / "examples" / "histories" / "order_return_happy.json"
ORDER = json.loads((ROOT / "examples" / "order_sample.json").read_text())
"""2 x Widget A (29.99) + 1 x Widget B (49.99): subtotal 109.97, tax 8.80, total 124.76."""
NAMED = ("--saga-module", "order_return")


# -- the package, copied outside the checkout ---------------------------------------------


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the checkout holding a copy of the package: what goes on PYTHONPATH."""
    parent = tmp_path_factory.mktemp("saga_modules")
    shutil.copytree(PACKAGE, parent / "order_return", ignore=shutil.ignore_patterns("__pycache__"))
    assert not parent.resolve().is_relative_to(ROOT)
    return parent


def _forget_package() -> None:
    for name in [m for m in sys.modules if m == "order_return" or m.startswith("order_return.")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def package(outside: Path) -> Iterator[ModuleType]:
    """The copy, imported in this process (its rules, its activities, its workflow class)."""
    _forget_package()
    sys.path.insert(0, str(outside))
    try:
        module = importlib.import_module("order_return")
        assert module.__file__ is not None
        assert Path(module.__file__).is_relative_to(outside)
        yield module
    finally:
        sys.path.remove(str(outside))
        _forget_package()


def _part(name: str) -> ModuleType:
    return importlib.import_module(f"order_return.{name}")


def process_env(outside: Path | None) -> dict[str, str]:
    """This environment, with the copy's folder (alone) added to PYTHONPATH."""
    env = dict(os.environ)
    env.pop("SAGA_MODULES", None)
    paths = [str(outside)] if outside else []
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env.pop("PYTHONPATH", None)
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


async def starter(dev_server: DevServer, queue: str, outside: Path | None, *args: str) -> Finished:
    """``python starter.py --saga-module order_return ARGS`` from the checkout's root."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "--address", dev_server.address, "--task-queue", queue,
        *NAMED, *args, cwd=ROOT, env=process_env(outside),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def _json(finished: Finished) -> dict[str, Any]:
    assert finished.stdout.strip(), finished.stderr
    document: dict[str, Any] = json.loads(finished.stdout)
    return document


@dataclass(frozen=True)
class RunningWorker:
    queue: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def worker(
    dev_server: DevServer,
    services: Services,
    outside: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningWorker]:
    """``worker.py --saga-module order_return`` (every saga: the built-ins and the copy's)."""
    queue = f"ret-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {"PYTHONPATH": process_env(outside)["PYTHONPATH"]}
    with worker_process(dev_server, queue, *NAMED, log=log, env=env) as process:
        yield RunningWorker(queue, process, log)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class CompletedReturn:
    order_id: int
    charge_id: str
    workflow_id: str
    file: Path
    status: dict[str, Any]
    email: str
    correlation_id: str
    stock_before: dict[int, int]


async def _stock(http: httpx.AsyncClient, product_id: int) -> int:
    stock: int = (await http.get(f"/catalog/products/{product_id}")).json()["stock"]
    return stock


async def _refunds(http: httpx.AsyncClient, charge_id: str | None = None) -> list[str]:
    params = {"charge_id": charge_id} if charge_id else {}
    refunds = (await http.get("/payments/refunds", params=params)).json()["refunds"]
    return [refund["amount"] for refund in refunds]


@pytest.fixture(scope="module")
async def services_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.url) as http:
        yield http


@pytest.fixture(scope="module")
async def completed_return(
    dev_server: DevServer,
    worker: RunningWorker,
    services_client: httpx.AsyncClient,
    outside: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> CompletedReturn:
    """An order completed with ``starter.py order``, then one Widget A and one Widget B of
    it returned with ``starter.py return FILE --wait --json``."""
    files = tmp_path_factory.mktemp("requests")
    tag = _tag()
    order_file = files / "order.json"
    order_file.write_text(json.dumps({**ORDER, "correlation_id": f"ret-order-{tag}"}))
    ordered = await starter(dev_server, worker.queue, outside, "order", str(order_file),
                            "--wait", "--json")  # fmt: skip
    assert ordered.returncode == 0, (ordered.stderr, worker.log.read_text())
    order = _json(ordered)["result"]
    stock_before = {p: await _stock(services_client, p) for p in (1, 2)}
    email = f"returns-{tag}@example.com"
    request = {
        "order_id": order["order_id"],
        "items": [{"product_id": 2, "quantity": 1}, {"product_id": 1, "quantity": 1}],
        "reason": "arrived scratched",
        "customer_email": email,
        "correlation_id": f"ret-{tag}",
    }
    return_file = files / "return.json"
    return_file.write_text(json.dumps(request))
    returned = await starter(dev_server, worker.queue, outside, "return", str(return_file),
                             "--wait", "--json")  # fmt: skip
    assert returned.returncode == 0, (returned.stdout, returned.stderr, worker.log.read_text())
    status = _json(returned)
    return CompletedReturn(
        order_id=order["order_id"],
        charge_id=order["payment_id"],
        workflow_id=status["workflow_id"],
        file=return_file,
        status=status,
        email=email,
        correlation_id=request["correlation_id"],
        stock_before=stock_before,
    )


# -- through the CLI, as processes --------------------------------------------------------


async def test_a_return_completes_refunds_restocks_and_confirms_once(
    completed_return: CompletedReturn, services_client: httpx.AsyncClient
) -> None:
    done = completed_return
    status = done.status
    assert status["state"] == "complete"
    assert done.workflow_id.startswith("order_return-")
    assert status["workflow"] == "process_return"
    assert status["correlation_id"] == done.correlation_id
    assert {name: step["state"] for name, step in status["steps"].items()} == {
        "validate_return": "complete",
        "refund_payment": "complete",
        "restock_items": "complete",
        "send_return_confirmation": "complete",
    }
    validation = status["steps"]["validate_return"]["result"]
    # 29.99 + 49.99 = 79.98 returned; tax 8.80 x 79.98 / 109.97 = 6.4001... -> 6.40.
    assert (validation["returned_subtotal"], validation["tax_refund"]) == ("79.98", "6.40")
    assert validation["payment_id"] == done.charge_id
    assert status["result"] == {
        "order_id": done.order_id,
        "refund_amount": "86.38",
        "refund_id": status["steps"]["refund_payment"]["result"]["refund_id"],
        "units_restocked": 2,
        "confirmation": "sent",
    }

    assert await _refunds(services_client, done.charge_id) == ["86.38"]
    charge = (await services_client.get(f"/payments/charges/{done.charge_id}")).json()
    assert Decimal(charge["refunded"]) == Decimal("86.38")
    restocks = (
        await services_client.get("/inventory/restocks", params={"return_id": done.workflow_id})
    ).json()["restocks"]
    assert sorted((r["product_id"], r["quantity"], r["status"]) for r in restocks) == [
        (1, 1, "restocked"),
        (2, 1, "restocked"),
    ]
    assert {r["order_id"] for r in restocks} == {str(done.order_id)}
    assert {p: await _stock(services_client, p) for p in (1, 2)} == {
        p: stock + 1 for p, stock in done.stock_before.items()
    }
    emails = (await services_client.get("/emails", params={"to": done.email})).json()["emails"]
    assert [(e["template"], e["data"]["refund_amount"]) for e in emails] == [
        ("return_confirmation", "86.38")
    ]


async def test_the_same_return_again_attaches_and_refunds_nothing_more(
    dev_server: DevServer,
    worker: RunningWorker,
    outside: Path,
    completed_return: CompletedReturn,
    services_client: httpx.AsyncClient,
) -> None:
    again = await starter(dev_server, worker.queue, outside, "return", str(completed_return.file),
                          "--wait", "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert _json(again)["workflow_id"] == completed_return.workflow_id
    assert await _refunds(services_client, completed_return.charge_id) == ["86.38"]


async def test_returning_more_than_is_left_ends_in_error_before_any_refund(
    dev_server: DevServer,
    worker: RunningWorker,
    outside: Path,
    completed_return: CompletedReturn,
    services_client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    """Widget B was ordered once and has come back: a second return of it is refused."""
    request = {"order_id": completed_return.order_id, "items": [{"product_id": 2, "quantity": 1}]}
    file = tmp_path / "again.json"
    file.write_text(json.dumps({**request, "correlation_id": f"ret-{_tag()}"}))
    finished = await starter(dev_server, worker.queue, outside, "return", str(file),
                             "--wait", "--json")  # fmt: skip
    assert finished.returncode == 1, finished.stderr
    status = _json(finished)
    assert status["state"] == "error"
    error = status["steps"]["validate_return"]["error"]
    assert (error["type"], error["non_retryable"]) == ("RETURN_LINE_INVALID", True)
    assert "product 2: 1 returned, 0 of 1 ordered can still be returned" in error["message"]
    assert status["steps"]["refund_payment"]["state"] == "pending"
    assert await _refunds(services_client, completed_return.charge_id) == ["86.38"]


async def test_a_return_of_an_order_that_does_not_exist_ends_in_error_without_a_refund(
    dev_server: DevServer,
    worker: RunningWorker,
    outside: Path,
    services_client: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    refunds_before = await _refunds(services_client)
    file = tmp_path / "missing.json"
    missing = {"order_id": 2_000_000_000, "items": [{"product_id": 1, "quantity": 1}]}
    file.write_text(json.dumps({**missing, "correlation_id": f"ret-{_tag()}"}))
    finished = await starter(dev_server, worker.queue, outside, "return", str(file),
                             "--wait", "--json")  # fmt: skip
    assert finished.returncode == 1, (finished.stderr, worker.log.read_text())
    status = _json(finished)
    assert status["state"] == "error"
    validate = status["steps"]["validate_return"]
    assert (validate["error"]["type"], validate["attempts"]) == ("ORDER_NOT_FOUND", 1)
    assert {status["steps"][step]["state"] for step in ("refund_payment", "restock_items")} == {
        "pending"
    }
    assert status["compensations"] == []
    assert await _refunds(services_client) == refunds_before


async def test_status_and_list_show_the_return(
    dev_server: DevServer, worker: RunningWorker, outside: Path, completed_return: CompletedReturn
) -> None:
    workflow_id = completed_return.workflow_id
    shown = await starter(dev_server, worker.queue, outside, "status", workflow_id, "--json")
    assert shown.returncode == 0, shown.stderr
    status = _json(shown)
    assert (status["workflow_id"], status["state"]) == (workflow_id, "complete")
    assert status["result"]["refund_amount"] == "86.38"

    rows: list[dict[str, Any]] = []
    for _ in range(30):  # visibility is eventually consistent: each try is a process start
        listed = await starter(dev_server, worker.queue, outside, "list", "--saga",
                               "order_return", "--json")  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        rows = _json(listed)["sagas"]
        if any(row["workflow_id"] == workflow_id for row in rows):
            break
    [row] = [row for row in rows if row["workflow_id"] == workflow_id]
    assert (row["saga"], row["state"]) == ("order_return", "complete")
    assert {r["saga"] for r in rows} == {"order_return"}


async def test_config_commands_check_the_copy_against_its_code(
    dev_server: DevServer, outside: Path
) -> None:
    config = outside / "order_return" / "order_return.yaml"
    valid = await starter(dev_server, "unused", outside, "config", "validate", str(config))
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert f"ok: {config} (process_return v1.0.0, 4 steps, checked against the return saga's" in (
        valid.stdout
    )
    shown = await starter(dev_server, "unused", outside, "config", "show", "return")
    assert shown.returncode == 0, shown.stderr
    assert str(config) in shown.stdout
    [restock] = [line for line in shown.stdout.splitlines() if line.startswith("restock_items")]
    assert "on_exhausted=intervene undo=order_return.reverse_restock" in restock
    [email] = [line for line in shown.stdout.splitlines() if line.startswith("send_return")]
    assert "on_exhausted=continue" in email
    assert "intervention: timeout 86400s, then fail" in shown.stdout

    # Without the copy's folder on PYTHONPATH nothing provides the saga: the checkout's own
    # examples/ is not what the processes above imported.
    unknown = await starter(dev_server, "unused", None, "config", "show", "return")
    assert unknown.returncode == 2
    assert "order_return" in unknown.stderr


# -- through the HTTP API, as a process ----------------------------------------------------


async def test_the_api_starts_a_return_and_reports_it(
    dev_server: DevServer,
    dev_client: Client,
    worker: RunningWorker,
    outside: Path,
    completed_return: CompletedReturn,
    services_client: httpx.AsyncClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalogue()  # this process's catalogue is built before SAGA_MODULES names the copy
    monkeypatch.setenv("SAGA_MODULES", "order_return")
    monkeypatch.setenv("PYTHONPATH", process_env(outside)["PYTHONPATH"])
    server = ApiServer(tmp_path, dev_server.address, task_queue=worker.queue, port=free_port())
    server.start()
    # The last Widget A of the order (two ordered, one returned by the CLI test's return).
    request = {
        "order_id": completed_return.order_id,
        "items": [{"product_id": 1, "quantity": 1}],
        "correlation_id": f"ret-api-{_tag()}",
    }
    try:
        async with httpx.AsyncClient(base_url=server.url) as api:
            started = await api.post("/returns", json=request)
            assert started.status_code == 202, started.text
            workflow_id = started.json()["workflow_id"]
            await dev_client.get_workflow_handle(workflow_id).result()
            document = await api.get(f"/sagas/{workflow_id}")
            again = await api.post("/returns", json=request)
            invalid = await api.post("/returns", json={"items": []})
    finally:
        server.stop()
    assert started.json()["already_submitted"] is False
    assert started.headers["location"].endswith(f"/sagas/{workflow_id}")
    assert document.status_code == 200, document.text
    saga = document.json()
    assert (saga["workflow_id"], saga["state"]) == (workflow_id, "complete")
    # 29.99 + 8.80 x 29.99 / 109.97 (2.3999...) -> 32.39
    assert saga["result"]["refund_amount"] == "32.39"
    assert saga["steps"]["restock_items"]["result"]["units_restocked"] == 1
    assert (again.status_code, again.json()["already_submitted"]) == (202, True)
    assert invalid.status_code == 422
    assert {"$.order_id", "$.items"} <= {error["path"] for error in invalid.json()["errors"]}
    assert await _refunds(services_client, completed_return.charge_id) == ["86.38", "32.39"]


# -- in this process: its summary, its rules, its validate activity ------------------------


def test_the_ui_summary_says_what_it_is_with_no_personal_data(package: ModuleType) -> None:
    request = {
        "order_id": 7,
        "items": [{"product_id": 1, "quantity": 2}, {"product_id": 5, "quantity": 1}],
        "reason": "Jane Doe at 1 Main St says it broke",
        "customer_email": "jane.doe@example.com",
    }
    saga = package.RETURN
    summary = saga.summary_of(prepare(saga, request).request)
    assert summary == "Order return: 3 units in 2 lines of order 7"
    single = {"order_id": 9, "items": [{"product_id": 1, "quantity": 1}]}
    assert saga.summary_of(prepare(saga, single).request) == (
        "Order return: 1 unit in 1 line of order 9"
    )


def test_the_refund_is_the_lines_plus_their_share_of_tax_rounded_half_up(
    package: ModuleType,
) -> None:
    models = _part("models")
    line = models.ReturnedLine(product_id=1, name="A", price="2.50", quantity=2, line_total="5.00")
    # 0.05 x 5.00 / 10.00 = 0.025: half-up gives 0.03 (half-even would give 0.02).
    assert models.refund_amounts([line], Decimal("10.00"), Decimal("0.05")) == (
        Decimal("5.00"),
        Decimal("0.03"),
        Decimal("5.03"),
    )
    assert models.refund_amounts([line], Decimal("0.00"), Decimal("0.00"))[2] == Decimal("5.00")


def test_returned_lines_are_checked_against_the_order_and_earlier_returns(
    package: ModuleType,
) -> None:
    models = _part("models")
    ordered = [
        models.OrderedLine(product_id=1, name="A", price="29.99", quantity=2),
        models.OrderedLine(product_id=1, name="A", price="29.99", quantity=1),
        models.OrderedLine(product_id=2, name="B", price="49.99", quantity=1),
    ]
    items = [
        models.ReturnItem(product_id=1, quantity=2),
        models.ReturnItem(product_id=1, quantity=1),
    ]
    requested = models.requested_units(items)
    assert requested == {1: 3}
    assert models.line_problems(requested, ordered, {}) == []
    assert models.line_problems(requested, ordered, {1: 1}) == [
        "product 1: 3 returned, 2 of 3 ordered can still be returned"
    ]
    assert models.line_problems({9: 1}, ordered, {}) == ["product 9 is not in the order"]
    [priced] = models.returned_lines(requested, ordered)
    assert (priced.price, priced.line_total) == (Decimal("29.99"), Decimal("89.97"))
    placed = datetime(2026, 1, 1, tzinfo=UTC)
    assert not models.window_closed(placed, placed + timedelta(days=30), 30)
    assert models.window_closed(placed, placed + timedelta(days=30, seconds=1), 30)


@pytest.fixture
async def in_process_services(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[datetime]]]:
    """The simulated services in this process, on a clock the test sets."""
    clock = [datetime.now(UTC)]
    app = create_app(tmp_path / "s.db", clock=lambda: clock[0], settings=Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services.test") as http:
        yield http, clock
    app.state.db.close()


async def _order(http: httpx.AsyncClient, status: str = "confirmed") -> int:
    """An order of 2 x Widget A and 1 x Widget B (as the sample's), created at the clock."""
    items = [
        {"product_id": 1, "name": "Widget A", "price": "29.99", "quantity": 2},
        {"product_id": 2, "name": "Widget B", "price": "49.99", "quantity": 1},
    ]
    body = {
        "workflow_id": f"order-{_tag()}", "customer_email": "jane@example.com",
        "customer_name": "Jane Doe", "items": items, "subtotal": "109.97", "tax": "8.80",
        "shipping": "5.99", "total": "124.76", "payment_id": "ch_test", "status": status,
    }  # fmt: skip
    created = await http.post("/orders", json=body)
    assert created.status_code == 201, created.text
    order_id: int = created.json()["order_id"]
    return order_id


async def test_validate_return_refuses_what_cannot_come_back(
    package: ModuleType, in_process_services: tuple[httpx.AsyncClient, list[datetime]]
) -> None:
    http, clock = in_process_services
    models, activities = _part("models"), _part("activities")
    saga = package.RETURN
    bound = activities.ReturnActivities(
        ServiceClient(http, dict.fromkeys(saga.step_set().names, "http://services.test"))
    )
    env = ActivityEnvironment()
    env.info = replace(env.info, workflow_id="order_return-this-return")

    async def validate(order_id: int, *lines: tuple[int, int]) -> Any:
        items = [models.ReturnItem(product_id=p, quantity=q) for p, q in lines]
        arg = models.ValidateReturnInput(correlation_id="c-1", order_id=order_id, items=items)
        return await env.run(bound.validate_return, arg)

    async def refusal(order_id: int, *lines: tuple[int, int]) -> ApplicationError:
        with pytest.raises(ApplicationError) as raised:
            await validate(order_id, *lines)
        assert raised.value.non_retryable
        return raised.value

    now = clock[0]
    clock[0] = now - timedelta(days=31)
    old = await _order(http)
    clock[0] = now - timedelta(days=29)
    recent = await _order(http)
    cancelled = await _order(http, status="cancelled")
    clock[0] = now

    assert (await refusal(987_654, (1, 1))).type == "ORDER_NOT_FOUND"
    assert (await refusal(cancelled, (1, 1))).type == "ORDER_NOT_RETURNABLE"
    closed = await refusal(old, (1, 1))
    assert closed.type == "RETURN_WINDOW_CLOSED"
    assert "30-day return window" in closed.message
    unknown = await refusal(recent, (1, 1), (4, 1))
    assert (unknown.type, "product 4 is not in the order" in unknown.message) == (
        "RETURN_LINE_INVALID",
        True,
    )

    # An earlier return took one Widget A back; this return's own restocks do not count.
    for return_id, product_id in (("order_return-earlier", 1), ("order_return-this-return", 2)):
        restock = {"order_id": str(recent), "return_id": return_id,
                   "items": [{"product_id": product_id, "quantity": 1}]}  # fmt: skip
        assert (await http.post("/inventory/restocks", json=restock)).status_code == 201
    too_many = await refusal(recent, (1, 2))
    assert too_many.type == "RETURN_LINE_INVALID"
    assert "product 1: 2 returned, 1 of 2 ordered can still be returned" in too_many.message

    output = await validate(recent, (1, 1), (2, 1))
    validation = models.ReturnValidation.model_validate(output.result)
    assert [(line.product_id, line.quantity) for line in validation.lines] == [(1, 1), (2, 1)]
    assert (validation.refund_amount, validation.payment_id) == (Decimal("86.38"), "ch_test")
    assert validation.return_window_days == 30


# -- the recorded history replays against the copy's workflow ------------------------------


async def test_the_recorded_return_replays_against_the_packages_workflow(
    package: ModuleType, outside: Path
) -> None:
    workflow_class = _part("workflow").OrderReturnWorkflow
    module_file = sys.modules[workflow_class.__module__].__file__
    assert module_file is not None
    assert Path(module_file).is_relative_to(outside)
    history = WorkflowHistory.from_json("order_return_happy", HISTORY.read_text())
    first, last = history.events[0], history.events[-1]
    started = first.workflow_execution_started_event_attributes
    assert started.workflow_type.name == "OrderReturnWorkflow"
    assert last.HasField("workflow_execution_completed_event_attributes")
    runner = WorkerSettings().workflow_runner(passthrough=[package.RETURN.models_module])
    replayer = Replayer(
        workflows=[workflow_class], data_converter=data_converter(), workflow_runner=runner
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
