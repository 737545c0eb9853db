"""Issue 10, item 5: the CLI's parser and help. Global options go before or after the
command; every command's help has examples and exit codes; intervene's help shows the
result ``resolve`` takes, generated from the models; a connection failure is one sentence
and exit 3."""

from __future__ import annotations

import argparse
import io
import logging
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout

import pytest
import structlog
from pydantic import BaseModel

import starter
from frontends.help import EXIT_UNREACHABLE
from models.order import InventoryResult
from models.registration import UserStatusResult
from plumbing.connection import TemporalSettings
from plumbing.ports import free_port

DEFAULTS = TemporalSettings(address="default-host:7233", namespace="ns", task_queue="tq")
PARSER = starter.build_parser(DEFAULTS)


def parse(*argv: str) -> argparse.Namespace:
    return PARSER.parse_args(list(argv))


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, nested ones (``config validate``) by their full name."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found |= {f"{name} {inner}": p for inner, p in subparsers(sub).items()}
    return found


COMMANDS = subparsers(PARSER)


@pytest.mark.parametrize(
    "argv",
    [
        ["--address", "elsewhere:7233", "--task-queue", "q2", "status", "order-1"],
        ["status", "order-1", "--address", "elsewhere:7233", "--task-queue", "q2"],
        ["--address", "elsewhere:7233", "status", "--task-queue", "q2", "order-1"],
    ],
)
def test_global_options_go_before_or_after_the_command(argv: list[str]) -> None:
    args = parse(*argv)
    assert (args.address, args.task_queue, args.namespace) == ("elsewhere:7233", "q2", "ns")
    assert args.id == "order-1"


def test_options_not_given_keep_their_defaults_in_either_place() -> None:
    args = parse("list", "--state", "awaiting_intervention")
    assert (args.address, args.namespace, args.task_queue, args.env) == (
        "default-host:7233", "ns", "tq", None,
    )  # fmt: skip


def test_env_after_a_nested_command() -> None:
    assert parse("config", "validate", "x.yaml", "--env", "production").env == "production"
    assert parse("--env", "production", "config", "show", "order").env == "production"


def test_list_options() -> None:
    args = parse("list", "--state", "error", "--saga", "registration", "--limit", "7", "--json")
    assert (args.state, args.saga, args.limit, args.json) == ("error", "registration", 7, True)
    assert parse("list").limit == 50


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--limit", "0"],
        ["list", "--limit", "1001"],
        ["list", "--state", "stuck"],
        ["list", "--saga", "register"],
    ],
)
def test_bad_list_options_exit_2(argv: list[str]) -> None:
    with redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2


def test_every_command_has_a_description_examples_and_exit_codes() -> None:
    assert {"order", "register", "list", "status", "intervene", "cancel", "api", "demo"} <= set(
        COMMANDS
    )
    for name, sub in COMMANDS.items():
        if name == "config":  # a group: its commands carry the examples
            continue
        text = sub.format_help()
        assert sub.description, name
        assert "examples:\n  python starter.py " in text, name
        codes = text.split("exit codes:\n", 1)[1]
        assert re.match(r"  0  \S", codes), name
        assert "go before or after the command" in text, name


def test_commands_that_reach_temporal_document_exit_3() -> None:
    for name in ("order", "register", "list", "status", "intervene", "cancel"):
        codes = COMMANDS[name].format_help().split("exit codes:\n", 1)[1]
        assert "  3  Temporal cannot be reached" in codes, name


def test_main_help_lists_every_exit_code_and_reads_well() -> None:
    text = PARSER.format_help()
    for code in range(4):
        assert f"\n  {code}  " in text
    assert "start an order saga" in text
    assert "a order" not in text


def test_cancel_help_says_exit_1_when_the_saga_ends_cancelled() -> None:
    codes = COMMANDS["cancel"].format_help().split("exit codes:\n", 1)[1]
    assert re.search(r"  1  with --wait: the saga ended cancelled", codes)


def _keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_intervene_help_shows_each_result_shape_from_the_models() -> None:
    text = COMMANDS["intervene"].format_help()
    inventory = text.split("step update_inventory → InventoryResult", 1)[1]
    inventory, user_status = inventory.split("step update_user_status → UserStatusResult", 1)
    assert inventory.startswith(", required: create_order reads it")
    assert user_status.startswith(", optional")
    for key in _keys(InventoryResult) | {"reservation_id", "quantity_reserved"}:
        assert f'"{key}"' in inventory, key
    for key in _keys(UserStatusResult):
        assert f'"{key}"' in user_status, key
    assert '"change_type"?: "reservation"' in inventory  # optional keys are marked


@pytest.fixture
def logging_kept() -> Iterator[None]:
    """``starter.main`` configures logging for its process (WARNING and above): give the
    tests after this one the configuration they had."""
    saved, handlers, level = structlog.get_config(), logging.root.handlers[:], logging.root.level
    yield
    structlog.configure(**saved)
    logging.root.handlers[:], logging.root.level = handlers, level


def run_main(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = starter.main(list(argv))
    return code, err.getvalue()


@pytest.mark.usefixtures("logging_kept")
@pytest.mark.parametrize("command", [["status", "order-1"], ["list"], ["cancel", "order-1"]])
def test_a_closed_port_is_one_sentence_and_exit_3(command: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    code, err = run_main(*command, "--address", address)
    assert code == EXIT_UNREACHABLE
    assert err.strip() == (
        f"error: cannot reach Temporal at {address} (Connection refused): is a server running?"
        " Start one with 'temporal server start-dev' or 'make demo DEMO_ARGS=--keep-running'"
    )
    assert "tonic" not in err
