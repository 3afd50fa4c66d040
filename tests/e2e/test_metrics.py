"""Every long-running process serves Prometheus metrics, and they agree with reconcile.

A worker, the sinks and the webhook deliverer run over generated traffic; after `reconcile
--sinks` passes, each process's /metrics is scraped (its port read from its log) and its
counters are checked against what reconcile counted from the topics and the stores. Then the
API is started and scraped too, and every metric the Grafana dashboard's queries name must be
one these processes really export.

The run carries secrets the way production does (a password in DATABASE_URL, the partner's
webhook secret as a mounted file, API keys used right and wrong), and none of them may appear in
any process's log or metrics.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from paystream.launch import run
from streams.settings import Settings
from tests.conftest import clean_redis_namespace
from tests.e2e.harness import (
    Worker,
    free_port,
    publish_generated,
    reconcile,
    with_partner,
)

pytestmark = pytest.mark.e2e
TRANSACTIONS = 20_000
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "paystream.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",),
            "info": ("_info",), "summary": ("", "_count", "_sum")}
METRICS_LINE = re.compile(rb"metrics on http://127\.0\.0\.1:(\d+)/metrics")


#: What must never be written anywhere: made up per run, so a hit cannot be a coincidence.
DB_PASSWORD = f"db-pw-{time.time_ns()}"
WEBHOOK_SECRET = f"webhook-secret-{time.time_ns()}"
SCRAPED: list[str] = []  # every /metrics text this test read


def scrape(process: Worker, log_dir: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The process's samples by (name, sorted labels), its port found in its log; and, under
    ("#names", ()), the sample names it exports, those of metrics without samples yet too."""
    deadline = time.monotonic() + 60
    while not (found := METRICS_LINE.search((log_dir / f"{process.name}-1.log").read_bytes())):
        assert time.monotonic() < deadline, f"{process.name} logged no metrics port:\n{process.log_tail()}"
        time.sleep(0.5)
    with urllib.request.urlopen(f"http://127.0.0.1:{int(found.group(1))}/metrics", timeout=10) as response:
        text = response.read().decode()
    SCRAPED.append(text)
    families = list(text_string_to_metric_families(text))
    samples: dict = {(s.name, tuple(sorted(s.labels.items()))): s.value
                     for family in families for s in family.samples}
    samples[("#names", ())] = {f.name + suffix for f in families for suffix in SUFFIXES.get(f.type, ("",))}
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all((k, want) in ls for k, want in labels.items()))


def test_the_processes_metrics_agree_with_reconcile(db_settings: Settings, redis_url: str,
                                                    notify_redis_url: str, tmp_path: Path) -> None:
    settings, port, secret = with_partner(db_settings, redis_url, notify_redis_url, tmp_path,
                                          WEBHOOK_SECRET)
    if "@" in settings.database_url and ":" not in settings.database_url.split("://")[1].split("@")[0]:
        # The local stack trusts loopback, so a password is accepted and ignored: still a secret
        # every process holds in its environment.
        settings = settings.model_copy(update={"database_url": settings.database_url.replace(
            "@", f":{DB_PASSWORD}@", 1)})
    mounted = tmp_path / "webhook-secret"
    mounted.write_text(WEBHOOK_SECRET)
    publish_generated(settings, TRANSACTIONS, seed=11, accounts=2_000)
    worker = Worker(settings, tmp_path, "worker")
    sinks = Worker(settings, tmp_path, "sinks", command=("sink", "all"))
    receiver = Worker(settings, tmp_path, "receiver", env=secret,
                      command=("webhook-receiver", "--port", str(port)))
    notify = Worker(settings, tmp_path, "notify", command=("notify",),
                    env={"PARTNER_WEBHOOK_SECRET_FILE": str(mounted)})
    processes = (receiver, worker, sinks, notify)
    for process in processes:
        process.start()
    api_port = free_port()
    api = Worker(settings, tmp_path, "api", command=("api", "--port", str(api_port)))
    try:
        code, summary = reconcile(settings, 300, "--sinks", workers=processes)
        assert code == 0, summary
        # Lag is read from Kafka every 10 s (streams.metrics.ConsumerLag): wait for a reading
        # taken after reconcile saw every group caught up.
        worked, sunk = (_scrape_until_caught_up(p, tmp_path) for p in (worker, sinks))
        delivered = scrape(notify, tmp_path)
        api.start()  # after the sinks migrated the schema it checks
        answered = _get_when_up(f"http://127.0.0.1:{api_port}/healthz")
        key = run(settings, "api", "keys", "create", "--role", "analyst", "--name",
                  "metrics test", check=True).stdout.strip().splitlines()[-1]
        statuses = [_status(f"http://127.0.0.1:{api_port}/v1/me", key),
                    _status(f"http://127.0.0.1:{api_port}/v1/me", key[:-6] + "abcdef")]
        served = scrape(api, tmp_path)
    finally:
        for process in (*processes, api):
            process.stop()
        clean_redis_namespace(redis_url, settings.topic_prefix)

    decided = total(worked, "paystream_worker_transactions_total")
    assert decided == summary["decisions"] == TRANSACTIONS - summary["dead_lettered"]
    for outcome in ("APPROVE", "DECLINE", "REVIEW"):
        assert total(worked, "paystream_worker_transactions_total", outcome=outcome) > 0, outcome
    assert total(worked, "paystream_worker_dead_letters_total") == summary["dead_lettered"]
    for since in ("event_time", "produce_time"):
        assert total(worked, "paystream_worker_decision_latency_seconds_count", since=since) == decided
    assert total(worked, "paystream_worker_batch_events_sum", role="transactions") == TRANSACTIONS
    assert total(worked, "paystream_worker_state_store_call_duration_seconds_count", call="commit") > 0
    assert total(worked, "paystream_worker_fraud_model_info") == 1

    # Reconcile waited for every group to catch up: each partition the scrape saw is at lag 0.
    for process in (worked, sunk):
        lags = _lags(process)
        assert lags and not any(lags), lags

    assert total(sunk, "paystream_sink_rows_written_total", sink="ledger") == summary["ledger_rows"]
    assert total(sunk, "paystream_sink_rows_written_total", sink="reporting") == summary["reporting_rows"]
    assert total(sunk, "paystream_sink_messages_total", sink="reporting") == summary["decisions"]

    ended = total(delivered, "paystream_webhook_deliveries_total", partner="merchants")
    assert ended == summary["notification_deliveries"] > 0
    assert total(delivered, "paystream_webhook_deliveries_total", result="delivered") == ended
    assert total(delivered, "paystream_webhook_delivery_attempts_count") == ended
    assert total(delivered, "paystream_webhook_attempts_total", result="2xx") >= ended

    assert answered == 200 and statuses == [200, 401]
    secrets = [WEBHOOK_SECRET, key.split("_", 2)[2]]  # psk_<key id>_<secret>
    if DB_PASSWORD in settings.database_url:
        secrets.append(DB_PASSWORD)
    written = [(path.name, path.read_text(errors="replace")) for path in tmp_path.glob("*.log")]
    assert len(written) >= 5
    for secret in secrets:
        leaks = [name for name, text in written if secret in text]
        leaks += ["a /metrics page" for text in SCRAPED if secret in text]
        assert not leaks, f"a secret ({secret[:6]}...) was written in {leaks}"
    assert total(served, "paystream_api_requests_total", route="/healthz", status="200") >= 1
    exported = set().union(*(p[("#names", ())] for p in (worked, sunk, delivered, served)))
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\b(?:paystream|process)_[a-z_]+\b", target["expr"])}
    assert len(queried) >= 10 and queried <= exported, sorted(queried - exported)


def _get_when_up(url: str) -> int:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.5)


def _status(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def _lags(samples: dict) -> list[float]:
    return [v for (n, _), v in samples.items() if n == "paystream_consumer_lag_messages"]


def _scrape_until_caught_up(process: Worker, log_dir: Path) -> dict:
    deadline = time.monotonic() + 30
    while True:
        samples = scrape(process, log_dir)
        lags = _lags(samples)
        if (lags and not any(lags)) or time.monotonic() > deadline:
            return samples
        time.sleep(1)
