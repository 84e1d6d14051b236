"""The data converter: pydantic JSON, with a payload that fails validation turned into a clear
`invalid` ApplicationError (so a malformed update is rejected with the field and the reason,
never "Failed decoding arguments")."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.exceptions import ApplicationError

from recovery.validation import describe_validation_error


class _ExplainingJSONConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint: Any = type_hint if type_hint is not None else Any
        try:
            try:
                adapter: TypeAdapter[Any] = self._type_adapter(hint)
            except TypeError:
                adapter = TypeAdapter(hint)  # an unhashable hint: not cached
            # `stored`: a payload already written (history, query result) is read as written; the
            # models' entry checks (control characters) apply where input enters, not here.
            return adapter.validate_json(payload.data, context={"stored": True})
        except ValidationError as err:
            raise ApplicationError(
                f"invalid input: {describe_validation_error(err)}", type="invalid", non_retryable=True
            ) from None


class RecoveryPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json_converter = _ExplainingJSONConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


data_converter = DataConverter(payload_converter_class=RecoveryPayloadConverter)
