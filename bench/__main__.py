"""``python -m bench``: what the saga machinery costs over a bare Temporal workflow of the
same shape, on one dev server, the real services and the shipped ``worker.py``.

Rounds alternate floor, order, diamond, registration: N at once (``--n``), then one at a
time (``--single`` sagas, for latency), ``--repeat`` times. See bench/README.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client

from bench.compare import CONCURRENT, SINGLE, progress, ratios, render
from bench.measure import measure
from bench.report import batch_summary
from bench.session import run_session
from bench.stack import Stack, WorkerProcess, add_arguments, wait_until_polling
from bench.workload import KINDS, SERVED_BY, Jobs, run_jobs
from plumbing.connection import TemporalSettings, connect
from plumbing.shutdown import exit_now

PROG = "python -m bench"
WORKER_COMMANDS = {"worker": ["worker.py"], "floor_worker": ["-m", "bench.floor_worker"]}


def _kinds(text: str) -> list[str]:
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"choose from {','.join(KINDS)}; got {text!r}")
    return [kind for kind in KINDS if kind in kinds]  # always in round order


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="sagas at once (default 500)")
    parser.add_argument(
        "--single", type=int, default=20, help="sagas one at a time, for p50 (default 20)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of each (default 1)")
    parser.add_argument(
        "--kinds",
        type=_kinds,
        default=list(KINDS),
        help=f"comma-separated, from {','.join(KINDS)} (default all)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per round (default 600)"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.n < 0 or args.single < 0 or args.repeat < 1 or args.n + args.single == 0:
        parser.error("--n and --single must be 0 or more (not both 0), --repeat at least 1")
    return args


async def run(args: argparse.Namespace, stack: Stack, document: dict[str, Any]) -> int:
    client = await connect(TemporalSettings(address=stack.server.address))
    workers = await _start_workers(client, stack, args.kinds)
    document["settings"] = {
        key: getattr(args, key) for key in ("n", "single", "repeat", "kinds", "timeout")
    }
    jobs = Jobs()
    if not await _warm_up(client, workers, jobs, args, document.setdefault("warmup", {})):
        return 1
    rounds: list[dict[str, Any]] = document.setdefault("rounds", [])
    modes = [(CONCURRENT, args.n), (SINGLE, args.single)]
    for repeat in range(1, args.repeat + 1):
        for mode, count in [(mode, count) for mode, count in modes if count]:
            for kind in args.kinds:
                worker = workers[SERVED_BY[kind]]
                batch = await measure(
                    client,
                    jobs.make(kind, count),
                    worker.task_queue,
                    stack.pids(worker),
                    concurrent=mode == CONCURRENT,
                    time_limit=args.timeout,
                )
                rounds.append(
                    {
                        "repeat": repeat,
                        "kind": kind,
                        "mode": mode,
                        "concurrency": count if mode == CONCURRENT else 1,
                        "served_by": " ".join(WORKER_COMMANDS[worker.name]),
                        **batch_summary(batch),
                    }
                )
                print(progress(rounds[-1]), file=sys.stderr, flush=True)
    document["ratios"] = ratios(rounds)
    print(render(rounds, document["ratios"]))
    finished = all(r["completed"] == r["sagas"] and not r["timed_out"] for r in rounds)
    return 0 if finished else 1


async def _start_workers(
    client: Client, stack: Stack, kinds: Sequence[str]
) -> dict[str, WorkerProcess]:
    """The worker processes these kinds need, each polling its own queue."""
    names = sorted({SERVED_BY[kind] for kind in kinds})
    workers = {name: stack.start_worker(name, WORKER_COMMANDS[name]) for name in names}
    for worker in workers.values():
        await wait_until_polling(client, worker)
    return workers


async def _warm_up(
    client: Client,
    workers: dict[str, WorkerProcess],
    jobs: Jobs,
    args: argparse.Namespace,
    states: dict[str, str],
) -> bool:
    """One unmeasured run of each kind: first-use costs (imports, connections) stay out of
    the rounds. False, and nothing measured, when one does not complete."""
    for kind in args.kinds:
        queue = workers[SERVED_BY[kind]].task_queue
        (outcome,) = await run_jobs(
            client, jobs.make(kind, 1), queue, concurrent=False, time_limit=args.timeout
        )
        states[kind] = outcome.state
        if not outcome.completed:
            print(f"warm-up {kind} ended {outcome.state}; stopping", file=sys.stderr)
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_session(args, PROG, "", lambda stack, document: run(args, stack, document))


if __name__ == "__main__":
    exit_now(main())
