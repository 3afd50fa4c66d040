"""The output sender: a failed send starts the batch's retry on a new producer."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

import pytest

from agents import outbox
from agents.batch import OutputMessage
from agents.outbox import OutputSender
from streams.errors import KafkaError
from streams.producer import AckedPublisher
from streams.settings import Settings

MESSAGES = [OutputMessage("decisions", b"k%d" % n, b"v%d" % n) for n in range(3)]


class StuckThenFine:
    """The first producer made never gets an acknowledgement (a stuck librdkafka producer);
    every later one gets them all."""

    made: ClassVar[list[StuckThenFine]] = []

    def __init__(self, _config: dict[str, Any]) -> None:
        self.stuck = not StuckThenFine.made
        self.queued: list[bytes] = []
        self.purged = False
        StuckThenFine.made.append(self)

    def produce(self, _topic: str, value: bytes, _key: bytes, headers: Any = None) -> None:
        self.queued.append(value)

    def flush(self, _timeout: float = 0) -> int:
        if self.stuck and not self.purged:
            return len(self.queued)
        self.queued = []
        return 0

    def purge(self) -> None:
        self.purged = True


def test_a_failed_send_is_retried_on_a_new_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    StuckThenFine.made = []
    monkeypatch.setattr(outbox, "Producer", StuckThenFine)
    sender = OutputSender("unused:1", {"decisions": "decisions"}, flush_timeout_s=0.1)

    with pytest.raises(KafkaError, match="3 pending") as failed:
        asyncio.run(sender.send(MESSAGES))
    assert failed.value.retriable
    stuck = StuckThenFine.made[0]
    assert stuck.purged, "what the stuck producer holds must not be delivered late"

    asyncio.run(sender.send(MESSAGES))  # the pipeline's retry of the same batch
    assert len(StuckThenFine.made) == 2 and sender.producers_replaced == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_real_producer_without_a_broker_is_purged_and_replaced_promptly() -> None:
    # The real librdkafka calls (purge, flush, a second Producer) against a port nobody serves.
    sender = OutputSender(f"127.0.0.1:{_closed_port()}", {"decisions": "decisions"},
                          flush_timeout_s=1.0)
    with pytest.raises(KafkaError, match=r"3 pending.*new producer"):
        asyncio.run(asyncio.wait_for(sender.send(MESSAGES), timeout=20))
    assert sender.producers_replaced == 1


def test_an_acked_publisher_without_a_broker_replaces_its_producer() -> None:
    # The API's verdicts and the partners' callbacks wait for Kafka's acknowledgement: a producer
    # that never gets one (a stuck librdkafka, a broker away) is thrown away, and the caller gets
    # a retriable error naming the record.
    settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    publisher = AckedPublisher(settings, "reviews", "review")
    first = publisher._producer
    record = {"review_id": "rv-1", "tx_id": "tx-1", "source_account": "acc-1",
              "action": "APPROVE", "reviewer": "r", "decided_at": 0}
    with pytest.raises(KafkaError, match=r"tx-1 not acknowledged.*new producer") as raised:
        publisher.publish(record, timeout_s=1.0)
    assert raised.value.retriable
    assert publisher.producers_replaced == 1 and publisher._producer is not first
