"""Sends a batch's outputs to Kafka and waits until every one is acknowledged.

A separate confluent-kafka producer, not Faust's: it batches far better (DESIGN.md budget) and
we control exactly when it is flushed, which must be before the input offsets are committed.
The flush runs in a thread (librdkafka releases the GIL), so the event loop and Faust's
heartbeats keep running while we wait for the broker.

A send that fails throws its producer away and the batch's retry starts with a new one. Seen once
in a fresh-clone CI run (2026-12-01, tests/e2e/test_broker_restart.py, librdkafka 2.16.0, one
broker): after the broker came back, one worker's producer timed out every message for the next
ten minutes while the other worker's recovered at once; librdkafka reports that class of stuck
producer after broker restarts (confluentinc/librdkafka#4976, #1432). A new producer fetches fresh
metadata and opens new connections. Nothing is lost either way: the outputs stay in the outbox
until acknowledged, and a resend is a duplicate the readers already drop by event id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import Producer

from agents.batch import OutputMessage
from streams.errors import KafkaError
from streams.producer import PRODUCER_DEFAULTS

log = logging.getLogger(__name__)


class OutputSender:
    """One send at a time (the pipeline's lock): a send that fails replaces the producer, which
    would purge what a concurrent send had queued on it."""

    def __init__(self, bootstrap_servers: str, topic_names: dict[str, str],
                 flush_timeout_s: float = 60.0, config: dict[str, Any] | None = None) -> None:
        self._topics = topic_names  # role -> topic
        self._flush_timeout_s = flush_timeout_s
        self._errors: list[str] = []
        self._fatal: str | None = None
        self._config = {
            **PRODUCER_DEFAULTS,
            # Outputs wait in the outbox until acknowledged, so keep the wait short.
            "linger.ms": 5,
            **dict(config or {}),
            "bootstrap.servers": bootstrap_servers,
            "error_cb": self._on_error,
            # flush() tells how many are still unacknowledged; only a failed delivery needs a
            # report. A report per message cost ~1.1-1.4 µs of Python each (2026-12-01,
            # 100k produces, with and without), ~3 messages per transaction.
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
        }
        self._producer = Producer(self._config)
        self.producers_replaced = 0

    def _on_error(self, error: RdKafkaError) -> None:
        log.warning("output producer: %s", error.str())
        if error.fatal():
            self._fatal = error.str()

    def _on_delivery(self, error: RdKafkaError | None, _message: Any) -> None:
        if error is not None:
            self._errors.append(error.str())

    def _produce(self, messages: list[OutputMessage]) -> None:
        for message in messages:
            topic = self._topics[message.role]
            while True:
                try:
                    self._producer.produce(topic, message.value, message.key,
                                           headers=message.headers)
                    break
                except BufferError:
                    self._producer.poll(0.05)

    def _produce_and_flush(self, messages: list[OutputMessage]) -> int:
        self._produce(messages)
        return self._producer.flush(self._flush_timeout_s)

    async def send(self, messages: list[OutputMessage]) -> None:
        """Produce all and return once Kafka acknowledged every one; raise if any failed."""
        if not messages:
            return
        loop = asyncio.get_running_loop()
        remaining = await loop.run_in_executor(None, self._produce_and_flush, messages)
        if self._fatal is not None:
            # An idempotent producer that failed fatally never recovers; a new process will.
            raise KafkaError(f"output producer failed fatally: {self._fatal}", retriable=False)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            await loop.run_in_executor(None, self._replace_producer)
            raise KafkaError(f"outputs not acknowledged: {remaining} pending, errors {errors[:3]}"
                             "; the retry starts with a new producer", retriable=True)

    def _replace_producer(self) -> None:
        # purge() drops what the old producer still holds (the retry sends it again), so that
        # it neither delivers late nor reports those messages' timeouts as the new batch's.
        old, self._producer = self._producer, Producer(self._config)
        old.purge()
        old.flush(0)
        self._errors = []
        self.producers_replaced += 1
        log.warning("output producer replaced after a failed send (%d so far)",
                    self.producers_replaced)

    def close(self) -> None:
        self._producer.flush(self._flush_timeout_s)
