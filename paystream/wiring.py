"""Builds the batch pipeline from settings: the composition root for the agents."""

from __future__ import annotations

import time
from pathlib import Path

from redis.asyncio import Redis
from threadpoolctl import threadpool_limits

from agents.authorizer import Authorizer, Codecs
from agents.fraud.model import ModelRegistry
from agents.outbox import OutputSender
from agents.payouts import PayoutSettler
from agents.pipeline import BatchObserver, BatchPipeline
from agents.ports import Sender, StateStore
from agents.reviewer import Reviewer
from agents.rules import Rules, load_rules
from agents.settler import Settler
from agents.store import RedisStateStore
from streams.codec import codec_for
from streams.quotes import quote_source
from streams.settings import Settings, kafka_security
from streams.topics import topics


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def state_store(settings: Settings, redis: Redis | None = None) -> RedisStateStore:
    # Records are pruned by event time (see agents/store.py); this TTL only covers the few
    # that live outside the index (credited-only marks, holds resolved after the window).
    tx_ttl_s = (settings.dedupe_window_ms + settings.max_clock_skew_ms) // 1000
    return RedisStateStore(redis or Redis.from_url(settings.redis_url), settings.topic_prefix,
                           tx_ttl_s=tx_ttl_s, window_ms=settings.dedupe_window_ms)


def output_sender(settings: Settings) -> OutputSender:
    names = topics(settings.topic_prefix, settings.partitions)
    return OutputSender(settings.kafka_bootstrap_servers, {
        "decisions": names.decisions.name, "postings": names.postings.name,
        "credits": names.credits.name, "dlq": names.dlq.name, "labels": names.labels.name,
        "payout_results": names.payout_results.name,
    }, config=kafka_security(settings))


def build_pipeline(settings: Settings, rules: Rules | None = None,
                   redis: Redis | None = None, observer: BatchObserver | None = None,
                   store: StateStore | None = None, sender: Sender | None = None) -> BatchPipeline:
    """The pipeline on Redis and Kafka; `store` and `sender` replace those (tests wrap them)."""
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
    if not settings.partners_path:
        return {}
    from streams.partners import load_partners

    return {p.partner_id: p.payout_deadline_s
            for p in load_partners(Path(settings.partners_path), secrets=False)
            if p.payout_deadline_s is not None}
