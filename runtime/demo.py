"""``starter.py demo``: dev server + services + worker, a good order, a declined one and a
pro-plan user registration.

Everything runs on this machine: the Temporal dev server (SQLite under the data folder, Web
UI on), the simulated services over HTTP, and an in-process worker. Ports that are taken
are replaced by free ones, and the output says which.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

from activities.client import http_client
from runtime.cli import until_stopped
from runtime.ports import free_port
from runtime.processes import PROJECT_ROOT, CodecServer, DevServer, Services
from runtime.report import render_status
from runtime.sagas import SAGAS, prepare
from runtime.temporal import (
    TemporalSettings,
    activities_for,
    connect,
    final_status,
    make_worker,
    service_client,
    start_saga,
)
from starter import read_json

EXAMPLES = PROJECT_ROOT / "examples"
DEMO_RUNS = (
    ("order", "order_sample.json", "the sample order (expect complete, 124.76)"),
    ("order", "order_declined.json", "an order with a declined card (expect error)"),
    ("register", "registration_sample.json", "a pro-plan user registration (expect complete)"),
)


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
    server.start()
    try:
        codec.start()
        services.start()
        os.environ["SAGA_SERVICES_URL"] = services.url
        settings = replace(settings, address=server.address)
        return await _run(args, settings, server, services, codec, started)
    finally:
        services.stop()
        codec.stop()
        server.stop()
        print("Stopped the dev server, the codec server and the services.")


async def _run(
    args: argparse.Namespace,
    settings: TemporalSettings,
    server: DevServer,
    services: Services,
    codec: CodecServer,
    started: float,
) -> int:
    client = await connect(settings)
    outcomes = []
    async with http_client() as http:
        worker = make_worker(client, settings.task_queue, activities_for(service_client(http)))
        async with worker:
            stamp = int(time.time())
            for saga_name, file, label in DEMO_RUNS:
                data = read_json(str(EXAMPLES / file))
                workflow_id = f"demo-{Path(file).stem}-{stamp}"
                prepared = prepare(SAGAS[saga_name], data, workflow_id=workflow_id)
                print(f"\n▶ {label}: {workflow_id}")
                handle, _ = await start_saga(client, prepared, settings.task_queue)
                status = await final_status(handle)
                print(render_status(status))
                outcomes.append(status)
            print(f"\nDemo finished in {time.monotonic() - started:.1f}s.")
            print(f"Temporal UI: {server.ui_url}/namespaces/{settings.namespace}/workflows")
            print(f"Services:    {services.url}  (e.g. {services.url}/payments/charges)")
            print(f"Codec:       {codec.url}  (the UI decrypts payloads through it)")
            if args.keep_running:
                print("Running until Ctrl-C (worker, dev server and services stay up) ...")
                await until_stopped()
    expected = ["complete", "error", "complete"]
    return 0 if [s.state.value for s in outcomes] == expected else 1
