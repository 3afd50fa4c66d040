"""Metrics' pure parts: the batch-fed histogram against prometheus_client's own, the worker's
per-batch record, the webhook attempt labels, the Prometheus target file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest

from agents import metrics as worker_metrics
from sinks.metrics import attempt_result
from streams.metrics import BatchHistogram, _register_target

BUCKETS = (0.01, 0.1, 1.0, 10.0)


def test_a_batch_histogram_exposes_what_observing_one_by_one_would() -> None:
    values = np.random.default_rng(3).exponential(0.5, 5_000)
    values[:4] = BUCKETS  # values on a bound count in that bound's bucket (le)
    mine, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("lat_seconds", "doc", ["since"], BUCKETS, registry=mine)
    one_by_one = Histogram("lat_seconds", "doc", ["since"], buckets=BUCKETS, registry=theirs)
    for chunk in np.array_split(values, 7):
        batch.observe_many(("x",), chunk)
    for value in values:
        one_by_one.labels("x").observe(float(value))
    assert _samples(mine) == _samples(theirs)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("le", "")): round(s.value, 6)
            for family in registry.collect() for s in family.samples if not s.name.endswith("_created")}


def test_a_workers_batch_is_counted_by_type_and_outcome_with_its_latencies() -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (value("paystream_worker_transactions_total", type="PAYMENT", outcome="DECLINE"),
              value("paystream_worker_decision_latency_seconds_count", since="produce_time"),
              value("paystream_worker_dead_letters_total", reason="not_avro"))
    decided = [("PAYMENT", "APPROVE", 1_000, 1_500), ("PAYMENT", "DECLINE", 1_000, 1_900),
               ("DEPOSIT", "APPROVE", 2_000, 2_000)]
    worker_metrics.record_batch("transactions", 4, {"read": 0.01, "commit": 0.02},
                                Counter({"APPROVE": 2, "DECLINE": 1, "dlq:not_avro": 1}), decided, 3_000)
    assert value("paystream_worker_transactions_total", type="PAYMENT", outcome="DECLINE") == before[0] + 1
    assert value("paystream_worker_decision_latency_seconds_count", since="produce_time") == before[1] + 3
    assert value("paystream_worker_dead_letters_total", reason="not_avro") == before[2] + 1
    assert b"paystream_worker_events_total{event=\"APPROVE\"}" not in generate_latest(REGISTRY)


def test_partitions_sent_back_to_read_again_are_counted_by_why() -> None:
    sample = "paystream_worker_delivery_reseeks_total"
    before = REGISTRY.get_sample_value(sample, {"why": "uncommitted"}) or 0.0
    worker_metrics.record_reseeks("uncommitted", 12)
    assert REGISTRY.get_sample_value(sample, {"why": "uncommitted"}) == before + 12


def test_webhook_attempts_are_labelled_by_class() -> None:
    assert [attempt_result(d) for d in ("HTTP 200", "HTTP 503", "permanent: HTTP 404",
                                        "timeout after 5.0 s", "unreachable: refused")] == \
        ["2xx", "5xx", "4xx", "timeout", "unreachable"]


def test_a_process_registers_its_metrics_port_for_prometheus(tmp_path: Path) -> None:
    _register_target(tmp_path, 40123, "sink all")
    [written] = tmp_path.glob("*.json")
    [group] = json.loads(written.read_text())
    assert group["targets"] == ["127.0.0.1:40123"] and group["labels"]["kind"] == "sink"
    assert not list(tmp_path.glob(".*.tmp"))
