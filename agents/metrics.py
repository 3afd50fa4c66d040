"""A worker's Prometheus metrics, all of them, fed once per batch (never per transaction).

Measured cost on the hot path: loadtest/results/worker-metrics-2026-11-30.md (0.35 µs/tx for
record_batch at 1,000-transaction batches; a worker-bench pair inside the noise).
"""

from __future__ import annotations

from collections import Counter as Tally

import numpy as np
from prometheus_client import Counter, Histogram, Info

from streams.metrics import BatchHistogram

#: Seconds: a batch of a few thousand takes 5-100 ms; a stalled store or broker, seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TRANSACTIONS = Counter("paystream_worker_transactions_total",
                       "Transactions decided, by type and outcome.", ["type", "outcome"])
DEAD_LETTERS = Counter("paystream_worker_dead_letters_total",
                       "Input messages put on the dead-letter topic, by reason.", ["reason"])
EVENTS = Counter("paystream_worker_events_total",
                 "Everything else a worker's batches count: credits applied, duplicates skipped, "
                 "replays, review verdicts, expired holds, state conflicts.", ["event"])
BATCH_SIZE = Histogram("paystream_worker_batch_events",
                       "Input events per batch, by role.", ["role"],
                       # Powers of ~2.5 up to the largest --batch-size (20,000).
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000))
BATCH_DURATION = Histogram("paystream_worker_batch_duration_seconds",
                           "Wall time of a batch from taking the lock to its outputs confirmed "
                           "(the wait for the lock apart).",
                           ["role"], buckets=DURATION_BUCKETS)
STORE_CALLS = Histogram("paystream_worker_state_store_call_duration_seconds",
                        "Wall time of the state store's calls per batch (read includes re-sending "
                        "a crashed run's leftovers, which is rare).", ["role", "call"],
                        buckets=DURATION_BUCKETS)
DECISION_LATENCY = BatchHistogram(
    "paystream_worker_decision_latency_seconds",
    "From a transaction's event time, or from its produce time (the Kafka timestamp), to its "
    "decision confirmed by Kafka.", ["since"],
    # Milliseconds when the pipeline keeps up; seconds to minutes when it works off a backlog.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0))
MODEL = Info("paystream_worker_fraud_model", "The fraud model versions in use (empty: none).")
DELIVERY = Counter("paystream_worker_delivery_reseeks_total",
                   "Partitions a worker sent back to read again: 'uncommitted', fetched and never "
                   "committed when a rebalance dropped their records (back to their first "
                   "record); 'stalled', behind the broker with nothing delivered for 30 s (the "
                   "watchdog's seek to the committed offsets; a second one ends the worker).",
                   ["why"])

_STORE_STAGES = {"read": "read", "commit": "commit"}
#: Counted per type by TRANSACTIONS from `decided`, so not again as events.
_OUTCOMES = frozenset({"APPROVE", "DECLINE", "REVIEW", "PENDING"})


def record_batch(role: str, events: int, stages: dict[str, float], counters: Tally[str],
                 decided: list[tuple[str, str, int, int]], confirmed_ms: int) -> None:
    """One batch: `stages` in seconds (agents.pipeline's clock), `decided` as (type, outcome,
    event time ms, produce time ms) per transaction, `confirmed_ms` when Kafka had the outputs."""
    if events:  # the hold-expiry sweep runs with no input events
        BATCH_SIZE.labels(role).observe(events)
    BATCH_DURATION.labels(role).observe(sum(v for stage, v in stages.items() if stage != "wait"))
    for stage, call in _STORE_STAGES.items():
        if stage in stages:
            STORE_CALLS.labels(role, call).observe(stages[stage])
    for key, count in counters.items():
        if key.startswith("dlq:"):
            DEAD_LETTERS.labels(key[4:]).inc(count)
        elif key not in _OUTCOMES:
            EVENTS.labels(key).inc(count)
    if decided:
        for (tx_type, outcome), count in Tally((d[0], d[1]) for d in decided).items():
            TRANSACTIONS.labels(tx_type, outcome).inc(count)
        times = np.array([(d[2], d[3]) for d in decided], dtype=np.float64)
        DECISION_LATENCY.observe_many(("event_time",), (confirmed_ms - times[:, 0]) / 1000)
        DECISION_LATENCY.observe_many(("produce_time",), (confirmed_ms - times[:, 1]) / 1000)



def record_models(active: str | None, shadow: str | None) -> None:
    MODEL.info({"active": active or "", "shadow": shadow or ""})


def record_reseeks(why: str, partitions: int) -> None:
    """Partitions sent back to read again (agents/workers.py DeliveryWatchdog)."""
    DELIVERY.labels(why).inc(partitions)
