"""Start sagas, read their status, or run the whole demo.

    python starter.py order FILE.json [--id ID] [--wait] [--json]
    python starter.py register FILE.json [--id ID] [--wait] [--json]
    python starter.py status ID [--json]
    python starter.py intervene ID retry|resolve|compensate|fail [--result JSON]
    python starter.py cancel ID [--wait] [--json]
    python starter.py config validate FILE... | config show NAME [--env ENV] [--input FILE]
    python starter.py demo [--keep-running] [--data-dir DIR] [--temporal-port N] ...
    python starter.py codec-server [--port N] [--ui-origin URL] [--token T]
    python starter.py codec-key

Exit codes: 0 started / completed; 1 the saga failed, was compensated or cancelled;
2 bad input or config (nothing was started).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from adapter.errors import ConfigError, problems_of
from adapter.loader import load_template
from adapter.policy import build_plan
from adapter.report import render_plan
from models.status import InterventionAction, InterventionRequest, SagaState, SagaStatus
from runtime.cli import exit_now
from runtime.codec import CodecError, new_key_line
from runtime.codec_server import DEFAULT_UI_ORIGINS, codec_app
from runtime.codec_server import serve as serve_codec
from runtime.converter import data_converter
from runtime.inputs import InputError, listed, parse_request, read_request
from runtime.logs import configure_logging
from runtime.report import render_status
from runtime.sagas import SAGAS, InvalidInput, prepare, saga_running
from runtime.temporal import (
    ConnectionSettingsError,
    TemporalSettings,
    connect,
    final_status,
    query_status,
    start_saga,
)

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, never a stack trace."""


def read_json(path: str) -> Any:
    """A request file within the input limits (runtime/inputs.py); InputError says why not."""
    return read_request(path)


def print_status(status: SagaStatus, as_json: bool) -> None:
    print(status.model_dump_json(indent=2) if as_json else render_status(status))


def exit_code(status: SagaStatus) -> int:
    return EXIT_OK if status.state is SagaState.COMPLETE else EXIT_FAILED


async def cmd_start(args: argparse.Namespace, settings: TemporalSettings) -> int:
    saga = SAGAS[args.command]
    data = read_json(args.file)
    try:
        prepared = prepare(saga, data, workflow_id=args.id, environment=args.env)
    except InvalidInput as invalid:
        print(f"{args.file}: invalid input, nothing started:", file=sys.stderr)
        for line in listed(invalid.errors):
            print(f"  {line}", file=sys.stderr)
        return EXIT_INVALID
    client = await connect(settings)
    handle, started = await start_saga(client, prepared, settings.task_queue)
    verb = "started" if started else "already submitted (same request), attached to"
    if not args.json:
        print(f"{verb} {prepared.workflow_id}")
    if not args.wait:
        if args.json:
            print(json.dumps({"workflow_id": prepared.workflow_id, "started": started}))
        return EXIT_OK
    status = await final_status(handle)
    print_status(status, args.json)
    return exit_code(status)


async def cmd_status(args: argparse.Namespace, settings: TemporalSettings) -> int:
    client = await connect(settings)
    try:
        status = await query_status(client.get_workflow_handle(args.id))
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise UserError(f"no saga with id {args.id!r}") from None
        raise
    print_status(status, args.json)
    return EXIT_OK


async def cmd_intervene(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """Answer a saga in awaiting_intervention; the workflow's validator refuses bad answers."""
    # argv holds the bytes as given (undecodable ones escaped): read them like a file's.
    result = parse_request(os.fsencode(args.result), "--result") if args.result else None
    if result is not None and not isinstance(result, dict):
        raise UserError("--result must be a JSON object")
    request = InterventionRequest(
        action=InterventionAction(args.action), result=result, reason=args.reason
    )
    client = await connect(settings)
    try:
        status = await client.get_workflow_handle(args.id).execute_update(
            "intervene", request, result_type=SagaStatus
        )
    except WorkflowUpdateFailedError as err:
        raise UserError(f"{args.id}: {err.cause or err}") from None
    except RPCError as err:
        raise UserError(f"{args.id}: {err.message}") from None
    print_status(status, args.json)
    return EXIT_OK


async def cmd_cancel(args: argparse.Namespace, settings: TemporalSettings) -> int:
    """Cancel a saga; one past payment compensates (refund, release) before it ends."""
    client = await connect(settings)
    handle = client.get_workflow_handle(args.id)
    try:
        await handle.cancel()
    except RPCError as err:
        raise UserError(f"{args.id}: {err.message}") from None
    print(f"cancellation requested for {args.id}")
    if not args.wait:
        return EXIT_OK
    status = await final_status(handle)
    print_status(status, args.json)
    return EXIT_OK


def cmd_codec_server(args: argparse.Namespace) -> int:
    """Serve the codec for the Web UI until Ctrl-C."""
    codec = data_converter().payload_codec
    assert codec is not None
    origins = args.ui_origin or DEFAULT_UI_ORIGINS
    app = codec_app(codec, ui_origins=origins, token=args.token)
    print(f"codec server on http://{args.host}:{args.port} for {', '.join(origins)}", flush=True)
    asyncio.run(serve_codec(app, args.host, args.port))
    return EXIT_OK


def build_parser(defaults: TemporalSettings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Start and inspect sagas on Temporal.")
    parser.add_argument("--address", default=defaults.address, help="Temporal frontend")
    parser.add_argument("--namespace", default=defaults.namespace)
    parser.add_argument("--task-queue", default=defaults.task_queue)
    parser.add_argument("--env", default=None, help="config environment (default $SAGA_ENV)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in SAGAS:
        start = commands.add_parser(name, help=f"start a {name} saga from a JSON file")
        start.add_argument("file")
        start.add_argument("--id", help="workflow id (default: derived from the request)")
        start.add_argument("--wait", action="store_true", help="wait for the outcome")
        start.add_argument("--json", action="store_true", help="print the status document")
    status = commands.add_parser("status", help="print a saga's status")
    status.add_argument("id")
    status.add_argument("--json", action="store_true")
    intervene = commands.add_parser("intervene", help="answer a saga awaiting intervention")
    intervene.add_argument("id")
    intervene.add_argument("action", choices=[a.value for a in InterventionAction])
    intervene.add_argument("--result", help="JSON result to record with resolve")
    intervene.add_argument("--reason", default="")
    intervene.add_argument("--json", action="store_true")
    cancel = commands.add_parser("cancel", help="cancel a saga (compensates after payment)")
    cancel.add_argument("id")
    cancel.add_argument("--wait", action="store_true")
    cancel.add_argument("--json", action="store_true")
    config = commands.add_parser("config", help="check and explain configs")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    validate = config_commands.add_parser("validate", help="load configs, list every problem")
    validate.add_argument("files", nargs="+")
    show = config_commands.add_parser("show", help="a config's resolved plan as a table")
    show.add_argument("name", help="order, register, a config name, or a YAML file")
    show.add_argument("--input", help="a request JSON file, to apply its context overrides")
    for sub in (validate, show):
        sub.add_argument("--env", default=argparse.SUPPRESS, help="environment overlay")
    demo = commands.add_parser("demo", help="run both sagas on an embedded dev server")
    demo.add_argument("--keep-running", action="store_true")
    demo.add_argument("--verbose", action="store_true", help="log every step and HTTP call")
    demo.add_argument("--data-dir", default="data")
    demo.add_argument("--temporal-port", type=int, default=7233)
    demo.add_argument("--ui-port", type=int, default=8233)
    demo.add_argument("--services-port", type=int, default=8700)
    demo.add_argument("--codec-port", type=int, default=8888)
    codec = commands.add_parser(
        "codec-server", help="decode payloads for the Temporal Web UI (Temporal's codec protocol)"
    )
    codec.add_argument("--host", default="127.0.0.1")
    codec.add_argument("--port", type=int, default=8888)
    codec.add_argument(
        "--ui-origin", action="append", help="the Web UI's origin, allowed by CORS (repeatable;"
        f" default {' and '.join(DEFAULT_UI_ORIGINS)})",
    )  # fmt: skip
    codec.add_argument(
        "--token", default=os.environ.get("SAGA_CODEC_TOKEN") or None,
        help="require 'Authorization: Bearer TOKEN' [SAGA_CODEC_TOKEN]",
    )  # fmt: skip
    commands.add_parser("codec-key", help="print a new encryption key line (id=base64key)")
    return parser


def _config_path(name: str) -> Path:
    """A saga name (order, register), a config's ``name``, or a file path."""
    if name in SAGAS:
        return SAGAS[name].config
    for saga in SAGAS.values():
        if saga.template().name == name:
            return saga.config
    path = Path(name)
    if not path.exists():
        known = ", ".join(SAGAS)
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
        problems = saga.code_problems(template) if saga else []
        for problem in problems:
            print(f"error: {problem}")
        failed += bool(problems)
        for warning in template.warnings:
            print(f"warning: {warning}")
        if not problems:
            checked = f", checked against the {saga.name} saga's code" if saga else ""
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


COMMANDS = {"status": cmd_status, "intervene": cmd_intervene, "cancel": cmd_cancel}


def main(argv: list[str] | None = None) -> int:
    try:
        defaults = TemporalSettings.from_env()
    except ConnectionSettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    args = build_parser(defaults).parse_args(argv)
    configure_logging("INFO" if getattr(args, "verbose", False) else "WARNING")
    settings = replace(
        defaults, address=args.address, namespace=args.namespace, task_queue=args.task_queue
    )
    try:
        if args.command == "codec-key":
            print(new_key_line())
            return EXIT_OK
        data_converter()  # a keyring that cannot be used is a user error, before anything
        if args.command == "codec-server":
            return cmd_codec_server(args)
        if args.command == "config":
            run = cmd_config_validate if args.config_command == "validate" else cmd_config_show
            return run(args)
        if args.command == "demo":
            from runtime.demo import run_demo

            args.data_dir = Path(args.data_dir).absolute()
            return asyncio.run(run_demo(args, settings))
        if args.command in COMMANDS:
            return asyncio.run(COMMANDS[args.command](args, settings))
        return asyncio.run(cmd_start(args, settings))
    except (UserError, InputError, ConfigError, CodecError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    exit_now(main())
