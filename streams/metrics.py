"""Prometheus metrics: serving them, and a histogram fed a batch at a time.

Each long-running process kind defines its metrics in one module of its own (agents.metrics,
sinks.metrics, api.metrics) in the default registry, and serves them here on 127.0.0.1 at
PAYSTREAM_METRICS_PORT (0: a free port; either way the port is logged at start).

Per-transaction figures are never observed one by one: prometheus_client's Histogram.observe
takes a lock and walks the buckets in Python (~1 µs), and a worker decides thousands of
transactions per batch. BatchHistogram takes a batch's values as an array (numpy, ~20 ns a
value) and is exposed as an ordinary Prometheus histogram.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from streams.settings import KafkaConfig, Settings, kafka_client_config

log = logging.getLogger(__name__)


def serve(port: int, what: str, targets_dir: str = "", host: str = "127.0.0.1") -> int:
    """Serve the default registry on `host`:`port` (0: a free one); return the port.

    With `targets_dir` (PAYSTREAM_METRICS_TARGETS_DIR), also write a Prometheus file_sd target
    there naming this process, removed when the process exits (a killed one leaves its file,
    and Prometheus shows the target down until it is deleted)."""
    server, _ = start_http_server(port, addr=host)
    bound = int(server.server_port)
    log.info("%s metrics on http://%s:%d/metrics", what, host, bound)
    if targets_dir:
        _register_target(Path(targets_dir), bound, what)
    return bound


def start(settings: Settings, what: str, lag_groups: dict[str, list[str]] | None = None) -> int:
    """What every long-running process does at start: the consumer-lag metric of the groups it
    consumes in (group -> topics; none for the API), and /metrics served where the settings say
    (PAYSTREAM_METRICS_PORT, _HOST, _TARGETS_DIR); returns the port."""
    if lag_groups:
        ConsumerLag(kafka_client_config(settings), lag_groups)
    return serve(settings.metrics_port, what, settings.metrics_targets_dir, settings.metrics_host)


def _register_target(directory: Path, port: int, what: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    kind = what.split()[0]
    target = directory / f"{kind}-{os.getpid()}.json"
    labels = {"kind": kind, "process": f"{what} (pid {os.getpid()})"}
    written = directory / f".{target.name}.tmp"
    written.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": labels}]))
    written.replace(target)  # Prometheus never reads half a file
    atexit.register(target.unlink, missing_ok=True)


class BatchHistogram(Collector):
    """A histogram with one label set per `labels` value, fed whole arrays."""

    def __init__(self, name: str, documentation: str, label_names: Sequence[str],
                 buckets: Sequence[float], registry=REGISTRY) -> None:
        self._name, self._doc, self._label_names = name, documentation, list(label_names)
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._series: dict[tuple[str, ...], tuple[np.ndarray, list[float]]] = {}
        self._lock = threading.Lock()  # the scrape runs in the server's thread
        if registry is not None:
            registry.register(self)

    def observe_many(self, labels: tuple[str, ...], values: np.ndarray | Iterable[float]) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            return
        # Index i counts values <= bounds[i] and > bounds[i-1]; the last, values above all.
        counts = np.bincount(np.searchsorted(self._bounds, values, side="left"),
                             minlength=len(self._bounds) + 1)
        total = float(values.sum())
        with self._lock:
            series = self._series.get(labels)
            if series is None:
                series = self._series[labels] = (np.zeros(len(self._bounds) + 1, np.int64), [0.0])
            series[0][:] += counts
            series[1][0] += total

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._label_names)
        with self._lock:
            snapshot = [(labels, counts.copy(), total[0]) for labels, (counts, total) in self._series.items()]
        for labels, counts, total in snapshot:
            cumulative = np.cumsum(counts)
            buckets = [(_bound(b), int(c)) for b, c in zip(self._bounds, cumulative[:-1], strict=True)]
            buckets.append(("+Inf", int(cumulative[-1])))
            family.add_metric(list(labels), buckets, total)
        yield family

    def describe(self) -> Iterable[HistogramMetricFamily]:
        yield HistogramMetricFamily(self._name, self._doc, labels=self._label_names)


def _bound(value: float) -> str:
    return repr(float(value))


class ConsumerLag(Collector):
    """`paystream_consumer_lag_messages{group, topic, partition}`: each partition's high
    watermark minus the offset the group committed, as read from Kafka at most `every_s` ago.

    An admin client of its own (metadata, the group's committed offsets, the partitions' latest
    offsets), nothing on the processing path. A scrape serves the last reading at once and, when
    it is older than `every_s`, starts a new one in a thread of its own (one at a time), so
    /metrics never waits on Kafka (probes use it). Nothing is read before the first scrape: a
    reading thread started with the process, on a broker just formatted, stalled a sink's first
    fetches in `.ci/run` (test_api's fixture, f43935d). Every process reports the groups it
    consumes in; a partition the group has not committed yet counts from the low watermark."""

    NAME = "paystream_consumer_lag_messages"
    DOC = "Messages the group has not committed yet, per partition."

    def __init__(self, kafka_config: KafkaConfig, groups: dict[str, list[str]],
                 timeout_s: float = 5.0, every_s: float = 10.0, registry=REGISTRY) -> None:
        """`kafka_config`: streams.settings.kafka_client_config (servers and security)."""
        self._groups = groups  # group -> topics
        self._timeout_s = timeout_s
        self._admin = AdminClient({**kafka_config, "client.id": "paystream-lag-metrics"})
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, int], int] = {}
        self._every_s = every_s
        self._read_at = float("-inf")  # monotonic time the last reading started
        self._reading: threading.Thread | None = None
        if registry is not None:
            registry.register(self)

    def _refresh_if_old(self) -> None:
        now = time.monotonic()
        if now - self._read_at < self._every_s or (self._reading and self._reading.is_alive()):
            return
        self._read_at = now
        self._reading = threading.Thread(target=self._read, name="consumer-lag", daemon=True)
        self._reading.start()

    def _read(self) -> None:
        """A new reading; on failure the last one stays."""
        found: dict[tuple[str, str, int], int] = {}
        with self._lock:
            try:
                metadata = self._admin.list_topics(timeout=self._timeout_s)
                for group, topic_names in self._groups.items():
                    found.update(self._group_lags(group, topic_names, metadata))
            except (KafkaException, TimeoutError) as exc:
                log.warning("consumer lag not read: %s", exc)
                return
            self._last = found

    def _group_lags(self, group: str, topic_names: list[str], metadata: object) -> dict[tuple[str, str, int], int]:
        partitions = [TopicPartition(t, p) for t in topic_names if t in metadata.topics  # type: ignore[attr-defined]
                      for p in metadata.topics[t].partitions]  # type: ignore[attr-defined]
        if not partitions:
            return {}
        request = ConsumerGroupTopicPartitions(group, partitions)
        answer = self._admin.list_consumer_group_offsets([request])[group].result(timeout=self._timeout_s)
        committed = {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions}
        high = self._offsets(partitions, OffsetSpec.latest())
        uncommitted = [tp for tp in partitions if committed.get((tp.topic, tp.partition), -1) < 0]
        low = self._offsets(uncommitted, OffsetSpec.earliest()) if uncommitted else {}
        return {(group, *key): max(0, end - (low[key] if key in low else committed[key]))
                for key, end in high.items()}

    def _offsets(self, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        futures = self._admin.list_offsets(dict.fromkeys(partitions, spec))
        return {(tp.topic, tp.partition): f.result(timeout=self._timeout_s).offset
                for tp, f in futures.items()}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.DOC, labels=["group", "topic", "partition"])
        self._refresh_if_old()
        for (group, topic, partition), lag in sorted(self._last.items()):
            family.add_metric([group, topic, str(partition)], lag)
        yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self.DOC, labels=["group", "topic", "partition"])
