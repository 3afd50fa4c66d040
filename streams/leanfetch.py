"""The batch agents' fetched records read in compiled code, not by aiokafka one record at a time.

aiokafka makes every fetched record a ConsumerRecord (eleven fields, its headers copied into a
tuple) in a generator, after checking each record batch's CRC in software: ~3 µs of a
transaction's ~50 in the two workers (py-spy of the bench, 2026-12-06), where the agents read
five fields. For the topics batch agents read (`register`, from BatchApp.batch_queue), a fetch's
data for a partition is read in one call (native/avro/src/kafkabatch.rs `fetched_records`, the
CRC-32C checked in hardware where the CPU has it) into FetchedRecord objects: partition, offset,
timestamp, key and value, uncompressed or LZ4 (what paystream's own producers write: the workers'
outputs and the load generator plain, `paystream produce` LZ4). What that reader does not take
(other codecs, transactional or control batches, an older format: other clients may write them)
is read by aiokafka as before, that partition's whole fetch.

aiokafka offers no extension point here: its fetcher makes `MemoryRecords(data)` and
`PartitionRecords(...)` by their module-level names, which `install` points at the subclasses
below (tests/unit/test_leanfetch.py fails loudly if aiokafka changes either).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.memory_records import MemoryRecords
from paystream_avro import fetched_records

#: The topics whose records are read here (the batch agents' topics).
_LEAN_TOPICS: set[str] = set()


def register(topic: str) -> None:
    """Read `topic`'s fetched records here from now on (in every aiokafka consumer of the
    process: its records are only ever handed to a batch agent)."""
    install()
    _LEAN_TOPICS.add(topic)


class RawMemoryRecords(MemoryRecords):
    """aiokafka's MemoryRecords, keeping the fetched bytes for `fetched_records`."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data


class LeanPartitionRecords(aiokafka_fetcher.PartitionRecords):
    """aiokafka's PartitionRecords, reading a registered topic's records in one call."""

    def _unpack_records(self) -> Iterator[Any]:
        records, tp = self._records, self._tp
        if tp.topic in _LEAN_TOPICS and isinstance(records, RawMemoryRecords):
            try:
                start: int = self.next_fetch_offset  # type: ignore[has-type]  # aiokafka untyped
                read = fetched_records(records.data, start, tp.partition, self._check_crcs)
            except ValueError as exc:  # as aiokafka's own reader says it
                raise CorruptRecordException(f"{exc} - {tp}") from exc
            if read is not None:
                fetched, next_offset = read
                for record in fetched:
                    # A fetch taken in parts (max_records) resumes after the last one taken.
                    self.next_fetch_offset = record.offset + 1
                    yield record
                self.next_fetch_offset = next_offset
                return
        yield from super()._unpack_records()


def install() -> None:
    """Point aiokafka's fetcher at the classes above (idempotent)."""
    aiokafka_fetcher.MemoryRecords = RawMemoryRecords
    aiokafka_fetcher.PartitionRecords = LeanPartitionRecords
