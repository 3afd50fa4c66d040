"""The broker goes down and comes back mid-run: workers ride it out, nothing lost or doubled.

Restarts the local stack's Kafka (deploy/local/stack.sh) by its pid file, so it runs only
against the local stack, not against a testcontainers broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.topics import topics
from tests.conftest import USE_CONTAINERS
from tests.e2e.harness import Worker, publish_generated, reconcile, wait_for

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("PAYSTREAM_STATE_DIR", REPO / ".local"))
TRANSACTIONS = 100_000


def _restart_kafka(down_s: float) -> None:
    pid = int((STATE_DIR / "run" / "kafka.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "kafka did not stop"
        time.sleep(0.2)
    time.sleep(down_s)
    subprocess.run([str(REPO / "deploy/local/stack.sh"), "up"], check=True, timeout=300,
                   capture_output=True)


@pytest.mark.skipif(USE_CONTAINERS, reason="restarts the local stack's broker")
def test_broker_restart_mid_run(pipeline_settings: Settings, tmp_path: Path) -> None:
    settings = pipeline_settings
    publish_generated(settings, TRANSACTIONS, seed=3, accounts=10_000)
    decisions = topics(settings.topic_prefix).decisions.name
    workers = [Worker(settings, tmp_path, f"w{n}") for n in (1, 2)]
    for worker in workers:
        worker.start()
    try:
        wait_for(settings, decisions, TRANSACTIONS // 3, 300, workers)
        _restart_kafka(down_s=5)
        for worker in workers:
            if not worker.alive():  # a supervisor would restart it; so do we, and say so
                print(f"{worker.name} exited during the broker outage; restarting it")
                worker.start()
        code, summary = reconcile(settings, 300, workers=tuple(workers))
    finally:
        for worker in workers:
            worker.stop()
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["decisions"] == summary["transactions"] == TRANSACTIONS
