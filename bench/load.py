"""``python -m bench.load``: 500 orders and 200 registrations started at once against one
``worker.py`` with default settings (see bench/README.md).

Passes (exit 0) only if every saga finished, every one ended ``complete`` (every input is
valid) and no workflow task timed out or failed in any saga's history.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from bench.measure import CLIENT, measure
from bench.report import batch_summary, outcome_summary, table
from bench.session import run_session
from bench.stack import (
    SERVER,
    SERVICES,
    WORKER,
    Stack,
    add_arguments,
    add_mix_arguments,
    check_mix,
    wait_until_polling,
)
from bench.workload import UNFINISHED, Jobs, interleave
from plumbing.connection import TemporalSettings, connect
from plumbing.shutdown import exit_now

PROG = "python -m bench.load"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_mix_arguments(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_mix(parser, args)
    return args


async def run(args: argparse.Namespace, stack: Stack, document: dict[str, Any]) -> int:
    client = await connect(TemporalSettings(address=stack.server.address))
    worker = stack.start_worker("worker", ["worker.py"])
    await wait_until_polling(client, worker)
    document["settings"] = {
        key: getattr(args, key) for key in ("orders", "registrations", "timeout")
    }
    jobs = Jobs()
    orders, registrations = (
        jobs.make("order", args.orders),
        jobs.make("registration", args.registrations),
    )
    batch = await measure(
        client,
        interleave(orders, registrations),
        worker.task_queue,
        stack.pids(worker),
        concurrent=True,
        time_limit=args.timeout,
    )
    history = batch.history
    checks = {
        "every saga finished": all(o.state != UNFINISHED for o in batch.outcomes),
        "every saga complete": all(o.completed for o in batch.outcomes),
        "no workflow task timed out": history.task_timeouts == 0,
        "no workflow task failed": history.task_failures == 0,
    }
    result = document["load"] = {
        **batch_summary(batch),
        "by_kind": {
            kind: outcome_summary([o for o in batch.outcomes if o.job.kind == kind], batch.wall)
            for kind in ("order", "registration")
        },
        "checks": checks,
        "passed": all(checks.values()),
    }
    print(render(result))
    return 0 if result["passed"] else 1


def render(result: dict[str, Any]) -> str:
    rows = [
        [kind, s["sagas"], s["completed"], s["not_completed"], s["p50_ms"], s["p95_ms"]]
        for kind, s in [*result["by_kind"].items(), ("all", result)]
    ]
    cpu, history = result["cpu_s"], result["history"]
    lines = [
        table(["kind", "sagas", "complete", "not complete", "p50 ms", "p95 ms"], rows),
        "",
        f"states: {result['states']}",
        f"wall time: {result['wall_s']} s (first start to last result)"
        + ("  TIMED OUT" if result["timed_out"] else ""),
        f"throughput: {result['sagas_per_s']} sagas/s",
        f"worker RSS: {result['worker_rss_mib']} MiB now, {result['worker_peak_rss_mib']} MiB peak",
        f"CPU s: server {cpu[SERVER]}, worker {cpu[WORKER]}, services {cpu[SERVICES]}, "
        f"client {cpu[CLIENT]}",
        f"workflow task timeouts: {history['task_timeouts']} {history['task_timeouts_by_type']}, "
        "failures: "
        f"{history['task_failures']} (in {history['workflows_with_task_problems']} sagas; "
        f"{history['fetched']} histories scanned)",
        "",
        *[f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in result["checks"].items()],
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_session(args, PROG, "load-", lambda stack, document: run(args, stack, document))


if __name__ == "__main__":
    exit_now(main())
