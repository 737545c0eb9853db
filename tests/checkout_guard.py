"""The test suite reads nothing outside the checkout.

A user's clone has nothing beside it, while a development machine (and CI) may: a test
that reads a sibling folder passes here and fails for every user. Two checks catch it:

- ``outside_paths_in``: the text of tests/, .ci/ and the Makefile names no path that
  climbs out of the checkout (``..``, ``ROOT.parent``, ``parents[N]`` past the root, an
  absolute path under the checkout's parent);
- ``ReadRecorder``: an audit hook, installed for the whole test session, records every
  file or directory this process opens under the checkout's parent but outside the
  checkout (processes the tests start are covered by the text check).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_PARENTS = re.compile(r"\.parents\[(\d+)\]")
_CLIMBS = re.compile(r"(?<![\w.])\.\.(?:/|\\|\"|')|ROOT\.parent\b|\.parent\.parent\b")
_AUDITED = {"open", "os.listdir", "os.scandir"}


def outside_paths_in(relative: str, text: str, root: Path = ROOT) -> list[str]:
    """The lines of the file ``relative`` (to the checkout) that point outside the checkout."""
    depth = len(Path(relative).parts)  # parents[depth - 1] of the file is the root
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0] if relative.endswith(".py") else line
        climbs_past_root = any(int(n) >= depth for n in _PARENTS.findall(code))
        if climbs_past_root or _CLIMBS.search(code) or str(root.parent) + "/" in code:
            found.append(f"{relative}:{number}: {line.strip()}")
    return found


class ReadRecorder:
    """Records opens of paths beside the checkout (in its parent, not under it)."""

    def __init__(self, root: Path = ROOT) -> None:
        self._root = str(root) + os.sep
        self._parent = str(root.parent).rstrip(os.sep) + os.sep
        temp = str(Path(tempfile.gettempdir()).resolve()) + os.sep
        # Temporary files are the tests' own, unless the checkout itself sits in a folder
        # made inside the temporary directory (a fresh clone's), whose rest is beside it.
        inside_temp = self._parent.startswith(temp) and self._parent != temp
        self._allowed = (self._root,) if inside_temp else (self._root, temp)
        self.reads: list[str] = []

    def outside(self, path: str) -> bool:
        full = os.path.abspath(path) + os.sep
        return full.startswith(self._parent) and not full.startswith(self._allowed)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in _AUDITED or not args:
            return
        path = args[0]
        if isinstance(path, int) or path is None:
            return
        try:
            text = os.fsdecode(path)
        except TypeError:
            return
        if self.outside(text):
            self.reads.append(text)

    def install(self) -> ReadRecorder:
        sys.addaudithook(self)
        return self

    def take(self) -> list[str]:
        taken, self.reads = self.reads, []
        return taken
