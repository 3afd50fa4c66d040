"""The sinks', the webhook deliverer's and the payout watch's Prometheus metrics, all of them (one per batch, or one
per delivery: never on the workers' hot path)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

#: Seconds: a sink batch of up to 5,000 rows is one database transaction, ~10-300 ms; a store
#: that is down retries for seconds to minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

MESSAGES = Counter("paystream_sink_messages_total", "Messages a sink consumed and wrote.", ["sink"])
ROWS = Counter("paystream_sink_rows_written_total",
               "Rows (or deliveries) really new, after idempotent writes skipped what was there.",
               ["sink"])
RETRIES = Counter("paystream_sink_store_retries_total",
                  "Writes retried because the store was unreachable or refused.", ["sink"])
BATCH_SIZE = Histogram("paystream_sink_batch_messages", "Messages per sink batch.", ["sink"],
                       # Up to the sinks' batch_max, 5,000.
                       buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000))
BATCH_DURATION = Histogram("paystream_sink_batch_duration_seconds",
                           "Wall time to write a batch and commit its offsets, retries included.",
                           ["sink"], buckets=DURATION_BUCKETS)
DELIVERIES = Counter("paystream_webhook_deliveries_total",
                     "Notification deliveries that ended, by partner and result (delivered, dead).",
                     ["partner", "result"])
ATTEMPTS = Histogram("paystream_webhook_delivery_attempts",
                     "HTTP attempts a delivery took until it ended, by partner.", ["partner"],
                     # One per attempt up to the default max_attempts (6), then a few more.
                     buckets=(1, 2, 3, 4, 5, 6, 8, 10))
ATTEMPT_RESULTS = Counter("paystream_webhook_attempts_total",
                          "HTTP attempts by partner and what came back (2xx, 4xx, 5xx, timeout, "
                          "unreachable).", ["partner", "result"])



def record_batch(sink: str, messages: int, rows: int, seconds: float) -> None:
    MESSAGES.labels(sink).inc(messages)
    ROWS.labels(sink).inc(rows)
    BATCH_SIZE.labels(sink).observe(messages)
    BATCH_DURATION.labels(sink).observe(seconds)


def attempt_result(detail: str) -> str:
    """An attempt's outcome detail (sinks.webhooks) as a label of a few values."""
    if detail.startswith("timeout"):
        return "timeout"
    if detail.startswith("unreachable"):
        return "unreachable"
    status = detail.rsplit(" ", 1)[-1]
    return f"{status[0]}xx" if status[:1].isdigit() else "other"
STATUS_ANSWERS = Counter("paystream_payout_status_answers_total",
                         "Receive partners' answers to payout-watch's status queries (SUCCESS and "
                         "FAILURE are published; none: no answer), by partner.",
                         ["partner", "answer"])
