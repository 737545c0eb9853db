"""Recorded histories replay against today's workflow code: a change that would break
sagas already running (a step added, reordered or made to schedule differently without
``workflow.patched``) fails here. Re-record with ``python -m tests.replay.record`` only
for a change that is meant to apply to new sagas alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from plumbing.converter import data_converter
from plumbing.worker_settings import WorkerSettings
from sagas.catalogue import catalogue

HISTORIES = Path(__file__).parent / "histories"
FIXTURES = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("*.json"))}
KINDS = ("happy", "retried", "intervention", "cancelled")


def test_every_saga_has_every_kind_of_history() -> None:
    names = set(FIXTURES)
    for saga in ("order", "registration"):
        assert {f"{saga}_{kind}" for kind in KINDS} <= names
    assert {"order_compensated", "registration_degraded"} <= names


@pytest.mark.parametrize("name", list(FIXTURES))
async def test_history_replays_without_nondeterminism(name: str) -> None:
    replayer = Replayer(
        workflows=[saga.workflow_class() for saga in catalogue()],
        data_converter=data_converter(),
        workflow_runner=WorkerSettings().workflow_runner(),
    )
    history = WorkflowHistory.from_json(name, FIXTURES[name])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{name}: {result.replay_failure}"
