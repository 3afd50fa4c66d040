"""Sends a batch's outputs to Kafka and waits until every one is acknowledged.

A producer of its own, not Faust's, so we control exactly when a batch is sent and learn when
all of it is acknowledged (before the outbox entry may go). The batch's outputs are grouped by
topic and partition here (murmur2 of the key, as Kafka's default partitioner and librdkafka's
murmur2_random place them) and sent as aiokafka record batches, all of a batch in one
ProduceRequest per broker (streams/recordbatches.py). librdkafka sent one request per partition:
a transactions batch writes ~24 partitions, and the same traffic flushed every 70 ms cost the
broker 16-18 µs per transaction this way against 45-68 by librdkafka, client CPU alike
(loadtest/results/output-producer-2026-12-04/). It runs on the event loop: nothing here blocks,
and Faust's heartbeats keep running while we wait for the broker.

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
from streams.recordbatches import batch_producer, output_batches, stop

log = logging.getLogger(__name__)


class OutputSender:
    """One send at a time (the pipeline chains them): a send that fails replaces the producer,
    whose unfinished work the next send must not wait behind."""

    def __init__(self, bootstrap_servers: str, topic_names: dict[str, str],
                 flush_timeout_s: float = 60.0, security: dict[str, Any] | None = None) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topics = topic_names  # role -> topic
        self._flush_timeout_s = flush_timeout_s  # also each request's timeout
        self._security = security
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}  # role -> its topic's partition count
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
        if len(self._partitions) < len(self._topics):
            for role in {message.role for message in messages} - self._partitions.keys():
                self._partitions[role] = len(await producer.partitions_for(self._topics[role]))
        # Every batch is handed over before the first await that can yield (send_batch waits
        # only behind an earlier batch of the same partition still queued), so the sender
        # drains them together: one request to each broker.
        delivered = [await producer.send_batch(batch, self._topics[role], partition=partition)
                     for role, partition, batch in output_batches(messages, self._partitions)]
        await asyncio.gather(*delivered)

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = batch_producer(self._bootstrap_servers, self._flush_timeout_s,
                                      self._security)
            try:
                await producer.start()
            except BaseException:
                await stop(producer)
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
            await stop(producer)

