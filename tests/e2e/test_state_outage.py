"""The account-state Redis goes down for 30 s mid-run: the workers stall, then resume, and
nothing is lost or applied twice.

Stops and restarts a server of the local stack (deploy/local/stack.sh stop|start), so it runs
only against the local stack, not throwaway containers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.topics import topics
from tests.conftest import USE_CONTAINERS, clean_redis_namespace
from tests.e2e.harness import Worker, messages_in, publish_generated, reconcile, wait_for
from tests.e2e.test_sink_outage import OUTAGE_S, stack

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(USE_CONTAINERS, reason="stops a server of the local stack")]
TRANSACTIONS = 100_000


def test_a_state_store_outage_stalls_the_workers_and_loses_nothing(
        stack_settings: Settings, redis_url: str, tmp_path: Path) -> None:
    settings = stack_settings.model_copy(update={"redis_url": redis_url})
    publish_generated(settings, TRANSACTIONS, seed=8, accounts=10_000)
    decisions = topics(settings.topic_prefix).decisions.name
    workers = [Worker(settings, tmp_path, f"worker-{n}") for n in (1, 2)]
    for worker in workers:
        worker.start()
    stopped = False
    try:
        wait_for(settings, decisions, TRANSACTIONS // 5, 300, workers)
        stack("stop", "redis")
        stopped = True
        time.sleep(5)  # batches already past their commit may still send their outputs
        before = messages_in(settings, decisions)
        time.sleep(OUTAGE_S - 5)
        during = messages_in(settings, decisions) - before
        for worker in workers:
            assert worker.alive(), f"{worker.name} died in the outage:\n{worker.log_tail()}"
        stack("start", "redis")
        stopped = False
        code, summary = reconcile(settings, 300, workers=tuple(workers))
    finally:
        if stopped:
            stack("start", "redis")
        for worker in workers:
            worker.stop()
        clean_redis_namespace(redis_url, settings.topic_prefix)
    # No decision without its state: the workers waited for Redis instead of going on.
    assert during == 0, f"{during} decisions made while the account state was unreachable"
    assert any("retrying the batch" in w.log_tail(400) for w in workers), "no worker noticed"
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["decisions"] == summary["transactions"] == TRANSACTIONS
