"""A second worker joins mid-run and leaves again: partitions move twice, nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.topics import topics
from tests.e2e.harness import Worker, publish_generated, reconcile, wait_for

pytestmark = pytest.mark.e2e
TRANSACTIONS = 100_000


def test_worker_joins_and_leaves_mid_run(pipeline_settings: Settings, tmp_path: Path) -> None:
    settings = pipeline_settings
    publish_generated(settings, TRANSACTIONS, seed=7, accounts=10_000)
    decisions = topics(settings.topic_prefix).decisions.name
    first = Worker(settings, tmp_path, "first")
    joiner = Worker(settings, tmp_path, "joiner", ("--stats-every-s", "1"))
    first.start()
    try:
        wait_for(settings, decisions, TRANSACTIONS // 4, 300, [first])
        joiner.start()
        deadline = time.monotonic() + 120
        while "APPROVE=" not in joiner.log_tail(400):  # it got partitions and decided some
            assert time.monotonic() < deadline, f"the joiner never got work:\n{joiner.log_tail()}"
            assert joiner.alive() and first.alive()
            time.sleep(0.5)
        wait_for(settings, decisions, TRANSACTIONS * 6 // 10, 300, [first, joiner])
        code = joiner.stop()
        assert code == 0, f"the joiner exited {code}:\n{joiner.log_tail()}"
        code, summary = reconcile(settings, 300, workers=(first, joiner))
    finally:
        first.stop()
        joiner.stop()
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["decisions"] == summary["transactions"] == TRANSACTIONS
