"""The batch agents' fetched records read in compiled code (streams/leanfetch.py): the records,
positions and errors aiokafka's own reader gives for the same fetch, and the aiokafka internals
the reader is installed through."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import TopicPartition
from paystream_avro import record_batches

from streams import leanfetch

TOPIC = "t-lean.transactions"
GZIP, LZ4 = 1, 3  # the codec bits of a record batch's attributes


def plain_batches(first_offset: int, pairs: list[tuple[bytes, bytes]], stamps: list[int]) -> bytes:
    """Record batches as our producers write them, their base offsets set as the broker does."""
    out = b""
    offset = first_offset
    for start in range(0, len(pairs), 7):  # several batches
        [(_, batch, count)] = record_batches(pairs[start:start + 7], 1, 0, 1_000_000,
                                             stamps[start:start + 7])
        batch._set_producer_state(9, 0, start)
        data = bytearray(batch._build())
        data[0:8] = offset.to_bytes(8, "big")
        out += bytes(data)
        offset += count
    return out


def compressed_batch(base_offset: int, codec: int = 1) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, 0, 1_000_000)
    for i in range(3):
        builder.append(i, timestamp=1_000 + i, key=b"gz", value=b"zipped-%d" % i, headers=[])
    data = bytearray(builder.build())
    data[0:8] = base_offset.to_bytes(8, "big")
    return bytes(data)


def read(data: bytes, fetch_offset: int, topic: str, max_records: int | None = None
         ) -> tuple[list[tuple[int, int, bytes | None, bytes | None]], int]:
    """The records a fetch of `data` yields, as aiokafka's fetcher would build its reader."""
    records = aiokafka_fetcher.PartitionRecords(
        TopicPartition(topic, 3), aiokafka_fetcher.MemoryRecords(data), [], fetch_offset, None,
        None, True, aiokafka_fetcher.READ_UNCOMMITTED)
    out = []
    for record in records:
        assert record.partition == 3
        out.append((record.offset, record.timestamp, record.key, record.value))
        if max_records is not None and len(out) == max_records:
            break
    return out, records.next_fetch_offset


@pytest.fixture(autouse=True)
def lean() -> None:
    leanfetch.register(TOPIC)


PAIRS = [(b"acc-%d" % n, b"value-%d" % n * (n % 5)) for n in range(40)]
STAMPS = [1_765_000_000_000 + n * 3 - (n % 4) for n in range(40)]


def test_a_fetch_reads_as_aiokafka_reads_it_from_inside_a_batch_to_a_cut_short_end() -> None:
    data = plain_batches(100, PAIRS, STAMPS)
    data += plain_batches(140, [(b"k", b"v")], [1])[:30]  # the next batch, cut by the fetch bound
    # The broker sends from the batch that holds the offset asked for: the first one here.
    for fetch_offset in (100, 103, 106):
        assert read(data, fetch_offset, TOPIC) == read(data, fetch_offset, "not-lean"), fetch_offset
    records, position = read(data, 103, TOPIC)
    assert [r[0] for r in records] == list(range(103, 140)) and position == 140
    assert records[0][1:] == (STAMPS[3], PAIRS[3][0], PAIRS[3][1])
    with_read = aiokafka_fetcher.PartitionRecords(
        TopicPartition(TOPIC, 3), aiokafka_fetcher.MemoryRecords(data), [], 100, None, None,
        True, aiokafka_fetcher.READ_UNCOMMITTED)
    assert type(next(with_read)).__name__ == "FetchedRecord", "the compiled reader took it"


def test_a_fetch_taken_in_parts_resumes_after_the_last_record_taken() -> None:
    data = plain_batches(0, PAIRS, STAMPS)
    assert read(data, 0, TOPIC, max_records=10) == read(data, 0, "not-lean", max_records=10)
    assert read(data, 0, TOPIC, max_records=10)[1] == 10


def test_what_the_compiled_reader_does_not_take_aiokafka_reads() -> None:
    data = plain_batches(0, PAIRS[:7], STAMPS[:7]) + compressed_batch(7)
    records, position = read(data, 0, TOPIC)
    assert records == read(data, 0, "not-lean")[0]
    assert [r[3] for r in records[-3:]] == [b"zipped-0", b"zipped-1", b"zipped-2"]
    assert position == 10


def test_a_batch_whose_checksum_fails_raises_as_aiokafka_does() -> None:
    data = bytearray(plain_batches(0, PAIRS[:7], STAMPS[:7]))
    data[-1] ^= 0xFF
    for topic in (TOPIC, "not-lean"):
        with pytest.raises(CorruptRecordException):
            read(bytes(data), 0, topic)


def test_the_aiokafka_internals_the_reader_is_installed_through() -> None:
    # The fetcher makes its readers by these module-level names, with these arguments.
    source = inspect.getsource(aiokafka_fetcher.Fetcher._proc_fetch_request)
    assert "records = MemoryRecords(part_data[-1])" in source
    assert "partition_records = PartitionRecords(" in source
    assert aiokafka_fetcher.MemoryRecords is leanfetch.RawMemoryRecords
    assert aiokafka_fetcher.PartitionRecords is leanfetch.LeanPartitionRecords
    parameters: list[Any] = list(inspect.signature(
        leanfetch.LeanPartitionRecords.__mro__[1].__init__).parameters)
    assert parameters == ["self", "tp", "records", "aborted_transactions", "fetch_offset",
                          "key_deserializer", "value_deserializer", "check_crcs",
                          "isolation_level"]
    base = inspect.getsource(leanfetch.LeanPartitionRecords.__mro__[1])
    for name in ("self._records_iterator = self._unpack_records()", "self.next_fetch_offset",
                 "self._check_crcs", "self._tp"):
        assert name in base, name


def test_lz4_batches_as_librdkafka_and_aiokafka_write_them_are_read_here() -> None:
    data = compressed_batch(50, LZ4) + plain_batches(53, PAIRS[:7], STAMPS[:7])
    assert read(data, 51, TOPIC) == read(data, 51, "not-lean")
    records, position = read(data, 50, TOPIC)
    assert [r[3] for r in records[:3]] == [b"zipped-0", b"zipped-1", b"zipped-2"]
    assert position == 60
    from paystream_avro import fetched_records
    assert fetched_records(data, 50, 3, True) is not None, "read by the compiled reader"
    assert fetched_records(compressed_batch(0, GZIP), 0, 3, True) is None, "gzip: aiokafka's"
