"""The order-return saga as a saga module: ``SAGA_MODULES=order_return`` (or
``--saga-module order_return``) with this folder's parent on ``PYTHONPATH``.

This file is the descriptor only: every reference is a lazy ``"module:Name"`` string, so
listing the catalogue imports no workflow or activity code. It must stay importable inside
the workflow sandbox (the workflow module imports its package): no I/O here.
"""

from __future__ import annotations

from pathlib import Path

from sagas.descriptor import SagaDescriptor, Sample

HERE = Path(__file__).parent
"""This folder: no `resolve()`, the workflow sandbox refuses file-system calls."""

RETURN = SagaDescriptor(
    kind="order_return",
    command="return",
    workflow_type="OrderReturnWorkflow",
    workflow="order_return.workflow:OrderReturnWorkflow",
    activities="order_return.activities:ReturnActivities",
    steps="order_return.models:RETURN_STEPS",
    request="order_return.models:ReturnRequest",
    input_model="order_return.models:ReturnInput",
    input_field="order_return",
    config=HERE / "order_return.yaml",
    api_path="/returns",
    summary="order_return.models:return_summary",
    samples_dir=HERE / "samples",
    samples=(
        Sample(
            "return_sample.json",
            "one Widget A of order 1 comes back (expect complete, refund 32.39)",
        ),
    ),
)
SAGAS = (RETURN,)
