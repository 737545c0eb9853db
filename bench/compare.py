"""The benchmark's verdict: each saga against the floor workflow of its shape, as plain
data and as the tables ``python -m bench`` prints."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from bench.history import BYTES_MEASURE
from bench.measure import CLIENT
from bench.report import table
from bench.stack import SERVER, SERVICES, WORKER
from bench.workload import BASELINES

CONCURRENT, SINGLE = "concurrent", "single"
"""Round modes: N sagas started at once, or one after the other."""


def progress(round_: dict[str, Any]) -> str:
    """One line as each round ends: a long benchmark shows where it is."""
    late = " TIMED OUT" if round_["timed_out"] else ""
    return (
        f"{round_['kind']} x{round_['sagas']} ({round_['mode']}): "
        f"{round_['completed']}/{round_['sagas']} complete in {round_['wall_s']} s, "
        f"{round_['sagas_per_s']}/s, p50 {round_['p50_ms']} ms{late}"
    )


Metric = Callable[[dict[str, Any]], float | None]
RATIO_METRICS: dict[str, tuple[str | None, Metric]] = {
    "sagas/s at N": (CONCURRENT, lambda r: r["sagas_per_s"]),
    "p50 ms at N": (CONCURRENT, lambda r: r["p50_ms"]),
    "p50 ms at 1": (SINGLE, lambda r: r["p50_ms"]),
    "history events": (None, lambda r: r["history"]["mean_events"]),
    "history bytes": (None, lambda r: r["history"]["mean_bytes"]),
    "worker CPU ms/saga at N": (
        CONCURRENT,
        lambda r: 1000 * r["cpu_s"][WORKER] / r["completed"] if r["completed"] else None,
    ),
}
"""Each compared metric: the rounds it is read from (None: every round), and how."""


def _read(
    rounds: Sequence[dict[str, Any]], kind: str, mode: str | None, metric: Metric
) -> tuple[float | None, bool]:
    """The median of ``metric`` over the rounds of ``kind`` (and ``mode``), and whether any
    of those rounds timed out."""
    chosen = [r for r in rounds if r["kind"] == kind and mode in (None, r["mode"])]
    values = [value for r in chosen if (value := metric(r)) is not None]
    median = statistics.median(values) if values else None
    return median, any(r["timed_out"] for r in chosen)


Compared = dict[str, dict[str, dict[str, Any]]]


def ratios(rounds: Sequence[dict[str, Any]]) -> Compared:
    """Per saga ÷ its floor and per metric: both medians over the repeats, their ratio, and
    whether a timed-out round went into them (then the ratio says little)."""
    kinds = {r["kind"] for r in rounds}
    compared: Compared = {}
    for saga, floor in BASELINES.items():
        if saga not in kinds or floor not in kinds:
            continue
        pair = compared[f"{saga}/{floor}"] = {}
        for name, (mode, metric) in RATIO_METRICS.items():
            (mine, mine_late), (base, base_late) = (
                _read(rounds, saga, mode, metric),
                _read(rounds, floor, mode, metric),
            )
            pair[name] = {
                saga: _round(mine),
                floor: _round(base),
                "ratio": round(mine / base, 3) if mine is not None and base else None,
                "timed_out": mine_late or base_late,
            }
    return compared


ROUND_HEADERS = (
    "rep", "kind", "N", "sagas", "done", "sagas/s", "p50 ms", "p95 ms",
    "cpu server s", "cpu worker s", "cpu services s", "cpu client s",
    "worker rss MiB", "worker peak MiB", "hist events", "hist bytes", "wft timeout/fail", "",
)  # fmt: skip


def _round_row(r: dict[str, Any]) -> list[object]:
    history, cpu = r["history"], r["cpu_s"]
    return [
        r["repeat"], r["kind"], r["concurrency"], r["sagas"], r["completed"],
        r["sagas_per_s"], r["p50_ms"], r["p95_ms"],
        cpu[SERVER], cpu[WORKER], cpu[SERVICES], cpu[CLIENT],
        r["worker_rss_mib"], r["worker_peak_rss_mib"],
        _round(history["mean_events"], None), _round(history["mean_bytes"], None),
        f"{history['task_timeouts']}/{history['task_failures']}",
        "TIMED OUT" if r["timed_out"] else "",
    ]  # fmt: skip


def _round(value: float | None, digits: int | None = 1) -> float | None:
    return None if value is None else round(value, digits)


def render(rounds: Sequence[dict[str, Any]], compared: Compared) -> str:
    parts = [table(ROUND_HEADERS, [_round_row(r) for r in rounds])]
    for pair, metrics in compared.items():
        saga, floor = pair.split("/")
        rows = [
            [name, m[saga], m[floor], m["ratio"], "TIMED OUT" if m["timed_out"] else ""]
            for name, m in metrics.items()
        ]
        parts.append(table([pair, saga, floor, f"{saga} / {floor}", ""], rows))
    parts.append(f"hist bytes: {BYTES_MEASURE}, mean over the completed sagas of the round")
    return "\n\n".join(parts)
