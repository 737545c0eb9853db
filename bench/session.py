"""One benchmark command's life: its data folder, its processes, its JSON result written
whatever happens (a timeout, an error, Ctrl-C or SIGTERM), every process stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

from bench.report import machine_facts, utc_stamp, write_json
from bench.stack import DataDir, Stack, stop_on_sigterm, worker_settings
from plumbing.processes import StartupError

Body = Callable[[Stack, dict[str, Any]], Coroutine[Any, Any, int]]
"""Runs the measurements, fills the result document as it goes, returns the exit code."""

INTERRUPTED = 130


def run_session(
    args: argparse.Namespace,
    prog: str,
    result_prefix: str,
    body: Body,
    *,
    services_test_api: bool = False,
) -> int:
    """Run ``body`` against a fresh stack; ``prog`` is the command (``python -m bench``);
    ``services_test_api`` for a body that injects faults."""
    settings = worker_settings(args.worker_arg)
    data = DataDir.from_args(args)
    stop_on_sigterm()
    stamp = utc_stamp()
    document: dict[str, Any] = {
        "started_utc": stamp,
        "command": [*prog.split(), *sys.argv[1:]],
        "machine": machine_facts(),
        "worker_args": list(args.worker_arg),
        "worker_settings": asdict(settings),
        "data_dir": str(data.path),
    }
    code = 1
    try:
        with Stack(data.path, args.worker_arg, services_test_api) as stack:
            code = asyncio.run(body(stack, document))
    except KeyboardInterrupt:
        document["error"] = "interrupted"
        print("interrupted: every process we started is stopped", file=sys.stderr)
        code = INTERRUPTED
    except StartupError as err:
        document["error"] = str(err)
        print(err, file=sys.stderr)
    finally:
        document["finished_utc"] = utc_stamp()
        document["exit_code"] = code
        path = write_json(args.results_dir, f"{result_prefix}{stamp}", document)
        print(f"results: {path}")
        data.finish(code == 0)
    return code
