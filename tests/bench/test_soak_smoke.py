"""``python -m bench.soak``, small (40 orders + 20 registrations, a worker killed once,
a fixed fault plan): it passes, and its result shows the faults hit, the kill happened,
some sagas were compensated (so refunds and releases were checked) and every invariant
held. The checker itself is shown to fail on broken records in test_soak_invariants.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_smoke_keeps_every_invariant_through_faults_and_a_worker_kill(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results"
    command = [
        sys.executable, "-m", "bench.soak", "--orders", "40", "--registrations", "20",
        "--kills", "1", "--seed", "3", "--fault-rate", "0.05", "--lost-reply-rate", "0.05",
        "--refusal-rate", "0.05", "--timeout", "300",
        "--data-dir", str(tmp_path / "data"), "--results-dir", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    (result_file,) = results.glob("soak-*.json")
    document = json.loads(result_file.read_text())
    soak = document["soak"]
    assert soak["passed"] is True
    everything = soak["counts"]["all"]
    assert everything["sagas"] == 60
    assert everything["unfinished"] == everything["failed"] == 0
    assert soak["kills_done"] == 1
    assert soak["kills"][0]["replacement_pid"] != soak["kills"][0]["killed_pid"]
    faults = soak["faults"]
    assert faults["hit"] > 0
    assert faults["hit_by_kind"].get("lost_reply", 0) > 0
    assert len(soak["invariants"]) == 7
    assert all(invariant["passed"] for invariant in soak["invariants"]), soak["invariants"]
    money = soak["invariants"][0]["facts"]
    assert everything["compensated"] > 0
    assert money["refunds"] > 0
    assert "PASS  1. money" in done.stdout
