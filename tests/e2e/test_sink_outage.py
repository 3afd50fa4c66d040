"""A sink's store goes down for 30 s mid-run: decisions keep flowing, the sink catches up after.

The sinks are the ledger and reporting (PostgreSQL) and a partner's webhook delivery, whose
outcomes live in the notifications' Redis; the partner is a real local receiver.

Stops and restarts a server of the local stack (deploy/local/stack.sh stop|start), so it runs
only against the local stack, not throwaway containers.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.topics import topics
from tests.conftest import USE_CONTAINERS, clean_redis_namespace
from tests.e2e.harness import (
    Worker,
    messages_in,
    publish_generated,
    reconcile,
    wait_for,
    with_partner,
)

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(USE_CONTAINERS, reason="stops a server of the local stack")]
TRANSACTIONS = 100_000
OUTAGE_S = 30
STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.sh"


def stack(action: str, server: str) -> None:
    subprocess.run(["bash", str(STACK), action, server], check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize("server", ["postgres", "redis-notify"])
def test_a_sink_store_outage_stalls_only_that_sink(server: str, db_settings: Settings, redis_url: str,
                                                   notify_redis_url: str, tmp_path: Path) -> None:
    settings, port, secret = with_partner(db_settings, redis_url, notify_redis_url, tmp_path,
                                          "outage-test-secret")
    publish_generated(settings, TRANSACTIONS, seed=5, accounts=10_000)
    decisions = topics(settings.topic_prefix).decisions.name
    workers = [Worker(settings, tmp_path, f"worker-{n}") for n in (1, 2)]
    sinks = Worker(settings, tmp_path, "sinks", command=("sink", "all"))
    receiver = Worker(settings, tmp_path, "receiver", env=secret,
                      command=("webhook-receiver", "--port", str(port)))
    notify = Worker(settings, tmp_path, "notify", command=("notify",), env=secret)
    affected = sinks if server == "postgres" else notify
    for process in (receiver, *workers, sinks, notify):
        process.start()
    stopped = False
    try:
        wait_for(settings, decisions, TRANSACTIONS // 5, 300, workers)
        stack("stop", server)
        stopped = True
        before, started = messages_in(settings, decisions), time.monotonic()
        time.sleep(OUTAGE_S)
        during = messages_in(settings, decisions) - before
        assert affected.alive(), f"{affected.name} died in the outage:\n{affected.log_tail()}"
        stack("start", server)
        stopped = False
        outage_s = time.monotonic() - started
        code, summary = reconcile(settings, 300, "--sinks",
                                  workers=(*workers, sinks, notify, receiver))
    finally:
        if stopped:
            stack("start", server)
        for process in (*workers, sinks, notify, receiver):
            process.stop()
        clean_redis_namespace(redis_url, settings.topic_prefix)
        clean_redis_namespace(notify_redis_url, settings.topic_prefix)
    assert during > 0, "no decision was made while the sink's store was down"
    assert "store unavailable" in affected.log_tail(400), "the sink never noticed the outage"
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["decisions"] == summary["transactions"] == TRANSACTIONS
    assert summary["ledger_rows"] == summary["postings"]
    assert summary["reporting_rows"] == TRANSACTIONS
    # Every decline and review reached the partner (or was dead-lettered), once.
    assert 0 < summary["notification_deliveries"] < TRANSACTIONS
    print(f"{server} down {outage_s:.0f} s: {during} decisions made meanwhile")
