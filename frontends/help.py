"""What ``starter.py --help`` says: each command's description, examples and exit codes, and
the shape of the result ``intervene ID resolve --result`` takes, generated from the models.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from frontends.report import model_shape
from sagas.operations import manual_results

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_INVALID: Final = 2
EXIT_UNREACHABLE: Final = 3
WIDTH: Final = 88
EXIT_INTERRUPTED: Final = 130
"""128 + SIGINT, as shells report a command stopped by Ctrl-C."""
EXIT_CLOSED: Final = 141
"""128 + SIGPIPE, as shells report a command whose reader went away (``| head``)."""
UNREACHABLE: Final = {EXIT_UNREACHABLE: "Temporal cannot be reached at --address"}
INTERRUPTED: Final = {
    EXIT_INTERRUPTED: "Ctrl-C while following a saga: it keeps running (the line printed"
    " says how to follow it again)"
}
ANYWHERE: Final = (
    "--address, --namespace, --task-queue, --env, --saga-module and --local-time go before or"
    " after the command."
)


class Parser(argparse.ArgumentParser):
    """argparse's parser, keeping epilogs as written, with an epilog that may be computed
    only when help is shown: the intervene help reads both configs for the result shapes,
    which no other command should have to load."""

    def __init__(
        self, *args: Any, epilog_from: Callable[[], str] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.epilog_from = epilog_from

    def format_help(self) -> str:
        if self.epilog_from is not None:
            self.epilog = "\n\n".join(filter(None, [self.epilog, self.epilog_from()]))
            self.epilog_from = None
        return super().format_help()


def epilog(examples: Sequence[str], codes: Mapping[int, str]) -> str:
    """A command's examples and exit codes, as its help ends."""
    return "\n".join(
        [
            "examples:",
            *(f"  python starter.py {example}" for example in examples),
            "",
            "exit codes:",
            *(
                textwrap.fill(
                    meaning, WIDTH, initial_indent=f"  {code}  ", subsequent_indent=" " * 5
                )
                for code, meaning in sorted(codes.items())
            ),
            "",
            ANYWHERE,
        ]
    )


def start_epilog(command: str, sample: str) -> str:
    return epilog(
        [
            f"{command} {sample}",
            f"{command} {sample} --wait --json",
            f"{command} {sample} --idempotency-key checkout-7f3a",
            f"--address temporal.internal:7233 {command} request.json --id {command}-42",
        ],
        {
            EXIT_OK: "started, or already submitted (attached to that saga, its state printed),"
            " without --wait; with --wait, the saga completed",
            EXIT_FAILED: "with --wait: the saga (a duplicate's included) ended error,"
            " compensated or cancelled",
            EXIT_INVALID: "invalid input or config (every problem listed), or an idempotency key"
            " used before with a different request: nothing started",
            **UNREACHABLE,
            **INTERRUPTED,
        },
    )


MAIN: Final = f"""\
Start sagas, find them, see why one is stuck, answer it, cancel it; run the demo or the
HTTP API. 'python starter.py COMMAND --help' shows a command's examples and exit codes.

exit codes:
  {EXIT_OK}  done: started, listed, printed or answered; with --wait, the saga completed
  {EXIT_FAILED}  with --wait: the saga ended error, compensated or cancelled
  {EXIT_INVALID}  refused: bad input, config or option, no such saga, or a saga not in a state
     the command applies to (nothing was started or changed)
  {EXIT_UNREACHABLE}  Temporal cannot be reached at --address (start one with
     'temporal server start-dev' or 'make demo DEMO_ARGS=--keep-running')
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a saga being followed keeps running
  {EXIT_CLOSED}  the output was closed (| head): quietly, a saga being followed keeps running

{ANYWHERE}"""

LIST: Final = epilog(
    [
        "list",
        "list --state awaiting_intervention",
        "list --saga order --state error --limit 10 --json",
    ],
    {EXIT_OK: "listed (also when none match)", EXIT_INVALID: "a bad option", **UNREACHABLE},
)
STATUS: Final = epilog(
    ["status order-1f0c…", "status order-1f0c… --json", "status order-1f0c… --watch"],
    {
        EXIT_OK: "printed; with --watch, the saga completed",
        EXIT_FAILED: "with --watch: the saga ended error, compensated or cancelled",
        EXIT_INVALID: "no saga with this id",
        **UNREACHABLE,
        **INTERRUPTED,
    },
)
INTERVENE: Final = epilog(
    [
        "intervene order-1f0c… retry",
        'intervene order-1f0c… resolve --result "$(cat reservation.json)" --reason \'reserved'
        " by hand'",
        "intervene order-1f0c… compensate --reason 'out of stock until May'",
    ],
    {
        EXIT_OK: "the answer was taken (the status is printed)",
        EXIT_INVALID: "refused: no such saga, not awaiting intervention, an action not offered,"
        " or a --result missing where later steps need one, or not of the step's shape",
        **UNREACHABLE,
    },
)
CANCEL: Final = epilog(
    ["cancel order-1f0c…", "cancel order-1f0c… --wait --json"],
    {
        EXIT_OK: "cancellation requested (without --wait); with --wait, the saga completed"
        " before the cancellation reached it",
        EXIT_FAILED: "with --wait: the saga ended cancelled (or compensated, or error)",
        EXIT_INVALID: "no saga with this id, or it has already ended",
        **UNREACHABLE,
        **INTERRUPTED,
    },
)
TERMINATE: Final = epilog(
    ["terminate order-1f0c… --reason 'worker bug, fixed by hand' --yes"],
    {
        EXIT_OK: "terminated: no compensation ran",
        EXIT_INVALID: "without --yes (nothing done); no saga with this id, or it has ended",
        **UNREACHABLE,
    },
)
COMPLETION: Final = epilog(
    [
        "completion bash > ~/.local/share/bash-completion/completions/saga",
        'eval "$(saga completion zsh)"',
    ],
    {EXIT_OK: "printed"},
)
RERUN: Final = epilog(
    ["rerun order-1f0c…", "rerun order-1f0c… --file fixed.json --wait", "rerun order-1f0c…-run-2"],
    {
        EXIT_OK: "the rerun started (without --wait); with --wait, it completed",
        EXIT_FAILED: "with --wait: the rerun ended error, compensated or cancelled",
        EXIT_INVALID: "no saga with this id; it is running, complete, or already rerun (rerun"
        " the latest run); or the corrected request is invalid",
        **UNREACHABLE,
        **INTERRUPTED,
    },
)
API: Final = epilog(
    [
        "api",
        "--address 127.0.0.1:7233 api --port 8800",
        'api --host 0.0.0.0 --token "$SAGA_API_TOKEN"',
    ],
    {
        EXIT_OK: "stopped with Ctrl-C (it starts while Temporal is down: /health/ready says"
        " 503 until it answers)",
        EXIT_INVALID: "a bad option or keyring",
    },
)
DEMO: Final = epilog(
    ["demo", "demo --keep-running", "demo --api-port 0 --temporal-port 0"],
    {
        EXIT_OK: "every demo saga ended as expected",
        EXIT_FAILED: "one did not, or a process did not start",
        EXIT_INVALID: "a bad keyring",
    },
)
CONFIG_VALIDATE: Final = epilog(
    ["config validate config/*.yaml", "config validate --env production my_saga.yaml"],
    {EXIT_OK: "every file loads", EXIT_INVALID: "a problem (each one listed)"},
)
CONFIG_ALERTS: Final = epilog(
    ["config alerts > deploy/prometheus/alerts.yml", "config alerts order"],
    {EXIT_OK: "printed", EXIT_INVALID: "no such config, or its monitoring section is invalid"},
)
CONFIG_DASHBOARD: Final = epilog(
    ["config dashboard > deploy/grafana/sagas.json", "config dashboard order"],
    {EXIT_OK: "printed", EXIT_INVALID: "no such config, or its monitoring section is invalid"},
)
CONFIG_SHOW: Final = epilog(
    ["config show order", "config show order --env production --input request.json"],
    {EXIT_OK: "printed", EXIT_INVALID: "no such config, or it or the input is invalid"},
)
CODEC_SERVER: Final = epilog(
    ["codec-server --port 8888 --ui-origin http://localhost:8233"],
    {EXIT_OK: "stopped with Ctrl-C", EXIT_INVALID: "a bad option or keyring"},
)
CODEC_KEY: Final = epilog(["codec-key >> keys.txt"], {EXIT_OK: "printed"})


def resolve_results() -> str:
    """What ``resolve --result`` must hold for each step that can await an operator."""
    lines = [
        "resolve --result is the step's result, as the steps after it read it",
        "(generated from the models; '?' marks an optional key):",
    ]
    for manual in manual_results():
        name = manual.model.__name__
        lines.append(f"  {manual.saga.kind} saga, step {manual.step} → {name}, {manual.need}")
        lines += [f"    {line}" for line in model_shape(manual.model).splitlines()]
    return "\n".join(lines)
