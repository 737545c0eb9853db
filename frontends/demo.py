"""``starter.py demo``: dev server + services + worker, a good order, a declined one and a
pro-plan user registration.

Everything runs on this machine: the Temporal dev server (SQLite under the data folder, Web
UI on), the simulated services over HTTP, and an in-process worker. Ports that are taken
are replaced by free ones, and the output says which.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from activities.client import http_client
from frontends.report import render_status
from plumbing.connection import TemporalSettings, connect
from plumbing.ports import free_port
from plumbing.processes import ApiServer, CodecServer, DevServer, Services, Stoppable
from plumbing.shutdown import until_stopped
from sagas.catalogue import catalogue
from sagas.descriptor import SagaDescriptor, Sample
from sagas.inputs import read_request
from sagas.lifecycle import start_saga
from sagas.prepare import prepare
from sagas.progress import outcome
from sagas.worker import activities_for, make_worker, service_client


def demo_runs() -> list[tuple[SagaDescriptor, Sample]]:
    """Every sample of every saga in the catalogue, in catalogue order."""
    return [(saga, sample) for saga in catalogue() for sample in saga.samples]


def _available(port: int) -> int:
    """``port`` when it is free; a free one when it is taken or 0 ("any")."""
    if port == 0:
        return free_port()
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return port
    replacement = free_port()
    print(f"  port {port} is taken, using {replacement}")
    return replacement


async def run_demo(args: argparse.Namespace, settings: TemporalSettings) -> int:
    data_dir: Path = args.data_dir
    started = time.monotonic()
    print(f"Starting the Temporal dev server and the services (data in {data_dir}) ...")
    ui_port = _available(args.ui_port)
    codec = CodecServer(
        data_dir, ui_origin=f"http://127.0.0.1:{ui_port}", port=_available(args.codec_port)
    )
    server = DevServer(
        data_dir,
        port=_available(args.temporal_port),
        ui_port=ui_port,
        codec_endpoint=codec.url,
    )
    services = Services(data_dir, port=_available(args.services_port), test_api=True)
    api = ApiServer(
        data_dir, server.address, settings.namespace, settings.task_queue,
        port=_available(args.api_port),
    )  # fmt: skip
    server.start()
    try:
        codec.start()
        services.start()
        api.start()
        os.environ["SAGA_SERVICES_URL"] = services.url
        settings = replace(settings, address=server.address)
        return await _run(args, settings, server, services, codec, api, started)
    finally:
        api.stop()
        services.stop()
        codec.stop()
        server.stop()
        print("Stopped the dev server, the codec server, the API and the services.")


def demo_id(file: str, run_tag: str) -> str:
    """A sample's workflow id, and correlation id, in one run: ``demo-<sample>-<tag>``."""
    return f"demo-{Path(file).stem}-{run_tag}"


def fresh_sample(file: str, data: dict[str, Any], run_tag: str) -> dict[str, Any]:
    """The sample ``file`` made this run's own: a correlation id naming the run and every
    email address made ``name+<tag>@…``, one the services have not seen, so a second run
    registers a new user instead of finding the first run's (``already_exists``)."""
    fresh = _tagged(data, run_tag)
    assert isinstance(fresh, dict)
    return {**fresh, "correlation_id": demo_id(file, run_tag)}


def _tagged(value: Any, run_tag: str, key: str = "") -> Any:
    if isinstance(value, dict):
        return {name: _tagged(item, run_tag, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_tagged(item, run_tag) for item in value]
    if key == "email" and isinstance(value, str) and "@" in value:
        local, domain = value.split("@", 1)
        return f"{local}+{run_tag}@{domain}"
    return value


def addresses(
    settings: TemporalSettings,
    server: DevServer,
    services: Services,
    codec: CodecServer,
    api: ApiServer,
) -> list[str]:
    """Every address the demo serves, Temporal's first, and the line that points the CLI at
    it (the CLI's default is localhost:7233, which a taken port moved away from)."""
    ui = f"{server.ui_url}/namespaces/{settings.namespace}/workflows"
    return [
        f"Temporal:    {server.address}",
        f"  TEMPORAL_ADDRESS={server.address} python starter.py list",
        f"Temporal UI: {ui}",
        f"Services:    {services.url}  (e.g. {services.url}/payments/charges)",
        f"Codec:       {codec.url}  (the UI decrypts payloads through it)",
        f"API:         {api.url}  (e.g. {api.url}/sagas?state=awaiting_intervention)",
    ]


WATCH_INTERVAL = 0.5
"""Seconds between looks at the demo's child processes."""


async def _first_death(children: Sequence[Stoppable]) -> str:
    """Returns, with why, as soon as one of ``children`` exits by itself."""
    while True:
        for server in children:
            if server.child and (why := server.child.died()):
                return why
        await asyncio.sleep(WATCH_INTERVAL)


async def _run(
    args: argparse.Namespace,
    settings: TemporalSettings,
    server: DevServer,
    services: Services,
    codec: CodecServer,
    api: ApiServer,
    started: float,
) -> int:
    """The demo, stopped with exit 1 and one line saying which, when a server it started
    dies (the worker would otherwise retry a dead dev server, warning every second)."""
    demo = asyncio.ensure_future(_samples(args, settings, server, services, codec, api, started))
    death = asyncio.ensure_future(_first_death([server, services, codec, api]))
    try:
        await asyncio.wait([demo, death], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (demo, death):
            task.cancel()
        await asyncio.gather(demo, death, return_exceptions=True)
    if death.done() and not death.cancelled():
        print(f"\nerror: {death.result()}: the demo stops.", file=sys.stderr, flush=True)
        return 1
    return demo.result()


async def _samples(
    args: argparse.Namespace,
    settings: TemporalSettings,
    server: DevServer,
    services: Services,
    codec: CodecServer,
    api: ApiServer,
    started: float,
) -> int:
    client = await connect(settings)
    where = addresses(settings, server, services, codec, api)
    print("\n".join(where) + "\n(up while the demo runs)")
    run_tag = f"{time.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2)}"
    print(
        f"This run's sample data is its own (tag {run_tag}): workflow and correlation ids"
        f" demo-<sample>-{run_tag}, and a registration email with +{run_tag}, so a run never"
        " meets an earlier run's user."
    )
    outcomes = []
    runs = demo_runs()
    async with http_client() as http:
        worker = make_worker(client, settings.task_queue, activities_for(service_client(http)))
        async with worker:
            for saga, sample in runs:
                path = saga.sample_path(sample)
                data = fresh_sample(sample.file, read_request(str(path)), run_tag)
                workflow_id = demo_id(sample.file, run_tag)
                prepared = prepare(saga, data, workflow_id=workflow_id)
                print(f"\n▶ {sample.description}: {workflow_id}")
                handle = (await start_saga(client, prepared, settings.task_queue)).handle
                status = await outcome(handle, sys.stdout)
                print(render_status(status))
                outcomes.append(status)
            print(f"\nDemo finished in {time.monotonic() - started:.1f}s.")
            print("\n".join(where))
            if args.keep_running:
                print("Running until Ctrl-C (worker, dev server and services stay up) ...")
                await until_stopped()
            else:
                print(
                    "Stopping now. To browse the UI afterwards, keep everything up with"
                    " `make demo DEMO_ARGS=--keep-running`"
                    " (python starter.py demo --keep-running)."
                )
    expected = [sample.expect for _, sample in runs]
    return 0 if [s.state.value for s in outcomes] == expected else 1
