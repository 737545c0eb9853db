"""Numbers out: latency percentiles, batch summaries, plain tables, the JSON result file."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import Batch
from bench.stack import WORKER
from bench.workload import Outcome
from plumbing.processes import temporal_cli


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0 to 100), linearly interpolated between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def outcome_summary(outcomes: Sequence[Outcome], wall: float) -> dict[str, Any]:
    """Counts, throughput (completed ÷ wall time) and latency of a set of outcomes."""
    latencies = [o.latency for o in outcomes if o.latency is not None]
    completed = sum(1 for o in outcomes if o.completed)
    return {
        "sagas": len(outcomes),
        "completed": completed,
        "not_completed": len(outcomes) - completed,
        "states": dict(Counter(o.state for o in outcomes)),
        "wall_s": round(wall, 3),
        "sagas_per_s": round(completed / wall, 3) if wall > 0 else None,
        "p50_ms": _ms(percentile(latencies, 50)),
        "p95_ms": _ms(percentile(latencies, 95)),
    }


def batch_summary(batch: Batch) -> dict[str, Any]:
    """Everything a batch measured, as plain data (memory: the worker's)."""
    worker_memory = batch.memory[WORKER]
    return {
        **outcome_summary(batch.outcomes, batch.wall),
        "timed_out": batch.timed_out,
        "cpu_s": {role: round(seconds, 2) for role, seconds in batch.cpu.items()},
        "worker_rss_mib": round(worker_memory.rss_mib, 1),
        "worker_peak_rss_mib": round(worker_memory.peak_rss_mib, 1),
        "history": batch.history.as_dict(),
    }


def _temporal_version() -> str:
    answer = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    return answer.stdout.strip()


def machine_facts() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "temporalio": importlib.metadata.version("temporalio"),
        "temporal_cli": _temporal_version(),
    }


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_json(results_dir: Path, name: str, document: dict[str, Any]) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, right-aligned text table; missing values print as ``-``."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    cells.insert(1, ["-" * width for width in widths])
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
