"""The project's data converter: pydantic models as JSON, without fields at their defaults,
then encrypted (``plumbing.codec``), failure messages and stack traces included.

Every client and worker of the project uses :func:`data_converter`. Leaving defaults out
keeps histories small (a plan, a status document and every step input are mostly
defaults) and loses nothing: decoding into the model restores them. Changing a model's
default therefore changes what running sagas read back; see the README on changing
workflows safely.
"""

from __future__ import annotations

import functools
import traceback
from typing import Any

from pydantic_core import SchemaSerializer, core_schema
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    PayloadConverter,
)
from temporalio.exceptions import ApplicationError

from plumbing.codec import EncryptionCodec, Keyring

_ANY = SchemaSerializer(core_schema.any_schema())
"""Serialises whatever it is given by its runtime type, as the SDK's converter does."""


class CompactJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """Pydantic's JSON converter, leaving out every model field equal to its default."""

    def to_payload(self, value: Any) -> Payload | None:
        data = _ANY.to_json(value, exclude_defaults=True)
        return Payload(metadata={"encoding": self.encoding.encode()}, data=data)


class CompactPayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, with JSON replaced by :class:`CompactJSONPayloadConverter`."""

    def __init__(self) -> None:
        compact = CompactJSONPayloadConverter()
        super().__init__(
            *(
                compact if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


SAGA_FAILURE_PREFIX = "Saga"
"""The type prefix of a saga's own ending (``workflows.saga.saga_failure``)."""


class SagaFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """The SDK's encrypted failures, with a saga's own ending (an ``ApplicationError`` of a
    ``Saga…`` type: ``SagaError``, ``SagaCompensated``) shown as its message alone: the Web
    UI prints a failure's stack trace under its message, and a saga ending short is an
    outcome, not a bug. The trace is kept, as the failure's last detail
    (``{"stack_trace": …}``), after the status document."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        quiet = (
            isinstance(exception, ApplicationError)
            and (exception.type or "").startswith(SAGA_FAILURE_PREFIX)
            and exception.__traceback__ is not None
        )
        if not quiet:
            super().to_failure(exception, payload_converter, failure)
            return
        trace = "".join(traceback.format_tb(exception.__traceback__))
        super().to_failure(exception.with_traceback(None), payload_converter, failure)
        failure.application_failure_info.details.payloads.extend(
            payload_converter.to_payloads([{"stack_trace": trace}])
        )


PLAIN_CONVERTER = DataConverter(payload_converter_class=CompactPayloadConverter)
"""Without encryption: for reading what a codec-less client wrote (replay fixtures)."""


@functools.cache
def data_converter() -> DataConverter:
    """The converter with the keyring from the environment (read once per process)."""
    return DataConverter(
        payload_converter_class=CompactPayloadConverter,
        payload_codec=EncryptionCodec(Keyring.from_env()),
        failure_converter_class=SagaFailureConverter,
    )
