"""Record batches built in compiled code (native/avro/src/kafkabatch.rs): the bytes aiokafka's own
builder makes for the same records, grouped by Kafka's partitioner, in order."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from paystream_avro import output_batches as compiled_output_batches
from paystream_avro import record_batches as compiled_record_batches

from agents.batch import OutputMessage
from streams.partitioning import partition_for
from streams.recordbatches import output_batches, record_batches


def aiokafka_bytes(records: list[tuple[bytes | None, bytes | None, int, list]],
                   producer: tuple[int, int, int] | None = None) -> bytes:
    """What aiokafka's builder (as its producer makes it: uncompressed, not transactional) makes."""
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, 0, 1_000_000)
    for offset, (key, value, timestamp, headers) in enumerate(records):
        assert builder.append(offset, timestamp=timestamp, key=key, value=value,
                              headers=headers) is not None
    if producer is not None:
        builder.set_producer_state(*producer)
    return bytes(builder.build())


def read(data: bytes) -> DefaultRecordBatch:
    batch = DefaultRecordBatch(data)
    assert batch.validate_crc()
    return batch


def test_the_bytes_are_aiokafkas_for_the_same_records_times_and_producer_state() -> None:
    pairs = [(b"acc-%d" % n, b"v" * (n * 37 % 300)) for n in range(200)]
    stamps = [1_765_000_000_000 + n * 13 - (n % 7) * 50 for n in range(200)]  # not in order
    [(partition, batch, count)] = compiled_record_batches(pairs, 1, 0, 1_000_000, stamps)
    assert (partition, count, batch.record_count()) == (0, 200, 200)
    batch._set_producer_state(4_321, 7, 1_000)
    expected = aiokafka_bytes([(k, v, t, []) for (k, v), t in zip(pairs, stamps, strict=True)],
                              (4_321, 7, 1_000))
    assert batch._build() == expected
    assert batch._build() is batch._build(), "built once: a retried send re-sends the same bytes"
    with pytest.raises(ValueError, match="built already"):
        batch._set_producer_state(1, 1, 1)


def test_headers_empty_values_and_no_producer_state_read_back_as_aiokafka_writes_them() -> None:
    messages = [OutputMessage("dlq", b"k1", b"bad", [("reason", b"not_avro"), ("empty", b"")]),
                OutputMessage("dlq", b"k1", b"", None),
                OutputMessage("dlq", b"k1", b"\x00" * 200, [("topic", "ünïcode".encode())])]
    [(role, partition, batch)] = compiled_output_batches(messages, {"dlq": 1}, 1_765_000_000_123,
                                                         1_000_000)
    assert (role, partition) == ("dlq", 0)
    data = batch._build()
    assert data == aiokafka_bytes([(m.key, m.value, 1_765_000_000_123, m.headers or [])
                                   for m in messages])
    parsed = read(data)
    assert (parsed.producer_id, parsed.producer_epoch, parsed.base_sequence) == (-1, -1, 0)
    records = list(parsed)
    assert [(r.key, r.value, list(r.headers)) for r in records] == [
        (m.key, m.value, m.headers or []) for m in messages]
    assert [r.timestamp for r in records] == [1_765_000_000_123] * 3


def test_each_roles_records_go_to_their_murmur2_partitions_in_order() -> None:
    counts = {"decisions": 12, "postings": 12, "credits": 5}
    messages = [OutputMessage(role, b"acc-%d" % (n % 97), b"%s-%d" % (role.encode(), n))
                for n in range(3_000) for role in counts]
    batches = output_batches(messages, counts)
    assert len(batches) == len({(role, partition) for role, partition, _ in batches}), \
        "one batch per partition while they fit"
    for role, partition, batch in batches:
        expected = [m.value for m in messages
                    if m.role == role and partition_for(m.key, counts[role]) == partition]
        assert [r.value for r in read(batch._build())] == expected
    assert sum(batch.record_count() for _, _, batch in batches) == len(messages)


def test_a_partitions_records_past_the_byte_bound_go_in_more_batches_in_order() -> None:
    pairs = [(b"one-account", b"%05d" % n + b"x" * 95) for n in range(500)]
    import streams.recordbatches as recordbatches

    bound = recordbatches.MAX_BATCH_BYTES
    try:
        recordbatches.MAX_BATCH_BYTES = 4_096
        groups = record_batches(pairs, 12)
    finally:
        recordbatches.MAX_BATCH_BYTES = bound
    assert len(groups) > 10 and len({partition for partition, _, _ in groups}) == 1
    values = []
    for _, batch, count in groups:
        data = batch._build()
        assert len(data) <= 4_096
        records = list(read(data))
        assert len(records) == count == batch.record_count()
        values += [r.value for r in records]
    assert values == [value for _, value in pairs]


def test_what_is_not_a_record_is_refused_with_what_is_wrong() -> None:
    with pytest.raises(TypeError, match="key must be bytes"):
        compiled_record_batches([("text", b"v")], 1, 0, 1_000_000)
    with pytest.raises(ValueError, match="one timestamp per record"):
        compiled_record_batches([(b"k", b"v")], 1, 0, 1_000_000, [1, 2])
    with pytest.raises(ValueError, match="no partition count for role credits"):
        compiled_output_batches([OutputMessage("credits", b"k", b"v")], {"dlq": 1}, 0, 1_000_000)
    with pytest.raises(ValueError, match="partitions must be positive"):
        compiled_record_batches([(b"k", b"v")], 0, 0, 1_000_000)
