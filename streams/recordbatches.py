"""Producing with aiokafka record batches: one request per broker for a whole group of partitions.

librdkafka (confluent-kafka) sends one ProduceRequest per partition (confluentinc/librdkafka#1700,
open), and the broker's CPU follows its requests. Here the caller groups its records by partition
itself, builds one record batch per partition and hands them all to the producer (`send_batch`)
before yielding: aiokafka's sender then drains them together, one request to each broker, as
Kafka's Java producer does. The workers' outputs (agents/outbox.py) and the load generator's
replay (streams/replay.py) are sent so.

The batches are grouped and encoded in compiled code (native/avro/src/kafkabatch.rs: the same
bytes as aiokafka's builder), a send's records in one call: aiokafka's `BatchBuilder.append` and
the grouping around it took ~1 µs a record in Python, ~3 µs of a transaction's ~50 in the
workers (py-spy of the bench, 2026-12-06).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AIOKafkaError
from paystream_avro import RecordBatch
from paystream_avro import output_batches as _output_batches
from paystream_avro import record_batches as _record_batches

log = logging.getLogger(__name__)

#: A record batch's bound (Kafka's message.max.bytes is 1 MB by default): a partition's records
#: past it go as several batches.
MAX_BATCH_BYTES = 1_000_000
#: Uncompressed. aiokafka compresses lz4 at level 9 (LZ4 HC; librdkafka uses the fast level),
#: ~8% of a worker's busy time in the bench (py-spy, 2026-12-04); uncompressed, the broker's CPU
#: was the same or lower (it validates a compressed batch by decompressing it) and the client's
#: ~25% lower (probe at 2,000 tx/s, three 12-partition topics, flushed every 70 and 300 ms).
#: Kafka's disk and network carry ~2x the bytes: a few MB/s at 10,000 tx/s.
COMPRESSION: str | None = None
#: How long a producer that is given up on may take to stop (its stop flushes what it holds, and
#: an idempotent producer retries an unreachable broker without end).
STOP_TIMEOUT_S = 5.0


def batch_producer(bootstrap_servers: str, request_timeout_s: float,
                   security: dict[str, Any] | None = None) -> AIOKafkaProducer:
    """An idempotent producer (acks=all; a retried request is not written twice) for record
    batches: no linger (a caller's batches are complete when handed over), uncompressed."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, enable_idempotence=True,
                            compression_type=COMPRESSION, max_batch_size=MAX_BATCH_BYTES,
                            linger_ms=0, request_timeout_ms=int(request_timeout_s * 1000),
                            **dict(security or {}))


def record_batches(pairs: list[tuple[bytes, bytes]], partitions: int,
                   timestamps: list[int] | None = None) -> list[tuple[int, RecordBatch, int]]:
    """(key, value) records as closed record batches by partition (Kafka's murmur2 of the key),
    each partition's in order and in as few batches as MAX_BATCH_BYTES allows: [(partition,
    batch, its record count)]. Each record is stamped `timestamps[i]` (ms), or now."""
    return _record_batches(pairs, partitions, _now_ms(), MAX_BATCH_BYTES, timestamps)


def output_batches(messages: list[Any], partitions: dict[str, int]
                   ) -> list[tuple[str, int, RecordBatch]]:
    """Messages (`role`, `key`, `value`, `headers`: agents.batch.OutputMessage) as closed record
    batches by role and partition (murmur2 of the key over `partitions[role]`), each
    partition's in order, all stamped now: [(role, partition, batch)]."""
    return _output_batches(messages, partitions, _now_ms(), MAX_BATCH_BYTES)


def _now_ms() -> int:
    # As aiokafka stamps a record appended without a timestamp (CreateTime, in ms).
    return int(time.time() * 1000)


async def stop(producer: AIOKafkaProducer) -> None:
    """Stop a producer, waiting STOP_TIMEOUT_S at most: what it still holds may be delivered late
    or not at all (its caller resends it or reports it undelivered), but it holds nobody up."""
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
    except (TimeoutError, AIOKafkaError, OSError) as exc:
        log.warning("a Kafka producer did not stop cleanly: %r", exc)
