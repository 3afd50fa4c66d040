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

import logging
import threading
from collections.abc import Iterable, Sequence

import numpy as np
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


def serve(port: int, what: str) -> int:
    """Serve the default registry on 127.0.0.1:`port` (0: a free one); return the port."""
    server, _ = start_http_server(port, addr="127.0.0.1")
    bound = int(server.server_port)
    log.info("%s metrics on http://127.0.0.1:%d/metrics", what, bound)
    return bound


class BatchHistogram(Collector):
    """A histogram with one label set per `labels` value, fed whole arrays."""

    def __init__(self, name: str, documentation: str, label_names: Sequence[str],
                 buckets: Sequence[float], registry=REGISTRY) -> None:  # noqa: ANN001
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
