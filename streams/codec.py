"""Avro codecs: records (dicts) to framed bytes and back.

Two framings, as the Avro and Confluent specs define them:
- single-object encoding (default): `C3 01`, the writer schema's 8-byte little-endian
  CRC-64-AVRO fingerprint, then the Avro binary body. Needs no registry: every reader that has
  the .avsc files can decode.
- Confluent wire format (when SCHEMA_REGISTRY_URL is set): byte 0, a 4-byte big-endian schema id,
  the body. Registration and id lookup go through confluent_kafka.schema_registry; the framing
  is ours so both paths raise the same errors.

Decoding resolves the writer's schema version to the reader's (the newest known), so v1 and v2
producers and consumers interoperate. Timestamps stay int epoch-millis: the schemas are parsed
without their timestamp logical types, so decode allocates no datetimes.

Every transaction is encoded or decoded ~13 times across the processes, so bodies go through
compiled code first: paystream_avro (native/avro: Rust, serde_avro_fast driven by the schema),
~10x cavro to encode a decision and ~3x to decode (2.0 vs 23.4 µs, 6.4 vs 21.2, 2026-12-03), for
bodies read with the schema they were written with. A body written with another version is
resolved by cavro (Cython; 1.9x fastavro to encode, 1.7x to decode). fastavro stays where speed
does not matter and its behaviour is the reference: what the compiled path refuses goes to cavro
and then fastavro, so a record either encodes to the same bytes or is refused with fastavro's
error, and a bad body (truncated, schema mismatch) is classified exactly as before. Records
back to back (`decode_all`) go the same way: compiled, cavro, then fastavro, which reports where
each ends.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, cast

import cavro
import fastavro
import paystream_avro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from streams.errors import (
    BadMagicError,
    CodecError,
    NotAvroError,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SINGLE_OBJECT_HEADER_SIZE = 10
CONFLUENT_MAGIC = 0
CONFLUENT_HEADER_SIZE = 5

_SCHEMA_FILE = re.compile(r"^(?P<record>[a-z_]+)(?:\.v(?P<version>\d+))?\.avsc$")


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one record schema, parsed once."""

    record: str  # file stem, e.g. "transaction"
    version: int
    text: str  # the .avsc as written (what a registry stores)
    parsed: Any  # fastavro-parsed, timestamp logical types removed
    fingerprint: bytes  # CRC-64-AVRO of the parsing canonical form, little-endian
    native: Any  # paystream_avro.Schema: the compiled encoder and same-version decoder
    fast: Any  # the same schema for cavro (records decode to dicts)
    framed: Any  # cavro: a record of the body and then END_MARK (_read_body says why)

    @classmethod
    def from_text(cls, record: str, version: int, text: str) -> SchemaVersion:
        schema = json.loads(text)
        canonical = to_parsing_canonical_form(schema)
        # fastavro renders the 64-bit fingerprint's bytes in little-endian order, as the
        # single-object spec stores them.
        digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        plain = _without_timestamp_types(schema)
        native = paystream_avro.Schema(json.dumps(plain))
        fast = cavro.Schema(plain, options=CAVRO_OPTIONS)
        framed = cavro.Schema({"type": "record", "name": "paystream_codec_framed", "fields": [
            {"name": "body", "type": plain}, {"name": "end", "type": "bytes"}]},
            options=CAVRO_OPTIONS)
        return cls(record, version, text, parse_schema(plain), digest, native, fast, framed)

    def resolver_to(self, reader: SchemaVersion) -> Any:
        """A cavro schema reading bodies written with this version into `reader`'s shape."""
        return self._resolved(reader, "fast", _RESOLVERS)

    def framed_resolver_to(self, reader: SchemaVersion) -> Any:
        """The same for a body followed by the end mark (`framed`)."""
        return self._resolved(reader, "framed", _FRAMED_RESOLVERS)

    def _resolved(self, reader: SchemaVersion, form: str, cache: dict[tuple[bytes, bytes], Any]) -> Any:
        if reader is self:
            return getattr(self, form)
        key = (self.fingerprint, reader.fingerprint)
        resolved = cache.get(key)
        if resolved is None:
            resolved = cache[key] = getattr(reader, form).reader_for_writer(getattr(self, form))
        return resolved


#: Options passed explicitly: records decode to plain dicts; nothing is coerced (a string in a
#: long field is refused, as fastavro refuses it).
CAVRO_OPTIONS = cavro.Options(record_decodes_to_dict=True, coerce_values_to_int=False,
                              coerce_values_to_str=False, coerce_values_to_float=False,
                              coerce_values_to_boolean=False, missing_values_can_be_null=False)
_RESOLVERS: dict[tuple[bytes, bytes], Any] = {}
_FRAMED_RESOLVERS: dict[tuple[bytes, bytes], Any] = {}
#: Appended to a body before it is read (_read_body): Avro `bytes` holding 16 random bytes
#: drawn when this process starts, which no message can know.
END_MARK = os.urandom(16)
_END = bytes([2 * len(END_MARK)]) + END_MARK  # zigzag length, then the bytes
#: One byte: the first of the next frame in decode_all's fast path, or EOF at the message's end.
_ONE_BYTE = cavro.Schema({"type": "fixed", "name": "one_byte", "size": 1})
#: The rest of a single-object header (magic and fingerprint) after its first byte.
_HEADER_REST = cavro.Schema({"type": "fixed", "name": "header_rest",
                             "size": SINGLE_OBJECT_HEADER_SIZE - 1})


def _without_timestamp_types(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
            node = {k: v for k, v in node.items() if k != "logicalType"}
        return {k: _without_timestamp_types(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_timestamp_types(v) for v in node]
    return node


def load_versions(record: str) -> list[SchemaVersion]:
    """Every version of `record` shipped in schemas/, oldest first."""
    versions = []
    for entry in resources.files("schemas").iterdir():
        match = _SCHEMA_FILE.match(entry.name)
        if match and match["record"] == record:
            version = int(match["version"] or 1)
            versions.append(SchemaVersion.from_text(record, version, entry.read_text("utf-8")))
    if not versions:
        raise UnknownSchemaError(f"no schema file for record {record!r} in schemas/")
    return sorted(versions, key=lambda v: v.version)


class Codec(Protocol):
    def encode(self, record: dict[str, Any]) -> bytes: ...

    def decode(self, data: bytes) -> dict[str, Any]: ...

    def decode_all(self, data: bytes) -> list[dict[str, Any]]: ...


def _write_body(schema: SchemaVersion, record: dict[str, Any], header: bytes) -> bytes:
    try:
        return header + schema.native.encode(record)
    except ValueError:  # e.g. a field the schema lacks, an int for a double: cavro's to judge
        pass
    try:
        return header + schema.fast.binary_encode(record)
    except Exception:  # noqa: BLE001 - fastavro below raises the error we report
        pass
    out = io.BytesIO()
    out.write(header)
    try:
        fastavro.schemaless_writer(out, schema.parsed, record)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise SchemaMismatchError(
            f"record does not fit {schema.record} v{schema.version}: {exc}"
        ) from exc
    return out.getvalue()


def _read_one(data: bytes, offset: int, writer: SchemaVersion,
              reader: SchemaVersion) -> tuple[dict, int]:
    """The record whose body starts at `offset`, and where it ends."""
    body = io.BytesIO(data)
    body.seek(offset)
    reader_schema = None if writer is reader else reader.parsed
    try:
        record = fastavro.schemaless_reader(body, writer.parsed, reader_schema)
    except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, UnicodeError...
        if body.tell() >= len(data) or isinstance(exc, EOFError):
            raise TruncatedMessageError(
                f"{writer.record} v{writer.version} body ends early ({len(data) - offset} bytes)"
            ) from exc
        raise SchemaMismatchError(
            f"body does not decode as {writer.record} v{writer.version}: {exc!r}"
        ) from exc
    return cast(dict, record), body.tell()  # fastavro types any datum; ours are records


def _read_body(data: bytes, offset: int, writer: SchemaVersion, reader: SchemaVersion) -> dict:
    """The body at `offset`, which must end exactly where the message does.

    cavro's reader cannot tell where a body ended, so the message is read with the end mark
    (END_MARK as Avro `bytes`) appended, as a record of the body and then the mark: the mark reads
    back whole only if the body ended exactly at the end of the message. Bytes left after the
    body are read as the mark instead and cannot equal it (16 bytes drawn at random by this
    process); a truncated body reads into the mark. Either way fastavro reads the message again
    and says what is wrong. An EOFError raised and caught after every body did the same check
    before, at ~1.4 of a decode's 3.6 µs (2026-12-02).
    """
    if writer is reader:
        try:
            record, end = writer.native.decode_from(data, offset)
        except ValueError:  # truncated, not this schema: classified below
            end = -1
        if end == len(data):
            return cast(dict, record)
    try:
        framed = writer.framed_resolver_to(reader).binary_read(cavro.MemoryReader(data[offset:] + _END))
    except Exception:  # noqa: BLE001 - fastavro below classifies what is wrong
        framed = None
    if framed is not None and framed["end"] == END_MARK:
        return cast(dict, framed["body"])
    record, end = _read_one(data, offset, writer, reader)
    trailing = len(data) - end
    if trailing:
        raise SchemaMismatchError(
            f"{trailing} bytes left after a {writer.record} v{writer.version} body"
        )
    return record


def _read_all(data: bytes, writer_at: Callable[[bytes, int], tuple[SchemaVersion, int]],
              reader: SchemaVersion) -> list[dict]:
    """Framed records back to back, each with its own header: one message carrying a batch.

    A batch of one is an ordinary message, so a reader of batches reads single records too.
    """
    records, offset = [], 0
    while True:
        writer, start = writer_at(data, offset)
        record, offset = _read_one(data, start, writer, reader)
        records.append(record)
        if offset >= len(data):
            return records


def encode_all(codec: Codec, records: list[dict[str, Any]]) -> bytes:
    """Records back to back in one message value (`decode_all` reads them)."""
    return b"".join(codec.encode(record) for record in records)


def _classify_unframed(data: bytes) -> CodecError:
    if not data:
        return NotAvroError("empty message")
    if data[:1] == SINGLE_OBJECT_MAGIC[:1]:
        if len(data) == 1:
            return TruncatedMessageError("message ends inside the single-object magic")
        return BadMagicError(f"single-object magic expected C3 01, got {data[:2].hex(' ').upper()}")
    if data[0] == CONFLUENT_MAGIC:
        return UnknownSchemaError(
            "Confluent wire-format message but no schema registry configured (SCHEMA_REGISTRY_URL)"
        )
    return NotAvroError(f"not a framed Avro message (starts with {data[:4]!r})")


class SingleObjectCodec:
    """Avro single-object encoding for one record type, all its known versions."""

    def __init__(self, versions: list[SchemaVersion], writer_version: int | None = None,
                 reader_version: int | None = None) -> None:
        """Write `writer_version` and read into `reader_version` (both default to the newest)."""
        if not versions:
            raise UnknownSchemaError("a codec needs at least one schema version")
        self.reader = self._pick(versions, reader_version)
        self.writer = self._pick(versions, writer_version)
        self.known = {v.fingerprint: v for v in versions}
        self._header = SINGLE_OBJECT_MAGIC + self.writer.fingerprint
        self._reader_header = SINGLE_OBJECT_MAGIC + self.reader.fingerprint

    @property
    def reader_header(self) -> bytes:
        """The single-object header of a record written with the reader's schema: the framing
        of nearly every message (sinks/rows.py decodes batches of those in compiled code)."""
        return self._reader_header

    @property
    def writer_header(self) -> bytes:
        """The single-object header `encode` frames its bodies with (agents/outputs.py frames
        the agents' decisions and postings with it in compiled code)."""
        return self._header

    @staticmethod
    def _pick(versions: list[SchemaVersion], version: int | None) -> SchemaVersion:
        if version is None:
            return versions[-1]
        for candidate in versions:
            if candidate.version == version:
                return candidate
        known = [v.version for v in versions]
        raise UnknownSchemaError(f"{versions[0].record} has no version {version} (known: {known})")

    def encode(self, record: dict[str, Any]) -> bytes:
        return _write_body(self.writer, record, self._header)

    def decode(self, data: bytes) -> dict[str, Any]:
        writer, start = self.writer_at(data, 0)
        return _read_body(data, start, writer, self.reader)

    def decode_all(self, data: bytes) -> list[dict[str, Any]]:
        records = self._read_all_native(data)
        if records is None:
            records = self._read_all_fast(data)
        return records if records is not None else _read_all(data, self.writer_at, self.reader)

    def _read_all_native(self, data: bytes) -> list[dict[str, Any]] | None:
        """Framed records back to back, all written with the reader's schema (a batch comes from
        one producer), by the compiled decoder; None if anything else, and cavro reads it."""
        native, records, offset = self.reader.native, [], 0
        try:
            while offset < len(data):
                if not data.startswith(self._reader_header, offset):
                    return None
                record, offset = native.decode_from(data, offset + SINGLE_OBJECT_HEADER_SIZE)
                records.append(record)
        except ValueError:
            return None
        return records or None

    def _read_all_fast(self, data: bytes) -> list[dict[str, Any]] | None:
        """cavro reading framed records back to back (~1.5x fastavro's speed), whatever version
        wrote them; None if anything is off, and fastavro reads the message again to say what."""
        body = cavro.MemoryReader(data)
        records: list[dict[str, Any]] = []
        try:
            while True:
                try:  # one byte first: at the very end of the message this is EOF
                    first = _ONE_BYTE.binary_read(body)
                except EOFError:
                    return records or None
                header = first + _HEADER_REST.binary_read(body)
                writer = self.known.get(header[2:])
                if header[:2] != SINGLE_OBJECT_MAGIC or writer is None:
                    return None
                records.append(writer.resolver_to(self.reader).binary_read(body))
        except Exception:  # noqa: BLE001 - fastavro classifies what is wrong
            return None

    def writer_at(self, data: bytes, offset: int) -> tuple[SchemaVersion, int]:
        """The writer schema of the record framed at `offset`, and where its body starts."""
        if data[offset:offset + 2] != SINGLE_OBJECT_MAGIC:
            raise _classify_unframed(data[offset:])
        end = offset + SINGLE_OBJECT_HEADER_SIZE
        if len(data) < end:
            raise TruncatedMessageError(
                f"single-object header needs {SINGLE_OBJECT_HEADER_SIZE} bytes, "
                f"got {len(data) - offset}"
            )
        writer = self.known.get(data[offset + 2:end])
        if writer is None:
            raise UnknownSchemaError(
                f"unknown writer fingerprint {data[offset + 2:end].hex()} "
                f"for {self.reader.record}"
            )
        return writer, end


class ConfluentCodec:
    """Confluent wire format through a schema registry; also reads single-object messages.

    The writer schema is registered on first encode (never in the constructor: no network there)
    under `<topic>-value` (TopicNameStrategy), and ids seen on decode are fetched once and cached.
    """

    def __init__(
        self,
        versions: list[SchemaVersion],
        registry: Any,  # confluent_kafka.schema_registry.SchemaRegistryClient
        subject: str,
        writer_version: int | None = None,
    ) -> None:
        self._local = SingleObjectCodec(versions, writer_version)
        self._registry = registry
        self._subject = subject
        self._header: bytes | None = None
        self._by_id: dict[int, SchemaVersion] = {}

    def encode(self, record: dict[str, Any]) -> bytes:
        if self._header is None:
            self._header = struct.pack(">bI", CONFLUENT_MAGIC, self._register())
        return _write_body(self._local.writer, record, self._header)

    def _register(self) -> int:
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        writer = self._local.writer
        try:
            return self._registry.register_schema(self._subject, Schema(writer.text, "AVRO"))
        except SchemaRegistryError as exc:
            raise UnknownSchemaError(
                f"registry refused {writer.record} v{writer.version} under {self._subject}: {exc}"
            ) from exc

    def decode(self, data: bytes) -> dict[str, Any]:
        writer, start = self.writer_at(data, 0)
        return _read_body(data, start, writer, self._local.reader)

    def decode_all(self, data: bytes) -> list[dict[str, Any]]:
        return _read_all(data, self.writer_at, self._local.reader)

    def writer_at(self, data: bytes, offset: int) -> tuple[SchemaVersion, int]:
        if data[offset:offset + 2] == SINGLE_OBJECT_MAGIC:
            return self._local.writer_at(data, offset)
        if len(data) <= offset or data[offset] != CONFLUENT_MAGIC:
            raise _classify_unframed(data[offset:])
        end = offset + CONFLUENT_HEADER_SIZE
        if len(data) < end:
            raise TruncatedMessageError(
                f"Confluent header needs {CONFLUENT_HEADER_SIZE} bytes, got {len(data) - offset}"
            )
        (schema_id,) = struct.unpack_from(">I", data, offset + 1)
        return self._by_id.get(schema_id) or self._fetch(schema_id), end

    def _fetch(self, schema_id: int) -> SchemaVersion:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            text = self._registry.get_schema(schema_id).schema_str
        except SchemaRegistryError as exc:
            raise UnknownSchemaError(f"schema id {schema_id} not in the registry: {exc}") from exc
        version = SchemaVersion.from_text(self._local.reader.record, 0, text)
        # Prefer our own parsed copy when the registry holds a schema we ship.
        writer = self._local.known.get(version.fingerprint, version)
        self._by_id[schema_id] = writer
        return writer


def codec_for(record: str, topic: str, registry_url: str | None) -> Codec:
    """The codec a process uses for `record` on `topic`: Confluent when a registry is set."""
    versions = load_versions(record)
    if not registry_url:
        return SingleObjectCodec(versions)
    from confluent_kafka.schema_registry import SchemaRegistryClient

    registry = SchemaRegistryClient.new_client({"url": registry_url})
    return ConfluentCodec(versions, registry, subject=f"{topic}-value")
