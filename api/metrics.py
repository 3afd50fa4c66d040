"""The API's Prometheus metrics, all of them: requests by route, method and status, and their
duration. Routes are the path templates (`/v1/transactions/{tx_id}`), never raw paths, so the
label set stays small whatever clients ask."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("paystream_api_requests_total", "HTTP requests answered.",
                   ["route", "method", "status"])
DURATION = Histogram("paystream_api_request_duration_seconds",
                     "From the request's arrival to its response's last byte.", ["route", "method"],
                     # The target is p95 < 200 ms and p99 < 500 ms (docs/api.md): buckets are
                     # dense around both; exports of a month run to seconds.
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
                              2.5, 5.0, 10.0))



def record(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    DURATION.labels(route, method).observe(seconds)
