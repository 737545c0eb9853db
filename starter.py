"""Start sagas, find them, read their status, answer or cancel them; run the demo or the API.

    python starter.py order FILE.json [--id ID | --idempotency-key KEY] [--wait] [--json]
    python starter.py register FILE.json [--id ID | --idempotency-key KEY] [--wait] [--json]
      (one start command per saga of the catalogue; --saga-module MODULE adds a package's)
    python starter.py list [--state S] [--saga order|registration] [--limit N] [--json]
    python starter.py status ID [--json] [--watch]
    python starter.py intervene ID retry|resolve|compensate|fail [--result JSON]
    python starter.py cancel ID [--wait] [--json]
    python starter.py rerun ID [--file FIXED.json] [--wait] [--json]
    python starter.py terminate ID --yes [--reason R] [--json]
    python starter.py completion bash|zsh
    python starter.py api [--host H] [--port N] [--token T]
    python starter.py config validate FILE... | config show NAME [--env ENV] [--input FILE]
    python starter.py demo [--keep-running] [--data-dir DIR] [--temporal-port N] ...
    python starter.py codec-server [--port N] [--ui-origin URL] [--token T]
    python starter.py codec-key

Exit codes (``frontends/help.py``, shown by ``--help``): 0 done (with --wait: completed);
1 the saga ended error, compensated or cancelled; 2 refused: bad input, config or option,
no such saga, or not in a state the command applies to; 3 Temporal cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import ipaddress
import json
import os
import sys
import textwrap
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from temporalio.client import WorkflowHandle

from adapter.alerts import alert_rules, monitoring_problems, monitoring_warnings
from adapter.dashboard import dashboard
from adapter.errors import ConfigError, ConfigErrors, problems_of
from adapter.loader import load_template
from adapter.models import TaskTemplate
from adapter.policy import build_plan
from adapter.report import render_plan
from frontends import help as cli_help
from frontends.api import DEFAULT_PORT as API_PORT
from frontends.api import TOKEN_VAR as API_TOKEN_VAR
from frontends.api import SagaApi
from frontends.codec_server import DEFAULT_UI_ORIGINS, codec_app
from frontends.completion import bash_script, zsh_script
from frontends.help import (
    EXIT_CLOSED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREACHABLE,
    Parser,
    resolve_results,
)
from frontends.report import render_sagas, render_status
from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus
from models.times import use_local_time
from plumbing.codec import CodecError, new_key_line
from plumbing.connection import (
    ConnectionSettingsError,
    TemporalSettings,
    TemporalUnreachable,
    connect,
)
from plumbing.converter import data_converter
from plumbing.keys import token_in
from plumbing.logs import configure_logging
from plumbing.serving import serve
from plumbing.shutdown import exit_now
from plumbing.version import project_version
from sagas.catalogue import add_module_option, catalogue, use_module_options
from sagas.descriptor import SagaDescriptor, SagaModuleError
from sagas.identity import IdentityError, IdentitySource, dedup_window, describe_window
from sagas.inputs import InputError, listed, parse_request, read_request
from sagas.lifecycle import Submission, start_saga
from sagas.operations import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OperationError,
    SagaQuery,
    cancel,
    intervene,
    list_sagas,
    rerun,
    saga_status,
    terminate,
)
from sagas.prepare import (
    InvalidInput,
    Prepared,
    code_problems,
    field_errors,
    prepare,
    saga_running,
)
from sagas.progress import outcome

OPERATOR_VAR = "SAGA_OPERATOR"
API_TOKEN_FILE_VAR = "SAGA_API_TOKEN_FILE"


class UserError(Exception):
    """A mistake the user can fix; printed as one line, never a stack trace."""


class LeftRunning(Exception):
    """Ctrl-C while following a saga: the saga keeps running; the message says how to
    follow it again."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(
            f"interrupted: {workflow_id} keeps running; follow it with:"
            f" python starter.py status {workflow_id} --watch"
        )


async def follow(handle: WorkflowHandle[Any, Any], as_json: bool) -> SagaStatus:
    """The saga's final status, its progress printed meanwhile (not with ``--json``)."""
    try:
        return await outcome(handle, None if as_json else sys.stdout)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels the command's task
        raise LeftRunning(handle.id) from None


def read_json(path: str) -> Any:
    """A request file within the input limits (sagas/inputs.py); InputError says why not."""
    return read_request(path)


def print_status(status: SagaStatus, as_json: bool) -> None:
    print(status.model_dump_json(indent=2) if as_json else render_status(status))


def exit_code(status: SagaStatus) -> int:
    return EXIT_OK if status.state is SagaState.COMPLETE else EXIT_FAILED


async def cmd_start(args: argparse.Namespace, settings: TemporalSettings) -> int:
    saga = catalogue()[args.command]
    data = read_json(args.file)
    key = (args.idempotency_key, "--idempotency-key") if args.idempotency_key is not None else None
    try:
        prepared = prepare(
            saga, data, workflow_id=args.id, environment=args.env, idempotency_key=key
        )
        submission = await start_saga(await connect(settings), prepared, settings.task_queue)
    except InvalidInput as invalid:
        print(f"{args.file}: invalid input, nothing started:", file=sys.stderr)
        for line in listed(invalid.errors):
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    return await _follow_submission(args, submission, _submitted_line(prepared, submission))


def _submitted_line(prepared: Prepared, submission: Submission) -> str:
    """``started ID``, or which saga a duplicate is, why, and its state."""
    if submission.started:
        return f"started {submission.workflow_id}"
    why = {
        IdentitySource.ID: "the same --id",
        IdentitySource.RULE: f"the {prepared.saga.kind} saga's identity rule",
        IdentitySource.KEY: f"the same idempotency key ({prepared.identity.key_name})",
        IdentitySource.REQUEST: "the same request within the"
        f" {describe_window(dedup_window())} dedup window",
    }[prepared.identity.source]
    return f"already submitted ({why}), attached to {submission.workflow_id}: {submission.state}"


async def _follow_submission(args: argparse.Namespace, submission: Submission, line: str) -> int:
    """Print what a submission became; with --wait, follow it to its end (exit 1 unless it
    completes, a duplicate's earlier end included)."""
    if not args.json:
        print(line)
    if not args.wait:
        if args.json:
            print(json.dumps(submission_document(submission)))
        return EXIT_OK
    status = await follow(submission.handle, args.json)
    print_status(status, args.json)
    return exit_code(status)


def submission_document(submission: Submission) -> dict[str, Any]:
    """``--json`` without ``--wait``: the id, whether it started now, its state."""
    return {
        "workflow_id": submission.workflow_id,
        "started": submission.started,
        "state": submission.state,
    }


async def cmd_terminate(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """End a saga at once, without compensation, once the operator confirms with --yes."""
    warning = (
        f"terminate ends {args.id} at once: no compensation runs, so whatever it did stays"
        " done (a charge stays charged, stock stays reserved); 'cancel' compensates."
    )
    if not args.yes:
        raise UserError(f"{warning} Add --yes to terminate it anyway.")
    await terminate(await connect(settings), args.id, args.reason)
    if args.json:
        print(json.dumps({"workflow_id": args.id, "terminated": True, "compensated": False}))
    else:
        print(f"terminated {args.id}; no compensation ran")
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the shell's completion script, generated from this parser."""
    parser = build_parser(TemporalSettings.from_env())
    print(zsh_script(parser) if args.shell == "zsh" else bash_script(parser), end="")
    return EXIT_OK


async def cmd_rerun(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """Run a saga that ended short again, as a new saga linked to it."""
    data = read_json(args.file) if args.file else None
    try:
        submission = await rerun(
            await connect(settings), args.id, settings.task_queue, data, environment=args.env
        )
    except InvalidInput as invalid:
        print(f"{args.file}: invalid input, nothing started:", file=sys.stderr)
        for line in listed(invalid.errors):
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    return await _follow_submission(
        args, submission, f"rerun of {args.id} started: {submission.workflow_id}"
    )


async def cmd_list(args: argparse.Namespace, settings: TemporalSettings) -> int:
    fields = ("state", "saga", "customer", "since", "until", "limit", "next")
    given = {name: getattr(args, name) for name in fields if getattr(args, name) is not None}
    try:
        query = SagaQuery.model_validate(given)
    except ValidationError as invalid:
        raise UserError(
            "; ".join(f"--{error.path.removeprefix('$.')}: {error.message}"
                      for error in field_errors(invalid, "$"))
        ) from None  # fmt: skip
    listed_sagas = await list_sagas(await connect(settings), query)
    if args.json:
        print(listed_sagas.model_dump_json(indent=2))
        return EXIT_OK
    print(render_sagas(listed_sagas.sagas))
    if listed_sagas.next:
        print(f"more: add --next {listed_sagas.next}")
    return EXIT_OK


async def cmd_status(args: argparse.Namespace, settings: TemporalSettings) -> int:
    client = await connect(settings)
    handle = client.get_workflow_handle(args.id)
    status = await saga_status(client, args.id)
    if args.watch:
        status = await follow(handle, args.json)
        print_status(status, args.json)
        return exit_code(status)
    print_status(status, args.json)
    return EXIT_OK


async def cmd_intervene(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """Answer a saga in awaiting_intervention; the workflow's validator refuses bad answers."""
    # argv holds the bytes as given (undecodable ones escaped): read them like a file's.
    result = parse_request(os.fsencode(args.result), "--result") if args.result else None
    if result is not None and not isinstance(result, dict):
        raise UserError("--result must be a JSON object")
    request = InterventionRequest(
        action=InterventionAction(args.action),
        result=result,
        reason=args.reason,
        operator=args.operator,
    )
    status = await intervene(await connect(settings), args.id, request)
    print_status(status, args.json)
    return EXIT_OK


async def cmd_cancel(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """Cancel a saga; one past payment compensates (refund, release) before it ends."""
    handle = await cancel(await connect(settings), args.id)
    if not args.json:
        print(f"cancellation requested for {args.id}")
    if not args.wait:
        if args.json:
            print(json.dumps({"workflow_id": args.id, "cancel_requested": True}))
        return EXIT_OK
    status = await follow(handle, args.json)
    print_status(status, args.json)
    return exit_code(status)


def _guarded_bind(args: argparse.Namespace, what: str, token_var: str) -> None:
    """Refuse to serve decrypted customer data beyond loopback without a token, unless
    ``--insecure`` says so (then warn once)."""
    if _loopback(args.host) or args.token:
        return
    if not args.insecure:
        raise UserError(
            f"--host {args.host} serves {what} beyond this machine without a token: set"
            f" --token (or {token_var}), or pass --insecure to do it anyway"
        )
    print(
        f"warning: --insecure: {what} on {args.host}:{args.port} without a token; anyone who"
        " reaches it reads decrypted customer data",
        file=sys.stderr,
        flush=True,
    )


def _file_token(path: str, name: str) -> str:
    try:
        return token_in(Path(path))
    except (OSError, ValueError) as err:
        raise UserError(f"{name}: {err}") from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only localhost is known to stay on this machine
        return False


def cmd_codec_server(args: argparse.Namespace) -> int:
    """Serve the codec for the Web UI until Ctrl-C."""
    _guarded_bind(args, "the codec server (decrypted payloads)", "SAGA_CODEC_TOKEN")
    codec = data_converter().payload_codec
    assert codec is not None
    origins = args.ui_origin or DEFAULT_UI_ORIGINS
    app = codec_app(codec, ui_origins=origins, token=args.token)
    print(f"codec server on http://{args.host}:{args.port} for {', '.join(origins)}", flush=True)
    asyncio.run(serve(app, args.host, args.port))
    return EXIT_OK


def cmd_api(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """Serve the HTTP API until Ctrl-C; it connects to Temporal on first use."""
    if args.token is None and args.token_file:
        args.token = _file_token(args.token_file, "--token-file")
    _guarded_bind(args, "the API (decrypted customer data)", API_TOKEN_VAR)
    app = SagaApi(settings, environment=args.env, token=args.token).app()
    print(
        f"saga API on http://{args.host}:{args.port} (OpenAPI at /openapi.json), Temporal at"
        f" {settings.address}",
        flush=True,
    )
    asyncio.run(serve(app, args.host, args.port))
    return EXIT_OK


def _global_options(address: str, namespace: str, task_queue: str, env: str | None) -> Parser:
    """The options every command takes. The top level holds their defaults; each command
    takes them again with argparse.SUPPRESS, so they go before or after the command."""
    options = Parser(add_help=False)
    options.add_argument(
        "--address", default=address, help="Temporal frontend host:port [TEMPORAL_ADDRESS]"
    )
    options.add_argument("--namespace", default=namespace, help="[TEMPORAL_NAMESPACE]")
    options.add_argument("--task-queue", default=task_queue, help="[TEMPORAL_TASK_QUEUE]")
    options.add_argument("--env", default=env, help="config environment overlay [SAGA_ENV]")
    options.add_argument(
        "--local-time", action="store_true", default=argparse.SUPPRESS,
        help="print times in local time with their offset (default: UTC, written Z)",
    )  # fmt: skip
    add_module_option(options, [] if env is None else argparse.SUPPRESS)
    return options


def default_operator() -> str:
    """``SAGA_OPERATOR``, else the login name."""
    with contextlib.suppress(OSError, KeyError):  # no login name (a container's odd user)
        return os.environ.get(OPERATOR_VAR) or getpass.getuser()
    return "operator"


def _operator(text: str) -> str:
    name = text.strip()
    if not name or len(name) > 200 or not name.isprintable():
        raise argparse.ArgumentTypeError("expected a name of 1 to 200 printable characters")
    return name


def _limit(text: str) -> int:
    number = int(text) if text.isdigit() else 0
    if not 1 <= number <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_LIMIT}")
    return number


def build_parser(defaults: TemporalSettings) -> argparse.ArgumentParser:
    parser = Parser(
        description=cli_help.MAIN,
        parents=[_global_options(defaults.address, defaults.namespace, defaults.task_queue, None)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {project_version()}")
    anywhere = _global_options(*[argparse.SUPPRESS] * 4)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        group: argparse._SubParsersAction[Parser],
        name: str,
        summary: str,
        epilog: str,
        description: str,
        **extra: Any,
    ) -> Parser:
        return group.add_parser(
            name, help=summary, description=textwrap.fill(description, cli_help.WIDTH),
            epilog=epilog, parents=[anywhere], **extra,
        )  # fmt: skip

    for saga in catalogue():
        a_saga = f"a{'n' if saga.kind[0] in 'aeiou' else ''} {saga.kind} saga"
        start = command(
            commands, saga.command, f"start {a_saga} from a JSON request file",
            cli_help.start_epilog(saga.command, _sample_file(saga)),
            f"Start {a_saga}. The request is checked against the config's"
            " schema and the input limits first. Its identity makes a submission sent twice"
            " one saga (the second attaches to the first and reports its state): the"
            " idempotency key (--idempotency-key, else the request's correlation_id), the"
            " saga's own rule, or else the request itself within the dedup window"
            " (SAGA_DEDUP_WINDOW, default 24h).",
        )  # fmt: skip
        start.add_argument("file", help="the request, a JSON file")
        start.add_argument("--id", help="workflow id (default: derived from the identity)")
        start.add_argument(
            "--idempotency-key", metavar="KEY",
            help="one saga per KEY, ever; KEY again with a different request is refused",
        )  # fmt: skip
        start.add_argument("--wait", action="store_true", help="wait for the outcome")
        start.add_argument("--json", action="store_true", help="print the status document")
    listing = command(
        commands, "list", "list sagas, newest first: state, current step, correlation id",
        cli_help.LIST,
        "List sagas from Temporal's visibility store, newest first, with their state,"
        " current step (asked of each running saga listed), correlation id and start time.",
    )  # fmt: skip
    listing.add_argument("--state", choices=[state.value for state in SagaState])
    listing.add_argument("--saga", choices=catalogue().kinds)
    listing.add_argument(
        "--limit", type=_limit, default=DEFAULT_LIMIT, metavar="N",
        help=f"at most N sagas, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})",
    )  # fmt: skip
    listing.add_argument("--customer", help="the customer's id (an order's customer_info.id,"
                         " a registration's email)")  # fmt: skip
    listing.add_argument(
        "--since", metavar="TIME", help="started at or after TIME: ISO 8601 (UTC unless it"
        " says), or a duration back from now (2h, 30m, 7d)",
    )  # fmt: skip
    listing.add_argument("--until", metavar="TIME", help="started at or before TIME")
    listing.add_argument("--next", metavar="TOKEN", help="the page after the one that gave TOKEN")
    listing.add_argument(
        "--json", action="store_true",
        help='print {"sagas": [...], "next"}, as GET /sagas answers',
    )  # fmt: skip
    status = command(
        commands, "status", "print a saga's status: each step, its attempts and errors",
        cli_help.STATUS,
        "Print a saga's status document: its state, each step's state, attempts and error"
        " (an error a step had before it completed is marked earlier), compensations, and"
        " what an operator may answer when it awaits intervention.",
    )  # fmt: skip
    status.add_argument("id", help="the workflow id (see 'list')")
    status.add_argument("--json", action="store_true", help="the status document as JSON")
    status.add_argument(
        "--watch", action="store_true", help="follow its progress until it ends (like --wait)"
    )
    intervene = command(
        commands, "intervene", "answer a saga awaiting intervention", cli_help.INTERVENE,
        "Answer a saga in awaiting_intervention. retry: run the step again with a fresh"
        " retry budget; resolve: mark it resolved_manually with --result and go on;"
        " compensate: undo what was done and end compensated; fail: end error (offered"
        " when there is nothing to undo). The saga refuses answers that do not fit.",
        epilog_from=resolve_results,
    )  # fmt: skip
    intervene.add_argument("id", help="the workflow id (see 'list --state awaiting_intervention')")
    intervene.add_argument("action", choices=[a.value for a in InterventionAction])
    intervene.add_argument(
        "--result", help="resolve: the step's result, a JSON object of the shape shown below"
    )
    intervene.add_argument("--reason", default="", help="recorded with the decision")
    intervene.add_argument(
        "--operator", default=default_operator(), type=_operator,
        help="who answers, recorded with the decision [SAGA_OPERATOR; default: your login name]",
    )  # fmt: skip
    intervene.add_argument("--json", action="store_true", help="print the status document")
    cancel = command(
        commands, "cancel", "cancel a saga (compensates after payment)", cli_help.CANCEL,
        "Cancel a running saga. One past payment compensates (releases stock, refunds)"
        " before it ends cancelled.",
    )  # fmt: skip
    cancel.add_argument("id", help="the workflow id")
    cancel.add_argument("--wait", action="store_true", help="wait for it to end")
    cancel.add_argument(
        "--json", action="store_true",
        help='print {"workflow_id", "cancel_requested"}; with --wait, the status document',
    )  # fmt: skip
    terminate_command = command(
        commands, "terminate", "end a saga at once, WITHOUT compensation (asks for --yes)",
        cli_help.TERMINATE,
        "End a running saga at once. No compensation runs: a charge stays charged, stock"
        " stays reserved. Use cancel to compensate; terminate is for a saga that cannot end"
        " any other way. Refused without --yes.",
    )  # fmt: skip
    terminate_command.add_argument("id", help="the workflow id")
    terminate_command.add_argument("--reason", default="", help="recorded in its history")
    terminate_command.add_argument("--yes", action="store_true", help="yes, without compensation")
    terminate_command.add_argument("--json", action="store_true", help="print the outcome as JSON")
    rerun_command = command(
        commands, "rerun", "run a saga that ended short again (error, compensated, cancelled)",
        cli_help.RERUN,
        "Run a saga that ended error, compensated, cancelled or terminated again, as a new"
        " saga ID-run-2 (then -run-3) linked to it, with new idempotency keys for every"
        " effect. It runs the original request and plan, or with --file a corrected"
        " request, checked like a new one. A complete saga is not rerun.",
    )  # fmt: skip
    rerun_command.add_argument("id", help="the workflow id (the latest run of the saga)")
    rerun_command.add_argument("--file", help="a corrected request, a JSON file")
    rerun_command.add_argument("--wait", action="store_true", help="wait for the outcome")
    rerun_command.add_argument("--json", action="store_true", help="print the status document")
    api = command(
        commands, "api", "serve the sagas over HTTP (REST; OpenAPI at /openapi.json)",
        cli_help.API,
        "Serve the HTTP API: POST /orders and /registrations, GET /sagas and /sagas/{id},"
        " POST /sagas/{id}/retry|resolve|compensate|fail|cancel, GET /health/live and"
        " /health/ready, GET /openapi.json. It talks only to Temporal.",
    )  # fmt: skip
    api.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=API_PORT, help=f"default {API_PORT}")
    api.add_argument(
        "--insecure", action="store_true",
        help="serve beyond loopback without a token (refused otherwise; warns)",
    )  # fmt: skip
    api.add_argument(
        "--token", default=os.environ.get(API_TOKEN_VAR) or None,
        help="require 'Authorization: Bearer TOKEN' (not on /health/*, /openapi.json);"
        f" NAME=TOKEN answers as NAME [{API_TOKEN_VAR}]",
    )  # fmt: skip
    api.add_argument(
        "--token-file", default=os.environ.get(API_TOKEN_FILE_VAR) or None, metavar="PATH",
        help="the token in this file, created with a random one when missing (when no"
        f" --token) [{API_TOKEN_FILE_VAR}]",
    )  # fmt: skip
    config = command(
        commands, "config", "check and explain configs", "",
        "Check Tasker-format configs, or show the plan one resolves to.",
    )  # fmt: skip
    config_commands = config.add_subparsers(dest="config_command", required=True)
    validate = command(
        config_commands, "validate", "load configs, list every problem",
        cli_help.CONFIG_VALIDATE, "Load each file; print every problem and warning.",
    )  # fmt: skip
    validate.add_argument("files", nargs="+")
    show = command(
        config_commands, "show", "a config's resolved plan as a table", cli_help.CONFIG_SHOW,
        "Print each step's dependencies, attempts, timeout, backoff, strategies and saga"
        " policy, as a request would run with them.",
    )  # fmt: skip
    show.add_argument("name", help="a saga (order, register, ...), a config name, or a YAML file")
    show.add_argument("--input", help="a request JSON file, to apply its context overrides")
    alerts = command(
        config_commands, "alerts", "Prometheus alerting rules from the configs' monitoring",
        cli_help.CONFIG_ALERTS,
        "Print Prometheus alerting rules: each saga's success rate, error rate and p95 step"
        " durations against its config's monitoring section, an operator awaited too long,"
        " and the workers' own health (schedule-to-start, slots, task failures). Without"
        " NAME, every saga of the catalogue (deploy/prometheus/alerts.yml is this output).",
    )  # fmt: skip
    alerts.add_argument(
        "name", nargs="?", help="a saga (order, register, ...), a config name, or a YAML file"
    )
    board = command(
        config_commands, "dashboard", "a Grafana dashboard for the sagas",
        cli_help.CONFIG_DASHBOARD,
        "Print the Grafana dashboard (JSON): sagas by state, step attempts by outcome, step"
        " p95 against the config's thresholds, sagas awaiting an operator, compensations and"
        " the SDK's worker panels. Without NAME, every saga of the catalogue"
        " (deploy/grafana/sagas.json is this output).",
    )  # fmt: skip
    board.add_argument(
        "name", nargs="?", help="a saga (order, register, ...), a config name, or a YAML file"
    )
    demo = command(
        commands, "demo", "run every saga's samples on an embedded dev server", cli_help.DEMO,
        "Start a Temporal dev server, the services, the codec server, the API and a worker;"
        " run every saga's samples (a good order, a declined one, a registration, and"
        " those of each --saga-module); print each status."
        " A taken port is replaced by a free one (0: any free port).",
    )  # fmt: skip
    demo.add_argument("--keep-running", action="store_true")
    demo.add_argument("--verbose", action="store_true", help="log every step and HTTP call")
    demo.add_argument("--data-dir", default="data")
    demo.add_argument("--temporal-port", type=int, default=7233)
    demo.add_argument("--ui-port", type=int, default=8233)
    demo.add_argument("--services-port", type=int, default=8700)
    demo.add_argument("--codec-port", type=int, default=8888)
    demo.add_argument("--api-port", type=int, default=API_PORT)
    codec = command(
        commands, "codec-server",
        "decode payloads for the Temporal Web UI (Temporal's codec protocol)",
        cli_help.CODEC_SERVER,
        "Serve POST /decode and /encode for the Web UI, with CORS for its origins only.",
    )  # fmt: skip
    codec.add_argument("--host", default="127.0.0.1")
    codec.add_argument("--port", type=int, default=8888)
    codec.add_argument(
        "--insecure", action="store_true",
        help="serve beyond loopback without a token (refused otherwise; warns): the stock"
        " Web UI sends the codec server no token",
    )  # fmt: skip
    codec.add_argument(
        "--ui-origin", action="append", help="the Web UI's origin, allowed by CORS (repeatable;"
        f" default {' and '.join(DEFAULT_UI_ORIGINS)})",
    )  # fmt: skip
    codec.add_argument(
        "--token", default=os.environ.get("SAGA_CODEC_TOKEN") or None,
        help="require 'Authorization: Bearer TOKEN' [SAGA_CODEC_TOKEN]",
    )  # fmt: skip
    command(
        commands, "codec-key", "print a new encryption key line (id=base64key)",
        cli_help.CODEC_KEY, "Print a new key line for SAGA_CODEC_KEYS or SAGA_CODEC_KEY_FILE.",
    )  # fmt: skip
    completion = command(
        commands, "completion", "print a shell completion script (bash or zsh)",
        cli_help.COMPLETION,
        "Print the completion script for saga and starter.py: commands, options, choices"
        " and file names. Load it from your shell's startup file.",
    )  # fmt: skip
    completion.add_argument("shell", choices=["bash", "zsh"])
    return parser


def _sample_file(saga: SagaDescriptor) -> str:
    """The saga's first sample as a path to type: relative to here when it is below."""
    if not saga.samples:
        return "request.json"
    path = saga.sample_path(saga.samples[0])
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _config_path(name: str) -> Path:
    """A saga name (order, register), a config's ``name``, or a file path."""
    if (named := catalogue().get(name)) is not None:
        return named.config
    for saga in catalogue():
        if saga.template().name == name:
            return saga.config
    path = Path(name)
    if not path.exists():
        known = ", ".join(catalogue().commands)
        raise UserError(f"no config named {name!r} (a saga: {known}; or a YAML file path)")
    return path


def cmd_config_validate(args: argparse.Namespace) -> int:
    """Load every file; print each problem and warning; 0 when all load, else 2."""
    failed = 0
    for file in args.files:
        try:
            template = load_template(file, args.env)
        except ConfigError as err:
            failed += 1
            for problem in problems_of(err):
                print(f"error: {problem}")
            continue
        saga = saga_running(template)
        problems = [
            *(code_problems(saga, template) if saga else []),
            *monitoring_problems(template),
        ]
        for problem in problems:
            print(f"error: {problem}")
        failed += bool(problems)
        for warning in [*template.warnings, *monitoring_warnings(template)]:
            print(f"warning: {warning}")
        if not problems:
            checked = f", checked against the {saga.command} saga's code" if saga else ""
            print(
                f"ok: {file} ({template.name} v{template.version}, "
                f"{len(template.steps)} steps{checked})"
            )
    return EXIT_INVALID if failed else EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    template = load_template(_config_path(args.name), args.env)
    context = read_json(args.input) if args.input else None
    print(render_plan(template, build_plan(template, context)))
    return EXIT_OK


def _chosen(args: argparse.Namespace) -> list[tuple[str, TaskTemplate]]:
    """One saga's config (NAME), or every saga's of the catalogue, each with its kind."""
    if args.name is None:
        return [(saga.kind, saga.template(args.env)) for saga in catalogue()]
    template = load_template(_config_path(args.name), args.env)
    saga = saga_running(template)
    return [(saga.kind if saga else template.name, template)]


def cmd_config_alerts(args: argparse.Namespace) -> int:
    """Prometheus alerting rules: one saga's (NAME), or every saga's of the catalogue."""
    rules = alert_rules(_chosen(args))
    print(ALERTS_HEADER + yaml.safe_dump(rules, sort_keys=False, width=100), end="")
    return EXIT_OK


def cmd_config_dashboard(args: argparse.Namespace) -> int:
    """The Grafana dashboard: one saga's (NAME), or every saga's of the catalogue."""
    chosen = _chosen(args)
    for _, template in chosen:
        problems = monitoring_problems(template)
        if problems:
            raise ConfigErrors(problems)
    print(json.dumps(dashboard(chosen), indent=2))
    return EXIT_OK


ALERTS_HEADER = (
    "# Prometheus alerting rules for the sagas, generated by `python starter.py config alerts`\n"
    "# from each config's monitoring section (adapter/alerts.py); do not edit by hand.\n"
)


def cmd_config(args: argparse.Namespace) -> int:
    run = {
        "validate": cmd_config_validate,
        "show": cmd_config_show,
        "alerts": cmd_config_alerts,
        "dashboard": cmd_config_dashboard,
    }[args.config_command]
    return run(args)


def cmd_demo(args: argparse.Namespace, settings: TemporalSettings) -> int:
    from frontends.demo import run_demo  # the demo's processes: imported only for it

    args.data_dir = Path(args.data_dir).absolute()
    return asyncio.run(run_demo(args, settings))


def cmd_codec_key(args: argparse.Namespace) -> int:
    print(new_key_line())
    return EXIT_OK


Command = Callable[[argparse.Namespace, TemporalSettings], int]


def _on_loop(
    run: Callable[[argparse.Namespace, TemporalSettings], Coroutine[Any, Any, int]],
) -> Command:
    return lambda args, settings: asyncio.run(run(args, settings))


def _local(run: Callable[[argparse.Namespace], int]) -> Command:
    """A command that needs no Temporal settings."""
    return lambda args, _settings: run(args)


COMMANDS: dict[str, Command] = {
    "list": _on_loop(cmd_list),
    "status": _on_loop(cmd_status),
    "intervene": _on_loop(cmd_intervene),
    "cancel": _on_loop(cmd_cancel),
    "rerun": _on_loop(cmd_rerun),
    "terminate": _on_loop(cmd_terminate),
    "api": cmd_api,
    "config": _local(cmd_config),
    "demo": cmd_demo,
    "codec-server": _local(cmd_codec_server),
    "codec-key": _local(cmd_codec_key),
    "completion": _local(cmd_completion),
}
"""Every command but the start commands, which are one per saga (``cmd_start``)."""
WITHOUT_KEYRING = {"codec-key", "completion"}
"""Commands that run without the encryption keyring (every other checks it first)."""


def command_for(name: str) -> Command:
    return COMMANDS.get(name) or _on_loop(cmd_start)


def main(argv: list[str] | None = None) -> int:
    try:
        defaults = TemporalSettings.from_env()
        dedup_window()  # a bad SAGA_DEDUP_WINDOW stops every command, the API's too
        use_module_options(argv)
    except (ConnectionSettingsError, SagaModuleError, IdentityError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    args = build_parser(defaults).parse_args(argv)
    configure_logging("INFO" if getattr(args, "verbose", False) else "WARNING")
    use_local_time(getattr(args, "local_time", False))
    settings = replace(
        defaults, address=args.address, namespace=args.namespace, task_queue=args.task_queue
    )
    try:
        if args.command not in WITHOUT_KEYRING:
            data_converter()  # a keyring that cannot be used is a user error, before anything
        return command_for(args.command)(args, settings)
    except (
        UserError, InputError, ConfigError, CodecError, OperationError, SagaModuleError
    ) as err:  # fmt: skip
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    except TemporalUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except LeftRunning as err:
        print(err, file=sys.stderr)
        return EXIT_INTERRUPTED
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): nothing more to say to it
        return EXIT_CLOSED


def cli() -> None:
    """The installed ``saga`` command."""
    exit_now(main())


if __name__ == "__main__":
    cli()
