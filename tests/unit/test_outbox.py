"""The output sender: one record batch per partition, and a failed send starts the batch's retry
on a new producer."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

import pytest
from aiokafka.record.default_records import DefaultRecordBatch

from agents.batch import OutputMessage
from agents.outbox import OutputSender
from streams import recordbatches
from streams.errors import KafkaError
from streams.partitioning import partition_for
from streams.producer import AckedPublisher
from streams.settings import Settings

MESSAGES = [OutputMessage("decisions", b"k%d" % n, b"v%d" % n) for n in range(3)]


class StuckThenFine:
    """The first producer made never gets an acknowledgement (a producer stuck after a broker
    restart); every later one gets them all."""

    made: ClassVar[list[StuckThenFine]] = []

    def __init__(self, **_options: Any) -> None:
        self.stuck = not StuckThenFine.made
        self.sent: list[tuple[str, int, list[bytes]]] = []
        self.stopped = False
        StuckThenFine.made.append(self)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, _topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future:
        self.sent.append((topic, partition, [r.value for r in DefaultRecordBatch(batch._build())]))
        future = asyncio.get_running_loop().create_future()
        if not self.stuck:
            future.set_result(None)
        return future


def test_a_failed_send_is_retried_on_a_new_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    StuckThenFine.made = []
    monkeypatch.setattr(recordbatches, "AIOKafkaProducer", StuckThenFine)
    sender = OutputSender("unused:1", {"decisions": "decisions"}, flush_timeout_s=0.1)

    with pytest.raises(KafkaError, match="3 outputs not acknowledged") as failed:
        asyncio.run(sender.send(MESSAGES))
    assert failed.value.retriable
    assert StuckThenFine.made[0].stopped, "the stuck producer must not hold up the retry"

    asyncio.run(sender.send(MESSAGES))  # the pipeline's retry of the same batch
    assert len(StuckThenFine.made) == 2 and sender.producers_replaced == 1


def test_a_batch_goes_out_as_one_record_batch_per_partition_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    StuckThenFine.made = [object()]  # type: ignore[list-item]  # the next one is not stuck
    monkeypatch.setattr(recordbatches, "AIOKafkaProducer", StuckThenFine)
    sender = OutputSender("unused:1", {"decisions": "decisions", "credits": "credits"})
    messages = [OutputMessage(role, b"acc-%d" % (n % 5), b"%s-%d" % (role.encode(), n))
                for n in range(40) for role in ("decisions", "credits")]
    asyncio.run(sender.send(messages))
    sent = StuckThenFine.made[1].sent
    assert len(sent) == len({(topic, partition) for topic, partition, _ in sent})
    for topic, partition, values in sent:
        expected = [m.value for m in messages if m.role == topic
                    and partition_for(m.key, 4) == partition]
        assert values == expected, "a partition's outputs in the batch's order, all of them"
    assert sum(len(values) for _, _, values in sent) == len(messages)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_real_producer_without_a_broker_fails_promptly_and_is_replaced() -> None:
    # aiokafka's own calls (start, metadata, stop) against a port nobody serves.
    sender = OutputSender(f"127.0.0.1:{_closed_port()}", {"decisions": "decisions"},
                          flush_timeout_s=1.0)
    with pytest.raises(KafkaError, match=r"3 outputs not acknowledged.*new producer") as failed:
        asyncio.run(asyncio.wait_for(sender.send(MESSAGES), timeout=20))
    assert failed.value.retriable
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
