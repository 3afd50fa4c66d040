"""Sends a batch's outputs to Kafka and waits until every one is acknowledged.

A producer of its own, not Faust's, so we control exactly when a batch is sent and learn when
all of it is acknowledged (before the outbox entry may go). It is aiokafka's, driven by record
batches: the batch's outputs are grouped by topic and partition here (murmur2 of the key, as
Kafka's default partitioner and librdkafka's murmur2_random place them), each group is one
record batch, and aiokafka sends all of them to a broker in one ProduceRequest. librdkafka
(confluent-kafka) sends one request per partition (confluentinc/librdkafka#1700, open): a
transactions batch writes ~24 partitions, so ~24 requests where one does, and the broker's CPU
follows its requests (~200 µs each on the 2-core test machine; the same traffic flushed every
70 ms cost the broker 16-18 µs per transaction this way against 45-68 by librdkafka, client CPU
alike, loadtest/results/output-producer-2026-12-04/). It runs on the event loop: nothing here
blocks, and Faust's heartbeats keep running while we wait for the broker.

A send that fails or times out throws its producer away and the batch's retry starts with a new
one, which fetches fresh metadata and opens new connections (librdkafka's producers once stayed
stuck after a broker restart, confluentinc/librdkafka#4976; the same rule serves here). Nothing
is lost either way: the outputs stay in the outbox until acknowledged, and a resend, or a late
delivery by the old producer, is a duplicate the readers already drop by event id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AIOKafkaError

from agents.batch import OutputMessage
from streams.errors import KafkaError
from streams.partitioning import partition_for

log = logging.getLogger(__name__)

#: A record batch's bound, as the input producer's (streams.producer): a group past it is sent
#: as several batches.
MAX_BATCH_BYTES = 1_000_000
#: The outputs go uncompressed. aiokafka compresses lz4 at level 9 (LZ4 HC; librdkafka uses the
#: fast level), ~8% of a worker's busy time in the bench (py-spy, 2026-12-04); uncompressed, the
#: broker's CPU was the same or lower (it validates a compressed batch by decompressing it) and
#: the client's ~25% lower (probe at 2,000 tx/s, three 12-partition topics, flushed every 70 and
#: 300 ms). Kafka's disk and network carry ~2x the bytes: a few MB/s at 10,000 tx/s.
COMPRESSION: str | None = None
#: How long a producer replaced after a failure may take to stop before it is left to itself.
STOP_TIMEOUT_S = 5.0


class OutputSender:
    """One send at a time (the pipeline chains them): a send that fails replaces the producer,
    whose unfinished work the next send must not wait behind."""

    def __init__(self, bootstrap_servers: str, topic_names: dict[str, str],
                 flush_timeout_s: float = 60.0, security: dict[str, Any] | None = None) -> None:
        self._topics = topic_names  # role -> topic
        self._flush_timeout_s = flush_timeout_s
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "enable_idempotence": True,  # acks=all; a retried request is not written twice
            "compression_type": COMPRESSION,
            "max_batch_size": MAX_BATCH_BYTES,
            "linger_ms": 0,  # a send's groups are complete when they are handed over
            "request_timeout_ms": int(flush_timeout_s * 1000),
            **dict(security or {}),
        }
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}  # topic -> partition count
        self.producers_replaced = 0

    async def send(self, messages: list[OutputMessage]) -> None:
        """Produce all and return once Kafka acknowledged every one; raise if any failed."""
        if not messages:
            return
        try:
            await asyncio.wait_for(self._send(messages), self._flush_timeout_s)
        except (TimeoutError, AIOKafkaError) as exc:
            await self._replace_producer()
            raise KafkaError(f"{len(messages)} outputs not acknowledged ({exc!r}); the retry "
                             f"starts with a new producer", retriable=True) from exc

    async def _send(self, messages: list[OutputMessage]) -> None:
        producer = await self._started()
        groups: dict[tuple[str, int], list[OutputMessage]] = {}
        for message in messages:
            topic = self._topics[message.role]
            count = self._partitions.get(topic)
            if count is None:
                count = self._partitions[topic] = len(await producer.partitions_for(topic))
            groups.setdefault((topic, partition_for(message.key, count)), []).append(message)
        # Every batch is handed over before the first await that can yield (send_batch waits
        # only behind an earlier batch of the same partition still queued), so the sender
        # drains them together: one request to each broker.
        delivered = []
        for (topic, partition), group in groups.items():
            for batch in _record_batches(producer, group):
                delivered.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*delivered)

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**self._options)
            try:
                await producer.start()
            except BaseException:
                await _stop(producer)
                raise
            self._producer = producer
        return self._producer

    async def _replace_producer(self) -> None:
        await self.close()  # the next send starts a new one
        self.producers_replaced += 1
        log.warning("output producer replaced after a failed send (%d so far)",
                    self.producers_replaced)

    async def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await _stop(producer)


def _record_batches(producer: AIOKafkaProducer, group: list[OutputMessage]) -> list[Any]:
    """The group's messages in order, in as few record batches as their size allows."""
    batches = [producer.create_batch()]
    for message in group:
        # Full: a new batch takes it (a batch's first record always fits, whatever its size).
        while batches[-1].append(key=message.key, value=message.value, timestamp=None,
                                 headers=message.headers or []) is None:
            batches.append(producer.create_batch())
    for batch in batches:
        batch.close()
    return batches


async def _stop(producer: AIOKafkaProducer) -> None:
    """Stop a producer given up on: what it still holds may be delivered late or not at all
    (the retry sends it again), but it must not hold up the retry."""
    try:
        await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
    except (TimeoutError, AIOKafkaError, OSError) as exc:
        log.warning("a replaced output producer did not stop cleanly: %r", exc)
