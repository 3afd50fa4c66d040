"""Publishing pre-encoded transactions (`paystream produce --replay`, the load generator) the way
Kafka's Java producer does: one produce request per broker per linger, whatever the partitions.

librdkafka (confluent-kafka, `TransactionProducer`) sends one ProduceRequest per partition
(confluentinc/librdkafka#1700, open): replaying at a fixed rate with its 50 ms linger made ~240
requests a second over the 12 transactions partitions, each ~0.5 ms of the broker's CPU on the
2-core bench machine, ~55 µs per transaction at 2,500/s (docs/benchmarks.md, 2026-12-02), more
than the pipeline's own Kafka traffic. Kafka's Java producer, which most upstream systems run,
drains every partition's ready batch for a broker into one request. This does the same with
aiokafka's record batches (streams/recordbatches.py), as the workers' outputs are sent: every
linger the records due are grouped by partition (murmur2 of the key, where librdkafka's
murmur2_random put them), one record batch per partition, all handed over before yielding, so
they leave together.

Each record is stamped with the moment it was due (the rate's schedule), not the moment its
linger ended: the wait for the linger counts in the pipeline's produce -> decision latency, as
it did with librdkafka, which stamps a record when it is queued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AIOKafkaError

from streams.errors import ConfigError, KafkaError
from streams.producer import PublishReport, process_cpu_s
from streams.recordbatches import batch_producer, record_batches, stop
from streams.settings import Settings, aiokafka_security
from streams.topics import topics

#: How long records wait to be sent with the ones due after them (librdkafka's linger.ms, as
#: streams.producer sets it).
LINGER_S = 0.05
#: Records per request when replaying as fast as Kafka takes them: ~2,000 per partition of the
#: 12, ~0.5 MB record batches (under recordbatches.MAX_BATCH_BYTES).
ROUND_MAX = 24_000
#: Rounds handed to the producer and not yet acknowledged, as fast as Kafka takes them (aiokafka
#: keeps one request in flight per broker: the others wait in its queue, ready to go).
IN_FLIGHT_MAX = 4


async def publish_encoded(settings: Settings, records: Iterable[tuple[bytes, bytes]],
                          rate: float | None = None,
                          on_progress: Callable[[int], None] | None = None,
                          ack_timeout_s: float = 120.0) -> PublishReport:
    """Send every (key, value) to the transactions topic, at `rate` per second or as fast as
    Kafka takes them; return once every one is acknowledged or has failed."""
    topic = transactions_topic(settings)
    producer = batch_producer(settings.kafka_bootstrap_servers, ack_timeout_s,
                              aiokafka_security(settings))
    try:
        await producer.start()
        partitions = await _partition_count(producer, topic)
        replay = _Replay(producer, topic, partitions, on_progress, ack_timeout_s)
        return await replay.run(iter(records), rate)
    except AIOKafkaError as exc:
        raise KafkaError(f"cannot publish to {topic!r}: {exc!r}") from exc
    finally:
        await stop(producer)  # what it still holds is reported undelivered, not waited for


def transactions_topic(settings: Settings) -> str:
    return topics(settings.topic_prefix, settings.partitions).transactions.name


async def _partition_count(producer: AIOKafkaProducer, topic: str) -> int:
    """The topic's partitions; a topic that does not exist stops the replay at once, named."""
    found = await producer.client.fetch_all_metadata()
    partitions = found.partitions_for_topic(topic)
    if not partitions:
        raise ConfigError(f"topic {topic!r} does not exist: create the topics with `paystream "
                          f"topics create` (same PAYSTREAM_TOPIC_PREFIX and "
                          f"KAFKA_BOOTSTRAP_SERVERS)")
    return len(partitions)


class _Replay:
    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int,
                 on_progress: Callable[[int], None] | None, ack_timeout_s: float) -> None:
        self._producer, self._topic, self._partitions = producer, topic, partitions
        self._on_progress = on_progress
        self._ack_timeout_s = ack_timeout_s
        self._sent = self._failed = self._undelivered = 0
        self._errors: dict[str, int] = {}
        self._in_flight: list[asyncio.Future[None]] = []

    async def run(self, records: Iterator[tuple[bytes, bytes]], rate: float | None) -> PublishReport:
        cpu_start, start = process_cpu_s(), time.monotonic()
        wall_ms = time.time() * 1000
        count = 0
        while True:
            if rate is None:
                round_ = list(islice(records, ROUND_MAX))
                stamps = None
            else:
                # Every record due by now: the i-th at start + i / rate, stamped then.
                due = int((time.monotonic() - start) * rate) + 1
                round_ = list(islice(records, max(due - count, 0)))
                stamps = [int(wall_ms + (count + i) * 1000 / rate) for i in range(len(round_))]
            if round_:
                await self._send(round_, stamps)
                count += len(round_)
                if self._on_progress is not None:
                    self._on_progress(count)
            elif rate is None or due > count:
                break  # the source is exhausted
            if rate is not None:
                await asyncio.sleep(LINGER_S)
        await self._settle(0)
        return PublishReport(sent=self._sent, failed=self._failed, undelivered=self._undelivered,
                             elapsed_s=time.monotonic() - start,
                             cpu_s=process_cpu_s() - cpu_start, errors=dict(self._errors))

    async def _send(self, round_: list[tuple[bytes, bytes]], stamps: list[int] | None) -> None:
        """One record batch per partition, all handed over before the first await that can
        yield (send_batch waits only behind the same partition's batch still queued)."""
        await self._settle(IN_FLIGHT_MAX - 1)
        delivered = []
        for partition, batch, size in record_batches(round_, self._partitions, stamps):
            future = await self._producer.send_batch(batch, self._topic, partition=partition)
            delivered.append((future, size))
        deadline = asyncio.get_running_loop().time() + self._ack_timeout_s
        self._in_flight.append(asyncio.ensure_future(self._count(delivered, deadline)))

    async def _count(self, delivered: list[tuple[asyncio.Future[Any], int]],
                     deadline: float) -> None:
        """Count a round's records by outcome; one not acknowledged by `deadline` (aiokafka's
        idempotent producer retries an unreachable broker without end) is undelivered."""
        loop = asyncio.get_running_loop()
        for future, size in delivered:
            try:
                await asyncio.wait_for(asyncio.shield(future), max(deadline - loop.time(), 0))
                self._sent += size
            except TimeoutError:
                self._undelivered += size
            except AIOKafkaError as exc:
                self._failed += size
                name = type(exc).__name__
                self._errors[name] = self._errors.get(name, 0) + size

    async def _settle(self, keep: int) -> None:
        """Wait until at most `keep` rounds await their acknowledgements."""
        while len(self._in_flight) > keep:
            await self._in_flight.pop(0)

