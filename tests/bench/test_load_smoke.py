"""``python -m bench.load``, small (40 orders + 10 registrations at once): it passes, and
its result says every saga completed with no workflow task timed out or failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_load_smoke_every_saga_completes_without_task_timeouts(tmp_path: Path) -> None:
    results = tmp_path / "results"
    command = [
        sys.executable, "-m", "bench.load", "--orders", "40", "--registrations", "10",
        "--timeout", "300", "--data-dir", str(tmp_path / "data"), "--results-dir", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    (result_file,) = results.glob("load-*.json")
    load = json.loads(result_file.read_text())["load"]
    assert load["sagas"] == 50
    assert load["completed"] == 50
    assert load["by_kind"]["order"]["completed"] == 40
    assert load["by_kind"]["registration"]["completed"] == 10
    assert load["history"]["task_timeouts"] == 0
    assert load["history"]["task_failures"] == 0
    assert load["passed"] is True
