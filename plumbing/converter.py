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
from typing import Any

from pydantic_core import SchemaSerializer, core_schema
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

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


PLAIN_CONVERTER = DataConverter(payload_converter_class=CompactPayloadConverter)
"""Without encryption: for reading what a codec-less client wrote (replay fixtures)."""


@functools.cache
def data_converter() -> DataConverter:
    """The converter with the keyring from the environment (read once per process)."""
    return DataConverter(
        payload_converter_class=CompactPayloadConverter,
        payload_codec=EncryptionCodec(Keyring.from_env()),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
