"""Names of the events the project emits as structured log lines.

The three service-call events are the ``custom_events`` of Tasker's user-registration
config; the HTTP client emits them for every call of either saga.
"""

SERVICE_CALL_STARTED = "service_call_started"
SERVICE_CALL_COMPLETED = "service_call_completed"
SERVICE_CALL_FAILED = "service_call_failed"
EMITTED = frozenset({SERVICE_CALL_STARTED, SERVICE_CALL_COMPLETED, SERVICE_CALL_FAILED})
