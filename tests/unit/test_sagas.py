"""The saga catalogue: a config is loaded once and again only when its file changes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from plumbing.keys import ID_SECRET_VAR, id_secret
from sagas.catalogue import saga
from sagas.prepare import prepare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_template_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    config = tmp_path / "order.yaml"
    shutil.copy(saga("order").config, config)
    order = dataclasses.replace(saga("order"), config=config)

    first = order.template("development")
    assert order.template("development") is first
    assert order.template("production") is not first

    config.write_text(config.read_text().replace("version: 1.0.0", "version: 1.0.1", 1))
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = order.template("development")
    assert changed is not first
    assert changed.version == "1.0.1"


def test_registration_ids_are_keyed_digests_nobody_can_compute_from_an_email(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sample = json.loads((EXAMPLES / "registration_sample.json").read_text())
    shouted = {**sample, "user_info": {**sample["user_info"], "email": " SARAH@GrowthCorp.com "}}

    def registration_id(secret: str, data: dict[str, Any]) -> str:
        monkeypatch.setenv(ID_SECRET_VAR, secret)
        id_secret.cache_clear()
        return prepare(saga("register"), data).workflow_id

    try:
        ours = registration_id("one secret", sample)
        assert registration_id("one secret", shouted) == ours  # one registration per email
        assert registration_id("another secret", sample) != ours
    finally:
        id_secret.cache_clear()
    unkeyed = hashlib.sha256(b"sarah@growthcorp.com").hexdigest()[:20]
    assert unkeyed not in ours
    assert "sarah" not in ours
