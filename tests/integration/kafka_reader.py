"""Reading a topic back in tests: every message, raw, with a bounded wait."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer


def read_messages(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[Any]:
    """Return the first `expected` messages of `topic` (all partitions), or fail on timeout."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-reader-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=5000, timeout=0.5):
                if message.error():
                    raise AssertionError(f"reading {topic}: {message.error()}")
                messages.append(message)
    finally:
        consumer.close()
    assert len(messages) >= expected, f"{topic}: got {len(messages)} of {expected} messages"
    return messages
