"""The paystream error hierarchy: one root, one subclass per thing that can go wrong.

Every error says what was wrong and, for bad input, which field and value. `retriable` tells a
caller whether trying the same thing again may succeed (as aiokafka's errors do), so nobody has
to parse messages to decide.
"""

from __future__ import annotations


class PaystreamError(Exception):
    """Root of every error paystream raises on purpose."""

    retriable: bool = False


class ConfigError(PaystreamError):
    """A setting or config file is invalid; the program must not start."""


class ValidationError(PaystreamError):
    """A transaction is well-formed Avro but breaks a business rule (amount <= 0, bad currency...)."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class CodecError(PaystreamError):
    """Bytes could not be turned into a record, or a record into bytes."""

    #: Short machine-readable name, used as the dead-letter reason.
    code: str = "codec_error"


class NotAvroError(CodecError):
    """The bytes are not in any Avro framing we know (empty, JSON, text...)."""

    code = "not_avro"


class BadMagicError(CodecError):
    """The bytes start like a framed Avro message but the magic bytes are wrong."""

    code = "bad_magic"


class UnknownSchemaError(CodecError):
    """The writer schema's fingerprint or registry id is not one we know."""

    code = "unknown_schema"


class TruncatedMessageError(CodecError):
    """The header or body ends before the schema says it should."""

    code = "truncated"


class SchemaMismatchError(CodecError):
    """The body does not decode with the writer schema its header names, or a record does not fit."""

    code = "schema_mismatch"


class StateStoreError(PaystreamError):
    """The account-state store (Redis) could not be reached or did not answer in time; a batch
    waits and is tried again."""

    retriable = True


class KafkaError(PaystreamError):
    """Kafka refused or failed an operation; `retriable` follows librdkafka's verdict."""

    def __init__(self, message: str, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable
