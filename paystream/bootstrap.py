"""Composition root: builds the clients each command needs from one Settings object."""

from __future__ import annotations

from typing import Any

from streams.settings import Settings, kafka_client_config


def admin_client(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(kafka_client_config(settings))


def reading_consumer(settings: Settings, client_id: str) -> Any:
    """A consumer that commits nothing: for reading topics from the start (peek, checks)."""
    from confluent_kafka import Consumer

    return Consumer({
        **kafka_client_config(settings),
        "group.id": f"paystream-{client_id}",
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })
