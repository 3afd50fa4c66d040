"""The pipeline with its account state on a Redis Cluster of three masters (redis-server in
cluster mode, deploy/local/redis_cluster.py): two workers, one killed with SIGKILL twice, and
reconcile finds nothing lost or doubled; every master holds a share of the state."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.topics import topics
from tests.e2e.harness import Worker, kill_at, publish_generated, reconcile

pytestmark = pytest.mark.e2e
TRANSACTIONS = 60_000


def _masters(url: str) -> list[int]:
    port = url.rsplit(":", 1)[1].split("/")[0]
    nodes = subprocess.run(["redis-cli", "-p", port, "cluster", "nodes"], capture_output=True,
                           text=True, timeout=10, check=True).stdout
    return [int(line.split()[1].split("@")[0].rsplit(":", 1)[1])
            for line in nodes.splitlines() if "master" in line.split()[2]]


def _keys_on(port: int, namespace: str) -> int:
    found = subprocess.run(["redis-cli", "-p", str(port), "--scan", "--pattern",
                            f"ps:{namespace}ac:*"], capture_output=True, text=True, timeout=60,
                           check=True).stdout
    return len(found.split())


def test_the_pipeline_on_a_redis_cluster_loses_and_doubles_nothing(
        stack_settings: Settings, redis_cluster_url: str, tmp_path: Path) -> None:
    settings = stack_settings.model_copy(update={"redis_url": redis_cluster_url,
                                                 "redis_cluster": True})
    publish_generated(settings, TRANSACTIONS, seed=11, accounts=6_000)
    decisions = topics(settings.topic_prefix).decisions.name
    victim, survivor = Worker(settings, tmp_path, "victim"), Worker(settings, tmp_path, "survivor")
    victim.start()
    survivor.start()
    try:
        kill_at(settings, decisions, TRANSACTIONS, (0.25, 0.6), victim, [victim, survivor])
        code, summary = reconcile(settings, 300, workers=(victim, survivor))
    finally:
        victim.stop()
        survivor.stop()
    spread = {port: _keys_on(port, settings.topic_prefix) for port in _masters(redis_cluster_url)}
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["transactions"] == summary["decisions"] == TRANSACTIONS
    assert summary["pending"] == {"lag": 0, "outbox_entries": 0}
    # the accounts spread over the three masters, by their partitions' slots: four
    # partitions each (deploy/local/redis_cluster.py slot_ranges), so about a third each
    assert len(spread) == 3, spread
    assert min(spread.values()) > 0.25 * sum(spread.values()), spread
