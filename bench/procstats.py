"""CPU time and memory of the processes we started, read from ``/proc``.

A process is counted with its descendants (``worker.py --processes N`` forks its workers),
so the numbers stay right whatever the worker settings are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    children = _children_by_parent()
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` and its live descendants."""
    ticks = 0
    for member in process_tree(pid):
        fields = _stat_fields(member)
        if fields:  # utime and stime are fields 14 and 15 of stat, 12 and 13 here
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


@dataclass(frozen=True)
class Memory:
    """Resident set size now and at its peak (VmHWM), in MiB, summed over the tree."""

    rss_mib: float
    peak_rss_mib: float


def memory(pid: int) -> Memory:
    rss_kib = peak_kib = 0
    for member in process_tree(pid):
        try:
            lines = (PROC / str(member) / "status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                rss_kib += int(value.split()[0])
            elif key == "VmHWM":
                peak_kib += int(value.split()[0])
    return Memory(rss_kib / 1024, peak_kib / 1024)
