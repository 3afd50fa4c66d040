# Avro binary bodies in compiled code (native/avro/src/lib.rs says what and why).
from typing import Any

# One Avro schema (JSON text), parsed once; ValueError if it is not Avro.
class Schema:
    def __init__(self, json: str) -> None: ...
    # The Avro binary body of `record`; ValueError if it does not fit (fastavro says why).
    def encode(self, record: Any) -> bytes: ...
    # The value whose body is all of `body`; ValueError if it is cut short or bytes are left.
    def decode(self, body: bytes) -> Any: ...
