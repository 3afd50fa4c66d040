"""The delivery watchdog (agents/workers.py): a wedged partition is sought once, then the worker
exits if it wedges again soon after; partitions that move again are forgiven."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP

from agents.workers import DeliveryWatchdog

TX = TP("t.transactions", 3)


class _Consumer:
    """What the watchdog asks of BatchConsumer: which partitions are stalled, where delivery
    stands, and a seek."""

    def __init__(self) -> None:
        self.stalled: list[TP] = []
        self.seeks = 0
        self.rewound = 0  # partitions BatchConsumer.perform_seek sent back to their start

    def stalled_partitions(self, now: float, after_s: float) -> list[TP]:
        return list(self.stalled)

    def describe(self) -> list[str]:
        return ["flow active"]

    async def perform_seek(self) -> None:
        self.seeks += 1


def _run(watchdog: DeliveryWatchdog, consumer: Any, now: float) -> None:
    asyncio.run(watchdog.check(consumer, now))


def test_a_stalled_partition_is_sought_first_and_the_worker_exits_if_it_stalls_again() -> None:
    exits: list[int] = []
    consumer = _Consumer()
    watchdog = DeliveryWatchdog(stall_s=30.0, exit=exits.append)
    _run(watchdog, consumer, 0.0)
    assert (consumer.seeks, exits) == (0, [])
    consumer.stalled = [TX]
    _run(watchdog, consumer, 35.0)
    assert (consumer.seeks, exits) == (1, [])
    consumer.stalled = []  # the seek's clock runs again
    _run(watchdog, consumer, 40.0)
    consumer.stalled = [TX]  # wedged again within two stall periods of the seek
    _run(watchdog, consumer, 70.0)
    assert (consumer.seeks, exits) == (1, [1])


def test_a_partition_that_stalls_long_after_its_seek_is_sought_again() -> None:
    exits: list[int] = []
    consumer = _Consumer()
    watchdog = DeliveryWatchdog(stall_s=30.0, exit=exits.append)
    consumer.stalled = [TX]
    _run(watchdog, consumer, 35.0)
    consumer.stalled = []
    _run(watchdog, consumer, 100.0)  # forgotten: more than two stall periods ago
    consumer.stalled = [TX]
    _run(watchdog, consumer, 200.0)
    assert (consumer.seeks, exits) == (2, [])


def test_a_seek_that_fails_is_logged_and_the_next_stall_exits() -> None:
    from aiokafka.errors import KafkaConnectionError

    class Unreachable(_Consumer):
        async def perform_seek(self) -> None:
            self.seeks += 1
            raise KafkaConnectionError("broker unreachable")

    exits: list[int] = []
    consumer = Unreachable()
    consumer.stalled = [TX]
    watchdog = DeliveryWatchdog(stall_s=30.0, exit=exits.append)
    _run(watchdog, consumer, 35.0)
    assert (consumer.seeks, exits) == (1, [])
    _run(watchdog, consumer, 65.0)
    assert (consumer.seeks, exits) == (1, [1])


def test_partitions_sent_back_are_reported_for_the_metrics() -> None:
    """What agents/metrics.py counts (paystream_worker_delivery_reseeks_total): the watchdog's
    seeks, and the consumer's rewinds of uncommitted partitions since the last check."""
    reported: list[tuple[str, int]] = []
    consumer = _Consumer()
    watchdog = DeliveryWatchdog(stall_s=30.0, exit=lambda status: None,
                                reseeks=lambda why, count: reported.append((why, count)))
    consumer.rewound = 12  # a rebalance sent 12 back
    _run(watchdog, consumer, 0.0)
    _run(watchdog, consumer, 5.0)  # nothing new
    consumer.rewound, consumer.stalled = 15, [TX]
    _run(watchdog, consumer, 35.0)
    assert reported == [("uncommitted", 12), ("uncommitted", 3), ("stalled", 1)]
