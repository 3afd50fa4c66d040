"""Warm the broker's JIT before a bench measures it.

A freshly started Kafka broker runs its request paths interpreted until HotSpot's compilers
have seen them often enough, and the compiler threads take CPU of their own meanwhile. Measured
on the 2-core bench machine (2026-12-03): the same 100,000 messages at 2,500/s cost the broker
57% of a core right after `make up`, C2's compiler threads most of it (JFR's per-thread CPU),
and 15% a minute later; C2 had spent 26 s of CPU two minutes after a start. A bench run straight
after `make up` charged that one-off cost to its transactions (Kafka 58.9 µs/tx at the max rate
against 22.9 in a run an hour into the stack's life), while the run's floor, measured after it,
found the broker warm.

So before the phases the bench offers the broker the traffic shapes the pipeline makes (an
idempotent lz4 producer's small requests to many partitions, a consumer group's fetches and
commits) on a scratch topic, window by window, until the JIT compiler threads are nearly idle:
under COMPILER_SHARE_WARM of the broker's CPU in a window (read from /proc per thread), or
until `max_s`. What each window cost is printed and kept in the run's results.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from loadtest.procstat import threads_cpu_s, tree_cpu_s
from streams.producer import PRODUCER_DEFAULTS
from streams.topics import delete_topics

#: Messages offered per second: a few thousand produce requests a second over 12 partitions.
RATE_PER_S = 5_000
WINDOW_S = 5.0
#: The JVM's JIT compiler threads, by their names in /proc.
COMPILER_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
#: Warm: the compilers took less than this share of the broker's CPU in a window.
COMPILER_SHARE_WARM = 0.05
#: ~200 bytes each, about a transaction's size, random: lz4 gets no free ride on repeats.
_VALUES = [os.urandom(200) for _ in range(1_000)]


def is_warm(windows: list[tuple[float, float]]) -> bool:
    """Each window: (broker CPU s, of which the JIT compilers' s). The first window also joins
    the consumer group and elects the topic's leaders, so it never decides alone."""
    if len(windows) < 2:
        return False
    broker_s, compiler_s = windows[-1]
    return compiler_s < COMPILER_SHARE_WARM * broker_s


def warm_broker(bootstrap: str, pid: int, partitions: int, max_s: float = 90.0,
                say: Callable[[str], None] = print) -> dict[str, Any]:
    """Offer the broker paced traffic until its JIT is warm; return each window's broker CPU
    per message (µs) and the compilers' share of it."""
    topic = f"bench-warmup-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap, "linger.ms": 5})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic,
                         "auto.offset.reset": "earliest", "enable.auto.commit": True,
                         "auto.commit.interval.ms": 1000})
    consumer.subscribe([topic])
    windows: list[tuple[float, float]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < max_s and not is_warm(windows):
            broker0, compiler0 = tree_cpu_s(pid) or 0.0, threads_cpu_s(pid, COMPILER_THREADS)
            _offer(producer, consumer, topic)
            windows.append(((tree_cpu_s(pid) or 0.0) - broker0,
                            threads_cpu_s(pid, COMPILER_THREADS) - compiler0))
        producer.flush(30)
    finally:
        consumer.close()
        delete_topics(admin, [topic], timeout_s=60)
    per_message = [broker_s / (RATE_PER_S * WINDOW_S) * 1e6 for broker_s, _ in windows]
    compiler_share = [compiler_s / broker_s if broker_s else 0.0 for broker_s, compiler_s in windows]
    warm = is_warm(windows)
    say(f"  broker warm-up, {WINDOW_S:.0f} s windows at {RATE_PER_S:,} messages/s: "
        + ", ".join(f"{us:,.0f} µs/message ({share:.0%} JIT)"
                    for us, share in zip(per_message, compiler_share, strict=True))
        + ("" if warm else f"; still compiling after {max_s:.0f} s"))
    return {"us_per_message_by_window": [round(us, 1) for us in per_message],
            "jit_share_by_window": [round(share, 3) for share in compiler_share],
            "warm": warm, "rate_per_s": RATE_PER_S, "window_s": WINDOW_S}


def _offer(producer: Producer, consumer: Consumer, topic: str) -> None:
    """One window of paced produce, consumed as it goes."""
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < WINDOW_S:
        due = int(elapsed * RATE_PER_S)
        for i in range(sent, due):
            producer.produce(topic, _VALUES[i % len(_VALUES)], i.to_bytes(4, "little"))
        sent = max(sent, due)
        producer.poll(0)
        consumer.consume(10_000, timeout=0.01)
