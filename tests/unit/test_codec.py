"""Codec round trips, schema evolution both ways, and every kind of bad bytes."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codec import (
    ConfluentCodec,
    SingleObjectCodec,
    encode_all,
    load_versions,
)
from streams.errors import (
    BadMagicError,
    CodecError,
    NotAvroError,
    SchemaMismatchError,
    TruncatedMessageError,
    UnknownSchemaError,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
VERSIONS = load_versions("transaction")
V1, V2, V3 = VERSIONS

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(max_size=40)
OPTIONAL_TEXT = st.none() | TEXT


PAYOUTS = st.fixed_dictionaries({
    "send_partner": TEXT, "receive_partner": TEXT, "beneficiary": TEXT, "payout_amount": INT64,
    "payout_currency": TEXT, "fx_rate": TEXT, "quote_id": TEXT})


def transaction_records(with_v2_field: bool = True, with_v3_field: bool = True) -> st.SearchStrategy[dict]:
    types = ["TRANSFER", "PAYMENT", "DEPOSIT", "WITHDRAWAL"] + (["PAYOUT"] if with_v3_field else [])
    fields = {
        "tx_id": TEXT,
        "type": st.sampled_from(types),
        "source_account": TEXT,
        "destination_account": TEXT,
        "amount": INT64,
        "currency": TEXT,
        "event_time": INT64,
        "channel": st.sampled_from(["WEB", "MOBILE", "POS", "ATM", "API", "BRANCH", "OTHER"]),
        "merchant_id": OPTIONAL_TEXT,
        "merchant_category": OPTIONAL_TEXT,
        "country": TEXT,
        "device_id": OPTIONAL_TEXT,
        "ip": OPTIONAL_TEXT,
        "metadata": st.dictionaries(TEXT, TEXT, max_size=4),
    }
    if with_v2_field:
        fields["auth_method"] = OPTIONAL_TEXT
    if with_v3_field:
        fields["payout"] = st.none() | PAYOUTS
    return st.fixed_dictionaries(fields)


@pytest.fixture(scope="module")
def codec() -> SingleObjectCodec:
    return SingleObjectCodec(VERSIONS)


@given(record=transaction_records())
def test_round_trip_newest_version(record: dict) -> None:
    codec = SingleObjectCodec(VERSIONS)
    assert codec.decode(codec.encode(record)) == record


@given(record=transaction_records(with_v2_field=False, with_v3_field=False))
def test_v1_written_v2_read_gets_the_new_fields_default(record: dict) -> None:
    writer = SingleObjectCodec(VERSIONS, writer_version=1)
    reader = SingleObjectCodec(VERSIONS, reader_version=2)
    assert reader.decode(writer.encode(record)) == {**record, "auth_method": None}
    newest = SingleObjectCodec(VERSIONS)
    assert newest.decode(writer.encode(record)) == {**record, "auth_method": None, "payout": None}


@given(record=transaction_records(with_v3_field=False))
def test_v3_adds_payouts_and_v2_readers_still_read_everything_else(record: dict) -> None:
    writer = SingleObjectCodec(VERSIONS)
    reader = SingleObjectCodec(VERSIONS, reader_version=2)
    assert reader.decode(writer.encode({**record, "payout": None})) == record


@given(record=transaction_records(with_v3_field=False))
def test_v2_written_v1_read_drops_the_new_field(record: dict) -> None:
    writer = SingleObjectCodec(VERSIONS, writer_version=2)
    reader = SingleObjectCodec(VERSIONS, reader_version=1)
    expected = {k: v for k, v in record.items() if k != "auth_method"}
    assert reader.decode(writer.encode(record)) == expected


def test_header_is_magic_then_little_endian_crc64_fingerprint(codec: SingleObjectCodec) -> None:
    # The fingerprint of the schema "int" from the Avro spec's test vectors,
    # 0x7275d51a3f395c8f, little-endian.
    assert bytes.fromhex(fastavro.schema.fingerprint('"int"', "CRC-64-AVRO")) == struct.pack(
        "<Q", 0x7275D51A3F395C8F
    )
    data = codec.encode(_valid_record())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == V3.fingerprint


def test_timestamps_stay_integer_millis(codec: SingleObjectCodec) -> None:
    decoded = codec.decode(codec.encode(_valid_record()))
    assert decoded["event_time"] == 1_767_225_600_123
    assert type(decoded["event_time"]) is int


# --- bad bytes: each a specific error ------------------------------------------------------------


@given(data=st.binary(max_size=200).filter(lambda b: b[:1] not in (b"\xc3", b"\x00")))
def test_bytes_without_avro_framing_are_not_avro(data: bytes) -> None:
    with pytest.raises(NotAvroError):
        SingleObjectCodec(VERSIONS).decode(data)


def test_json_is_not_avro(codec: SingleObjectCodec) -> None:
    with pytest.raises(NotAvroError, match="not a framed Avro message"):
        codec.decode(json.dumps(_valid_record()).encode())


@given(second=st.integers(0, 255).filter(lambda b: b != 1), rest=st.binary(max_size=50))
def test_wrong_second_magic_byte_is_bad_magic(second: int, rest: bytes) -> None:
    with pytest.raises(BadMagicError, match="C3 01"):
        SingleObjectCodec(VERSIONS).decode(bytes([0xC3, second]) + rest)


@given(record=transaction_records(), data=st.data())
def test_every_truncation_is_reported_as_truncated(record: dict, data: st.DataObject) -> None:
    encoded = SingleObjectCodec(VERSIONS).encode(record)
    cut = data.draw(st.integers(min_value=1, max_value=len(encoded) - 1))
    with pytest.raises(TruncatedMessageError):
        SingleObjectCodec(VERSIONS).decode(encoded[:cut])


@given(fingerprint=st.binary(min_size=8, max_size=8).filter(
    lambda f: f not in (V1.fingerprint, V2.fingerprint)))
def test_unknown_fingerprint_is_named(fingerprint: bytes) -> None:
    codec = SingleObjectCodec(VERSIONS)
    body = codec.encode(_valid_record())[10:]
    with pytest.raises(UnknownSchemaError, match=fingerprint.hex()):
        codec.decode(b"\xc3\x01" + fingerprint + body)


def test_trailing_bytes_are_a_schema_mismatch(codec: SingleObjectCodec) -> None:
    with pytest.raises(SchemaMismatchError, match="1 bytes left"):
        codec.decode(codec.encode(_valid_record()) + b"\x00")


@given(record=transaction_records(), trailing=st.binary(min_size=1, max_size=40))
def test_any_bytes_after_a_body_are_refused(record: dict, trailing: bytes) -> None:
    """The reader appends its end mark after the message (streams/codec.py _read_body): stray
    bytes, including ones shaped like a mark (an Avro bytes of 16), never pass for the end."""
    codec = SingleObjectCodec(VERSIONS)
    with pytest.raises(CodecError):
        codec.decode(codec.encode(record) + trailing)
    with pytest.raises(CodecError):
        codec.decode(codec.encode(record) + b"\x20" + trailing[:16].ljust(16, b"\x00"))


def test_confluent_frame_without_registry_says_so(codec: SingleObjectCodec) -> None:
    with pytest.raises(UnknownSchemaError, match="SCHEMA_REGISTRY_URL"):
        codec.decode(b"\x00\x00\x00\x00\x01\x02")


@settings(max_examples=300)
@given(body=st.binary(max_size=120))
def test_garbage_after_a_valid_header_raises_only_codec_errors(body: bytes) -> None:
    codec = SingleObjectCodec(VERSIONS)
    try:
        codec.decode(b"\xc3\x01" + V2.fingerprint + body)
    except CodecError:
        pass


def test_record_that_does_not_fit_the_schema_is_refused(codec: SingleObjectCodec) -> None:
    with pytest.raises(SchemaMismatchError, match="transaction v3"):
        codec.encode({**_valid_record(), "type": "REFUND"})


# --- Confluent wire format through the registry client ---------------------------------------


def _registry():  # type: ignore[no-untyped-def]
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient.new_client({"url": "mock://paystream-unit"})


def test_confluent_round_trip_and_evolution() -> None:
    registry = _registry()
    v1_writer = ConfluentCodec(VERSIONS, registry, "tx-value", writer_version=1)
    v3_reader = ConfluentCodec(VERSIONS, registry, "tx-value")
    record = {k: v for k, v in _valid_record().items() if k not in ("auth_method", "payout")}
    data = v1_writer.encode(record)
    assert data[0] == 0 and len(data) > 5
    assert v3_reader.decode(data) == {**record, "auth_method": None, "payout": None}


def test_confluent_codec_reads_single_object_messages_too() -> None:
    codec = ConfluentCodec(VERSIONS, _registry(), "tx-value")
    assert codec.decode(SingleObjectCodec(VERSIONS).encode(_valid_record())) == _valid_record()


def test_confluent_unknown_id_and_short_header() -> None:
    codec = ConfluentCodec(VERSIONS, _registry(), "tx-value")
    with pytest.raises(UnknownSchemaError, match="schema id 4242"):
        codec.decode(struct.pack(">bI", 0, 4242) + b"\x02")
    with pytest.raises(TruncatedMessageError, match="Confluent header"):
        codec.decode(b"\x00\x00\x01")


# --- the contract, readable without our code ---------------------------------------------------


def test_single_object_message_decodes_with_plain_fastavro_and_the_schema_file() -> None:
    data = SingleObjectCodec(VERSIONS).encode(_valid_record())
    schema = json.loads((SCHEMAS / "transaction.v3.avsc").read_text())
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10].hex() == fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    decoded = fastavro.schemaless_reader(io.BytesIO(data[10:]), fastavro.parse_schema(schema))
    assert decoded["tx_id"] == "tx-1" and decoded["amount"] == 12_345


def _valid_record() -> dict:
    return {
        "tx_id": "tx-1", "type": "PAYMENT", "source_account": "acc-00000001",
        "destination_account": "mer-7", "amount": 12_345, "currency": "EUR",
        "event_time": 1_767_225_600_123, "channel": "WEB", "merchant_id": "mer-7",
        "merchant_category": "5411", "country": "DE", "device_id": "dev-1", "ip": "10.0.0.1",
        "metadata": {"order": "42"}, "auth_method": "THREE_DS", "payout": None,
    }


@given(st.lists(transaction_records(), min_size=1, max_size=5))
def test_records_back_to_back_decode_in_order(records: list[dict]) -> None:
    codec = SingleObjectCodec(load_versions("transaction"))
    data = encode_all(codec, records)
    assert codec.decode_all(data) == [codec.decode(codec.encode(r)) for r in records]


def test_a_batch_cut_short_is_truncated_and_trailing_garbage_is_named() -> None:
    codec = SingleObjectCodec(load_versions("transaction"))
    record = {"tx_id": "t", "type": "TRANSFER", "source_account": "a", "destination_account": "b",
              "amount": 1, "currency": "EUR", "event_time": 1, "channel": "WEB", "country": "DE"}
    data = encode_all(codec, [record, record])
    with pytest.raises(TruncatedMessageError):
        codec.decode_all(data[:-1])
    with pytest.raises(NotAvroError):
        codec.decode_all(data + b"{}")
