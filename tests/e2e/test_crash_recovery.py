"""The processing guarantee end to end: kill -9 a worker three times; nothing lost or doubled."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams.settings import Settings
from streams.topics import topics
from tests.e2e.harness import Worker, kill_at, publish_generated, reconcile

pytestmark = pytest.mark.e2e
TRANSACTIONS = 200_000
GARBAGE = 25


def _publish(settings: Settings) -> None:
    publish_generated(settings, TRANSACTIONS, seed=42, accounts=20_000)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for i in range(GARBAGE):  # undecodable input must reach the DLQ, crash or not
        producer.produce(topics(settings.topic_prefix).transactions.name,
                         value=f'{{"not": "avro", "n": {i}}}'.encode(), key=f"acc-{i}".encode())
    assert producer.flush(30) == 0


def test_sigkill_three_times_loses_and_doubles_nothing(pipeline_settings: Settings,
                                                       tmp_path: Path) -> None:
    settings = pipeline_settings
    _publish(settings)
    decisions = topics(settings.topic_prefix).decisions.name
    victim, survivor = Worker(settings, tmp_path, "victim"), Worker(settings, tmp_path, "survivor")
    victim.start()
    survivor.start()
    try:
        kill_at(settings, decisions, TRANSACTIONS, (0.15, 0.4, 0.65), victim, [victim, survivor])
        code, summary = reconcile(settings, 300, workers=(victim, survivor))
    finally:
        victim.stop()
        survivor.stop()
    assert victim.starts == 4
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["transactions"] == TRANSACTIONS
    assert summary["decisions"] == TRANSACTIONS
    assert summary["dead_lettered"] == GARBAGE
    assert summary["pending"] == {"lag": 0, "outbox_entries": 0}
