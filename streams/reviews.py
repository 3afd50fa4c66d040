"""A reviewer's verdict on a held transaction, published to the reviews topic.

Shared by `paystream review` and the analysts' API. The verdict is keyed by the held
transaction's source account, so it reaches the worker that owns the hold; that worker posts the
transaction (APPROVE) or releases the hold (DECLINE). A verdict for a hold that is gone changes
nothing, so publishing the same verdict twice is harmless.
"""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import Producer

from streams.codec import codec_for
from streams.errors import KafkaError, ValidationError
from streams.producer import PRODUCER_DEFAULTS
from streams.settings import Settings, kafka_client_config
from streams.topics import topics as topic_specs

ACTIONS = ("APPROVE", "DECLINE")
#: How long a publish waits for Kafka's acknowledgement before it is reported as failed.
ACK_TIMEOUT_S = 30.0


def verdict(tx_id: str, account: str, action: str, reviewer: str, decided_at_ms: int) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValidationError("action", action, f"expected one of {', '.join(ACTIONS)}")
    return {"review_id": f"{tx_id}:{action}", "tx_id": tx_id, "source_account": account,
            "action": action, "reviewer": reviewer, "decided_at": decided_at_ms}


class VerdictPublisher:
    """One idempotent producer for verdicts; `publish` returns once Kafka has acknowledged."""

    def __init__(self, settings: Settings) -> None:
        self.topic = topic_specs(settings.topic_prefix, settings.partitions).reviews.name
        self._codec = codec_for("review", self.topic, settings.schema_registry_url)
        # A verdict is one small message that someone waits for: no linger, and a report of
        # every delivery (the transaction producer's defaults report only failures).
        self._producer = Producer({**PRODUCER_DEFAULTS, "linger.ms": 0,
                                   "delivery.report.only.error": False,
                                   **kafka_client_config(settings)})
        self._lock = threading.Lock()  # poll() from one thread at a time

    def publish(self, record: dict[str, Any], timeout_s: float = ACK_TIMEOUT_S) -> None:
        """Blocking (call it from a thread in async code)."""
        done = threading.Event()
        outcome: list[Any] = []

        def delivered(error: Any, _message: Any) -> None:
            outcome.append(error)
            done.set()

        self._producer.produce(self.topic, self._codec.encode(record), record["source_account"],
                               on_delivery=delivered)
        waited = 0.0
        while not done.is_set() and waited < timeout_s:
            with self._lock:
                self._producer.poll(0.1)
            waited += 0.1
        if not done.is_set():
            raise KafkaError(f"verdict for {record['tx_id']} not acknowledged by Kafka within "
                             f"{timeout_s:.0f} s", retriable=True)
        if outcome[0] is not None:
            raise KafkaError(f"verdict for {record['tx_id']} refused by Kafka: {outcome[0]}",
                             retriable=bool(outcome[0].retriable()))

    def close(self) -> None:
        self._producer.flush(5)
