"""`python -m services`: run the simulated services on loopback.

Each setting is a flag or an environment variable (the flag wins), so a container can be
configured either way; a bad value is one line naming it, exit 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from .app import serve
from .pipeline import Settings

TEST_API_ENV = "SAGA_SERVICES_TEST_API"
MAX_BODY_ENV = "SAGA_SERVICES_MAX_BODY_BYTES"
MAX_BODY_LIMIT = 64 * 1024 * 1024
"""The largest body limit one may set: the body is held in memory while it is decoded."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--db", default="data/services.db", help="SQLite file (created)")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
    )
    parser.add_argument(
        "--test-api",
        action=argparse.BooleanOptionalAction,
        help="serve the fault API (/_faults) and the request log (/_requests), for tests "
        f"and demos only [{TEST_API_ENV}=1; default off]",
    )
    parser.add_argument(
        "--max-body-bytes",
        metavar="N",
        help="larger request bodies are refused with 413 "
        f"[{MAX_BODY_ENV}; default {Settings.max_body_bytes}]",
    )
    return parser


def parse_args(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[argparse.Namespace, Settings]:
    """The flags, and the settings they and the environment give."""
    environ = os.environ if environ is None else environ
    parser = _parser()
    args = parser.parse_args(argv)
    test_api = args.test_api
    if test_api is None:
        raw = environ.get(TEST_API_ENV, "0")
        if raw not in ("0", "1", ""):
            parser.error(f"{TEST_API_ENV}: expected 1 or 0, got {raw!r}")
        test_api = raw == "1"
    size, source = args.max_body_bytes, "--max-body-bytes"
    if size is None:
        size, source = environ.get(MAX_BODY_ENV, str(Settings.max_body_bytes)), MAX_BODY_ENV
    digits = size.isascii() and size.isdigit() and len(size) < 10
    if not (digits and 0 < int(size) <= MAX_BODY_LIMIT):
        parser.error(f"{source}: expected 1 to {MAX_BODY_LIMIT} bytes, got {size!r}")
    return args, Settings(max_body_bytes=int(size), test_api=test_api)


def main(argv: list[str] | None = None) -> None:
    """Parse flags and serve until interrupted."""
    args, settings = parse_args(argv)
    serve(args.host, args.port, args.db, args.log_level, settings)


if __name__ == "__main__":
    main()
