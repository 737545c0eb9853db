"""``starter.py demo`` as ``make demo`` runs it, twice on the same data: the UI's address is
printed while the UI is up, the output says how to keep it up, and the second run works on
fresh sample data (a new user, not the first run's ``already_exists``)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx

from tests.integration.helpers import ROOT

PORTS = ("--temporal-port", "0", "--ui-port", "0", "--services-port", "0", "--codec-port", "0")


async def _demo(data_dir: Path) -> tuple[int, str, bool]:
    """Run the demo; return its exit code, its output, and whether the UI it named and the
    Temporal address it printed first both answered while the demo ran (the latter to the
    very command line it prints)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "demo", "--data-dir", str(data_dir), *PORTS,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Temporal UI: "):
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
        assert line, f"the demo ended without naming the UI:\n{''.join(lines)}"
        lines.append(line)
    async with httpx.AsyncClient() as http:
        answered = (await http.get(lines[-1].split()[2], timeout=10)).status_code == 200
    [address] = [line.split()[1] for line in lines if line.startswith("Temporal:    ")]
    [hint] = [line.strip() for line in lines if line.strip().startswith("TEMPORAL_ADDRESS=")]
    assert hint == f"TEMPORAL_ADDRESS={address} python starter.py list"
    environment = {**os.environ, "TEMPORAL_ADDRESS": address}
    listed = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "list", cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, listing_errors = await asyncio.wait_for(listed.communicate(), timeout=60)
    answered = answered and listed.returncode == 0
    assert listed.returncode == 0, listing_errors.decode()
    rest, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode is not None
    return process.returncode, "".join(lines) + rest.decode(), answered


async def test_two_demo_runs_in_a_row_both_complete_on_fresh_sample_data(tmp_path: Path) -> None:
    first_code, first, first_ui_up = await _demo(tmp_path)
    second_code, second, _ = await _demo(tmp_path)

    assert first_code == 0, first
    assert second_code == 0, second
    assert first_ui_up, "the UI answers at the address the demo prints first"
    for output in (first, second):
        assert "account=created" in output, output
        assert "already_exists" not in output
        assert "make demo DEMO_ARGS=--keep-running" in output
        stopped = output.index("Stopped the dev server")
        assert output.index("Temporal:    127.0.0.1:") < output.index("Temporal UI: http://")
        assert output.index("Temporal UI: http://127.0.0.1:") < stopped
    tags = [re.findall(r"\(tag (\w+)\)", output) for output in (first, second)]
    assert len(tags[0]) == len(tags[1]) == 1
    assert tags[0] != tags[1], "each run's sample data is its own"
    assert f"+{tags[1][0]}@growthcorp.com" in second


async def test_the_demo_stops_saying_so_when_its_dev_server_dies(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "starter.py", "demo", "--keep-running", "--data-dir", str(tmp_path),
        *PORTS, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Running until Ctrl-C"):
        line = (await asyncio.wait_for(process.stdout.readline(), 180)).decode()
        assert line, f"the demo ended early:\n{''.join(lines)}"
        lines.append(line)
    server = _child_running(process.pid, "start-dev")
    os.kill(server, signal.SIGKILL)

    rest, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    after = rest.decode().splitlines()
    assert process.returncode == 1
    said = [line for line in after if line.startswith("error: ")]
    assert said == [
        f"error: temporal dev server (pid {server}) exited with code -9; see"
        f" {tmp_path / 'temporal.log'}: the demo stops."
    ]
    assert len(after) < 10, after  # no stream of gRPC warnings from a worker left polling


def _child_running(parent: int, needle: str) -> int:
    """The PID of ``parent``'s child process whose command line holds ``needle``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) == parent and needle in command:
            return int(entry.name)
    raise AssertionError(f"no child of {parent} runs {needle!r}")
