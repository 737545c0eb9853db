"""The saga catalogue: a config is loaded once and again only when its file changes."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from runtime.sagas import SAGAS


def test_template_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    config = tmp_path / "order.yaml"
    shutil.copy(SAGAS["order"].config, config)
    saga = dataclasses.replace(SAGAS["order"], config=config)

    first = saga.template("development")
    assert saga.template("development") is first
    assert saga.template("production") is not first

    config.write_text(config.read_text().replace("version: 1.0.0", "version: 1.0.1", 1))
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = saga.template("development")
    assert changed is not first
    assert changed.version == "1.0.1"
