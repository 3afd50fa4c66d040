"""The compiled Avro bodies (native/avro, paystream_avro) against fastavro, the reference.

For every record schema we ship, random records encode to fastavro's bytes exactly and those
bytes decode to fastavro's record; what fastavro refuses is refused (by the codec, which hands
the compiled path's refusals to cavro and fastavro).
"""

from __future__ import annotations

import io
import json
import math
from importlib import resources
from typing import Any

import fastavro
import paystream_avro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codec import SingleObjectCodec, _without_timestamp_types, load_versions
from streams.errors import SchemaMismatchError, TruncatedMessageError

SCHEMA_FILES = sorted(e.name for e in resources.files("schemas").iterdir() if e.name.endswith(".avsc"))


def _values(node: Any, names: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one Avro type (fastavro-parsed: named types are declared once, then named)."""
    if isinstance(node, str):
        return names[node] if node in names else _PRIMITIVES[node]
    if isinstance(node, list):
        return st.one_of([_values(branch, names) for branch in node])
    kind = node["type"]
    if kind == "record":
        fields = {f["name"]: _values(f["type"], names) for f in node["fields"]}
        names[node["name"]] = strategy = st.fixed_dictionaries(fields)
        return strategy
    if kind == "enum":
        names[node["name"]] = strategy = st.sampled_from(node["symbols"])
        return strategy
    if kind == "array":
        return st.lists(_values(node["items"], names), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), _values(node["values"], names), max_size=4)
    return _values(kind, names)


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(), "boolean": st.booleans(), "int": st.integers(-2**31, 2**31 - 1),
    "long": st.integers(-2**63, 2**63 - 1), "double": st.floats(allow_nan=False),
    "float": st.floats(width=32, allow_nan=False), "bytes": st.binary(max_size=16),
    "string": st.text(max_size=24),
}


def _parsed(file_name: str) -> Any:
    text = resources.files("schemas").joinpath(file_name).read_text("utf-8")
    return fastavro.parse_schema(_without_timestamp_types(json.loads(text)))


@pytest.mark.parametrize("file_name", SCHEMA_FILES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_bodies_are_fastavros_both_ways(file_name: str, data: st.DataObject) -> None:
    parsed = _parsed(file_name)
    native = paystream_avro.Schema(json.dumps(_without_timestamp_types(
        json.loads(resources.files("schemas").joinpath(file_name).read_text("utf-8")))))
    record = data.draw(_values(parsed, {}))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    body = out.getvalue()
    assert native.encode(record) == body
    decoded = native.decode(body)
    assert decoded == fastavro.schemaless_reader(io.BytesIO(body), parsed, None)
    assert _no_nan(decoded)


def _no_nan(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, dict):
        return all(_no_nan(v) for v in value.values())
    return all(_no_nan(v) for v in value) if isinstance(value, list) else True


def _posting() -> dict[str, Any]:
    return {"posting_id": "tx-1:D", "tx_id": "tx-1", "account": "acc-1", "currency": "EUR",
            "direction": "DEBIT", "amount": 100, "balance_after": 900, "account_seq": 3,
            "event_time": 1_700_000_000_000, "posted_at": 1_700_000_000_100}


@pytest.mark.parametrize("change", [
    {"amount": "100"}, {"amount": None}, {"amount": 2**64},
    {"account": 7}, {"direction": "SIDEWAYS"}, {"direction": 1}, {"direction": True},
])
def test_what_fastavro_refuses_the_codec_refuses(change: dict[str, Any]) -> None:
    codec = SingleObjectCodec(load_versions("posting"))
    with pytest.raises(ValueError):
        codec.writer.native.encode({**_posting(), **change})
    with pytest.raises(SchemaMismatchError):
        codec.encode({**_posting(), **change})


def test_what_only_the_compiled_path_refuses_cavro_encodes_to_the_same_bytes() -> None:
    """A field the schema lacks is ignored, as fastavro ignores it; an int for a double is a
    double. serde_avro_fast refuses both, so they take the slower path to the same bytes."""
    codec = SingleObjectCodec(load_versions("posting"))
    plain = codec.encode(_posting())
    assert codec.encode({**_posting(), "extra": 1}) == plain
    with pytest.raises(ValueError):
        codec.writer.native.encode({**_posting(), "extra": 1})


def test_a_body_cut_short_or_followed_by_bytes_is_refused() -> None:
    codec = SingleObjectCodec(load_versions("posting"))
    body = codec.writer.native.encode(_posting())
    for cut in range(len(body)):
        with pytest.raises(ValueError):
            codec.writer.native.decode(body[:cut])
    with pytest.raises(ValueError, match="1 bytes left"):
        codec.writer.native.decode(body + b"\x00")
    message = codec.encode(_posting())
    with pytest.raises(TruncatedMessageError):
        codec.decode(message[:-1])
    with pytest.raises(SchemaMismatchError):
        codec.decode(message + b"\x00")


def test_a_schema_that_is_not_avro_is_refused() -> None:
    with pytest.raises(ValueError):
        paystream_avro.Schema('{"type": "record", "name": "r", "fields": [{"name": "a", "type": "nope"}]}')


def test_a_batch_with_an_older_writer_inside_still_decodes_in_order() -> None:
    """The compiled path reads batches written with the reader's own schema; one record of an
    older version sends the whole batch to cavro, which resolves it."""
    versions = load_versions("credit")
    new, old = SingleObjectCodec(versions), SingleObjectCodec(versions, writer_version=1)
    credit = {"tx_id": "tx-1", "source_account": "a", "destination_account": "b", "amount": 5,
              "currency": "EUR", "event_time": 1, "origin": "t0", "origin_offset": 9}
    older = {k: v for k, v in credit.items() if k not in ("origin", "origin_offset")}
    batch = new.encode(credit) + old.encode(older) + new.encode(credit)
    assert new._read_all_native(batch) is None
    assert new.decode_all(batch) == [credit, {**older, "origin": None, "origin_offset": None}, credit]
    assert new._read_all_native(new.encode(credit) * 3) == [credit] * 3
