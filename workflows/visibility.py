"""Custom search attributes, so sagas can be listed and filtered in the UI and the CLI.

Register them on the server before use (``runtime.devserver`` does; the compose stack's
setup job does). A saga started without them (the time-skipping test server cannot
register any) simply does not publish its state.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributeKey

SAGA_STATE = SearchAttributeKey.for_keyword("SagaState")
CORRELATION_ID = SearchAttributeKey.for_keyword("CorrelationId")
ALL = (SAGA_STATE, CORRELATION_ID)


def publish_state(state: str, correlation_id: str) -> None:
    """Upsert ``SagaState`` and ``CorrelationId`` when the saga was started with them
    enabled (the starter sets ``SagaState`` at start, and ``CorrelationId`` when the input
    has one) and they changed: an upsert is a history event."""
    current = workflow.info().typed_search_attributes
    if current.get(SAGA_STATE) is None:
        return
    if current.get(SAGA_STATE) == state and current.get(CORRELATION_ID) == correlation_id:
        return
    workflow.upsert_search_attributes(
        [SAGA_STATE.value_set(state), CORRELATION_ID.value_set(correlation_id)]
    )
