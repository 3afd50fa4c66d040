"""The composition root: every client, store, pipeline and sink runner paystream's processes
use, built from one Settings object. Commands (paystream/*_cli.py), the benchmarks and the tests
take what they need from here; nothing else constructs them.

Heavy parts (the agents, scikit-learn, the sinks) are imported inside the functions that build
them, so a light command (`paystream topics list`) does not load the fraud model's stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.settings import Settings, kafka_client_config, notify_redis_url
from streams.topics import topics

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from agents.outbox import OutputSender
    from agents.pipeline import BatchObserver, BatchPipeline
    from agents.ports import Sender, StateStore
    from agents.rules import Rules
    from agents.store import RedisStateStore
    from sinks.runner import SinkRunner


# --- Kafka clients ------------------------------------------------------------------------------


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


def offsets_reader(settings: Settings, group: str) -> Any:
    """A consumer of `group` that joins nothing: it only reads the group's committed offsets."""
    from confluent_kafka import Consumer

    return Consumer({**kafka_client_config(settings), "group.id": group,
                     "enable.auto.commit": False})


# --- the workers' pipeline ----------------------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def state_redis(settings: Settings, **options: Any) -> Any:
    """A client of the account-state Redis: one server, or a Redis Cluster (REDIS_CLUSTER)."""
    from streams.accounts import state_client

    return state_client(settings.redis_url, settings.redis_cluster, **options)


def state_store(settings: Settings, redis: Redis | None = None) -> RedisStateStore:
    from agents.store import ClusterStateStore, RedisStateStore

    # Records are pruned by event time (see agents/store.py); this TTL only covers the few
    # that live outside the index (credited-only marks, holds resolved after the window).
    tx_ttl_s = (settings.dedupe_window_ms + settings.max_clock_skew_ms) // 1000
    client: Any = redis or state_redis(settings, socket_timeout=settings.redis_reply_timeout_s)
    kind = ClusterStateStore if settings.redis_cluster else RedisStateStore
    return kind(client, settings.topic_prefix, tx_ttl_s=tx_ttl_s,
                window_ms=settings.dedupe_window_ms, commit_with=settings.state_commit)


def check_state_layout(settings: Settings) -> str:
    """Stop here if the account state is in a layout this build does not read
    (streams/state_layout.py), or if PAYSTREAM_STATE_COMMIT=module and the server has no module;
    return how batches will commit ("module" or "lua"). An unreachable Redis is a
    StateStoreError, said as such."""
    import asyncio

    from agents.store import commit_kind, unavailable_is_retriable
    from streams import state_layout

    async def check() -> str:
        redis = state_redis(settings, socket_timeout=30)
        try:
            await state_layout.check(redis, settings.topic_prefix)
            if settings.redis_cluster:
                return "lua"  # a cluster's batches commit by the script (agents/store.py)
            return await commit_kind(redis, settings.state_commit)
        finally:
            await redis.aclose()

    with unavailable_is_retriable():
        return asyncio.run(check())


def output_sender(settings: Settings) -> OutputSender:
    from agents.outbox import OutputSender
    from streams.settings import aiokafka_security

    names = topics(settings.topic_prefix, settings.partitions)
    return OutputSender(settings.kafka_bootstrap_servers, {
        "decisions": names.decisions.name, "postings": names.postings.name,
        "credits": names.credits.name, "dlq": names.dlq.name, "labels": names.labels.name,
        "payout_results": names.payout_results.name,
    }, security=aiokafka_security(settings))


def build_pipeline(settings: Settings, rules: Rules | None = None,
                   redis: Redis | None = None, observer: BatchObserver | None = None,
                   store: StateStore | None = None, sender: Sender | None = None) -> BatchPipeline:
    """The pipeline on Redis and Kafka; `store` and `sender` replace those (tests wrap them)."""
    from threadpoolctl import threadpool_limits

    from agents.authorizer import Authorizer, Codecs
    from agents.fraud.model import ModelRegistry
    from agents.payouts import PayoutSettler
    from agents.pipeline import BatchPipeline
    from agents.reviewer import Reviewer
    from agents.rules import load_rules
    from agents.settler import Settler
    from streams.codec import codec_for
    from streams.quotes import quote_source

    names = topics(settings.topic_prefix, settings.partitions)
    registry = settings.schema_registry_url
    codecs = Codecs(
        transaction=codec_for("transaction", names.transactions.name, registry),
        decision=codec_for("decision", names.decisions.name, registry),
        posting=codec_for("posting", names.postings.name, registry),
        credit=codec_for("credit", names.credits.name, registry),
    )
    if rules is None:
        rules = load_rules(Path(settings.rules_path) if settings.rules_path else None)
    store = store or state_store(settings, redis)
    sender = sender or output_sender(settings)
    # One worker process per core: scikit-learn's OpenMP (and BLAS) threads would only compete
    # with the other worker and the servers, and their spin-waits after each predict cost CPU
    # (loadtest/fraud_bench.py). A limit only reaches libraries already loaded: load them first.
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the models use)

    threadpool_limits(limits=1)
    models = ModelRegistry(Path(settings.models_dir), settings.model, settings.shadow_model or None,
                           check_every_s=settings.model_check_s)
    authorizer = Authorizer(rules, codecs, names.transactions.name, settings.dedupe_window_ms, now_ms,
                            models=models, partitions=settings.partitions,
                            quotes=quote_source(settings.quotes_path),
                            payout_deadlines=payout_deadlines(settings))
    settler = Settler(codecs.credit, codecs.posting, now_ms)
    payout_results = codec_for("payout_result", names.payout_results.name, registry)
    reviewer = Reviewer(codec_for("review", names.reviews.name, registry), authorizer,
                        codec_for("fraud_label", names.labels.name, registry), now_ms,
                        payout_results=payout_results)
    payouts = PayoutSettler(codec_for("payout_outcome", names.payout_outcomes.name, registry),
                            payout_results, codecs.posting, now_ms)
    return BatchPipeline(store, sender, authorizer, settler, reviewer, now_ms,
                         settings.max_clock_skew_ms, settings.partitions, observer, payouts)


def payout_deadlines(settings: Settings) -> dict[str, int]:
    """Receive partners' own payout deadlines, from the partners file (read without secrets)."""
    return {p.partner_id: p.payout_deadline_s for p in partners_without_secrets(settings)
            if p.payout_deadline_s is not None}


# --- sinks --------------------------------------------------------------------------------------


def sink_inputs(settings: Settings, roles: tuple[str, ...]) -> dict[str, tuple[str, Any]]:
    """topic -> (role, codec) for the topic roles a sink reads."""
    from streams.codec import codec_for

    names = topics(settings.topic_prefix, settings.partitions)
    records = {"postings": "posting", "decisions": "decision", "labels": "fraud_label",
               "payout_results": "payout_result"}
    return {getattr(names, role).name: (role, codec_for(records[role], getattr(names, role).name,
                                                        settings.schema_registry_url))
            for role in roles}


def build_runner(name: str, settings: Settings, group: str | None = None) -> SinkRunner:
    """The sink `name` (ledger, reporting, labels) reading its topics into PostgreSQL."""
    from sinks.db import PostgresStore
    from sinks.labels import LabelsWriter
    from sinks.ledger import LedgerWriter
    from sinks.reporting import ReportingWriter
    from sinks.rows import decisions, postings
    from sinks.runner import SINK_INPUTS, SinkRunner
    from streams.errors import ConfigError

    if name not in SINK_INPUTS:
        raise ConfigError(f"no sink named {name!r} (known: {', '.join(SINK_INPUTS)})")
    sweep = None
    writer: Callable[[Any], Any]  # a connection -> the sink's writer
    if name == "labels":  # the label-risk sets live beside the account state the workers read
        from sinks.labels import LABELS_SWEEP_S

        redis = state_redis(settings, socket_timeout=10)

        def labels_writer(connection: Any) -> LabelsWriter:
            return LabelsWriter(connection, redis, settings.topic_prefix)
        writer, sweep = labels_writer, LABELS_SWEEP_S
    else:
        writer = {"ledger": LedgerWriter, "reporting": ReportingWriter}[name]
        if name == "reporting":  # an idle sink still compacts what it appended (sinks.reporting)
            from sinks.reporting import COMPACT_EVERY_S

            sweep = COMPACT_EVERY_S
    store = PostgresStore(settings.database_url, settings.db_schema, writer,
                          rows={"ledger": postings, "reporting": decisions}.get(name))
    return SinkRunner(name, settings, sink_inputs(settings, SINK_INPUTS[name]), store,
                      group=group, sweep_every_s=sweep)


def build_notify_runner(partner: Any, settings: Settings,
                        backoff_base_s: float = 0.5) -> SinkRunner:
    """A partner's webhook delivery, as a sink of its own (sinks.webhooks)."""
    from sinks.runner import SinkRunner
    from sinks.webhooks import WebhookStore, partner_inputs, sink_name

    store = WebhookStore(partner, notify_redis_url(settings), settings.topic_prefix,
                         backoff_base_s=backoff_base_s, in_flight_max=partner.in_flight_max)
    # Batches no larger than the deliveries in flight make sense of: a batch's offsets wait for
    # its slowest delivery.
    return SinkRunner(sink_name(partner), settings,
                      sink_inputs(settings, partner_inputs(partner)), store, batch_max=2000,
                      wait_s=0.2, fetch_wait_ms=settings.notify_fetch_wait_ms)


def partners_without_secrets(settings: Settings) -> list[Any]:
    """The partners of PAYSTREAM_PARTNERS_PATH (none when unset), read without their secrets:
    for what needs only who wants what and how long it waits (the checks, the workers)."""
    from streams.partners import load_partners

    if not settings.partners_path:
        return []
    return load_partners(Path(settings.partners_path), secrets=False)
