"""``python -m bench``, small: every kind runs on the real stack and the result file holds
what the report promises. No speed is asserted; only that everything was measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"floor", "order", "diamond", "registration"}


def test_small_benchmark_measures_every_kind(tmp_path: Path) -> None:
    results = tmp_path / "results"
    command = [
        sys.executable, "-m", "bench", "--n", "3", "--single", "2", "--timeout", "120",
        "--data-dir", str(tmp_path / "data"), "--results-dir", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    (result_file,) = results.glob("*.json")
    document = json.loads(result_file.read_text())
    rounds = document["rounds"]
    assert {r["kind"] for r in rounds} == KINDS
    assert {(r["mode"], r["sagas"]) for r in rounds} == {("concurrent", 3), ("single", 2)}
    for r in rounds:
        assert r["completed"] == r["sagas"], r
        assert not r["timed_out"]
        assert r["history"]["mean_events"] > 0
        assert r["history"]["task_timeouts"] == 0
    for pair in ("order/floor", "registration/diamond"):
        ratios = [metric["ratio"] for metric in document["ratios"][pair].values()]
        assert ratios, pair
        assert all(ratio is not None and ratio > 0 for ratio in ratios), document["ratios"]
    assert document["machine"]["cores"] >= 1
    assert document["worker_settings"]["runner"] == "sandboxed"
    assert "order/floor" in done.stdout
