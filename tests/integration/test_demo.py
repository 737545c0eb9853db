"""``starter.py demo`` as ``make demo`` runs it, twice on the same data: the UI's address is
printed while the UI is up, the output says how to keep it up, and the second run works on
fresh sample data (a new user, not the first run's ``already_exists``)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import httpx

from tests.integration.helpers import ROOT

PORTS = ("--temporal-port", "0", "--ui-port", "0", "--services-port", "0", "--codec-port", "0")


async def _demo(data_dir: Path) -> tuple[int, str, bool]:
    """Run the demo; return its exit code, its output, and whether the UI it named answered
    while the demo ran."""
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
        assert output.index("Temporal UI: http://127.0.0.1:") < stopped
    tags = [re.findall(r"\(tag (\w+)\)", output) for output in (first, second)]
    assert len(tags[0]) == len(tags[1]) == 1
    assert tags[0] != tags[1], "each run's sample data is its own"
    assert f"+{tags[1][0]}@growthcorp.com" in second
