"""The Faust app: one per deployment, shared by every agent of a worker.

Settings chosen from faust-streaming 0.15's source (see agents/workers.py for why each matters):
raw serializers (we decode Avro ourselves, in batches), no web server, no leader topic, short
session timeout so a killed worker's partitions move within seconds, and standby replicas left
at 1 because Faust's co-partitioning assignor is only used when they are >= 1: it gives the same
partition number of every topic to the same worker, which is what keeps an account's state
owned by one worker.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import faust

from streams.faustbatch import BatchApp, FetchLimits
from streams.settings import Settings, kafka_ssl_context


def create_app(settings: Settings, app_id: str = "paystream", **overrides: Any) -> BatchApp:
    name = f"{settings.topic_prefix}{app_id}"
    options: dict[str, Any] = {
        # Faust creates its data directory even with the memory store, by default in the
        # current directory (`<name>-data`): under the temp directory it litters nobody's tree.
        # (Faust makes only the last component: its parent must exist.)
        "datadir": Path(tempfile.gettempdir()) / f"faust-{name}-data",
        "broker": ",".join(f"kafka://{s}" for s in settings.kafka_bootstrap_servers.split(",")),
        "store": "memory://",
        "web_enabled": False,
        "topic_disable_leader": True,
        "topic_partitions": settings.partitions,
        "table_standby_replicas": 1,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 2.0,
        "stream_wait_empty": True,
        **overrides,
    }
    credentials = _credentials(settings)
    if credentials is not None:
        options.setdefault("broker_credentials", credentials)
    fetch = FetchLimits(settings.worker_fetch_wait_ms, settings.fetch_min_bytes)
    return BatchApp(name, fetch=fetch, **options)


def _credentials(settings: Settings) -> faust.auth.Credentials | None:
    """The workers' Kafka security (aiokafka under Faust), from the same settings as every
    confluent-kafka client (streams.settings.kafka_security)."""
    protocol = settings.kafka_security_protocol
    context = kafka_ssl_context(settings)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(username=settings.kafka_sasl_username,
                                     password=settings.kafka_sasl_password.get_secret_value(),
                                     mechanism=settings.kafka_sasl_mechanism, ssl_context=context)
    return faust.SSLCredentials(context) if context is not None else None


def raw_topic(app: faust.App, name: str) -> Any:
    """A topic whose keys and values reach the agent as the bytes on the wire."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                     value_serializer="raw", partitions=None)
