"""A second worker joins mid-run and leaves again: partitions move twice, nothing is lost."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from streams.settings import Settings
from streams.topics import topics
from tests.e2e.harness import Worker, publish_generated, reconcile, wait_for

pytestmark = pytest.mark.e2e
TRANSACTIONS = 100_000
#: Published at once before the first worker starts; the rest arrives at FEED_RATE while the
#: joiner starts, so it finds work whatever the machine's speed (published all at once, one
#: worker once drained the whole backlog while the joiner was still starting: 2026-12-04 CI).
HEAD = TRANSACTIONS // 4
FEED_RATE = 1_500.0


def test_worker_joins_and_leaves_mid_run(pipeline_settings: Settings, tmp_path: Path) -> None:
    settings = pipeline_settings
    generated = {"count": TRANSACTIONS, "seed": 7, "accounts": 10_000}
    publish_generated(settings, **generated, stop=HEAD)
    decisions = topics(settings.topic_prefix).decisions.name
    first = Worker(settings, tmp_path, "first")
    joiner = Worker(settings, tmp_path, "joiner", ("--stats-every-s", "1"))
    first.start()
    with ThreadPoolExecutor(1) as feeder:
        try:
            wait_for(settings, decisions, HEAD // 2, 300, [first])
            fed = feeder.submit(publish_generated, settings, **generated, start=HEAD,
                                rate=FEED_RATE)
            joiner.start()
            deadline = time.monotonic() + 120
            while "APPROVE=" not in joiner.log_tail(400):  # it got partitions and decided some
                assert time.monotonic() < deadline, f"the joiner never got work:\n{joiner.log_tail()}"
                assert joiner.alive() and first.alive()
                time.sleep(0.5)
            wait_for(settings, decisions, TRANSACTIONS * 6 // 10, 300, [first, joiner])
            code = joiner.stop()
            assert code == 0, f"the joiner exited {code}:\n{joiner.log_tail()}"
            fed.result()
            code, summary = reconcile(settings, 300, workers=(first, joiner))
        finally:
            first.stop()
            joiner.stop()
    assert summary["problems"] == {}, summary
    assert code == 0
    assert summary["decisions"] == summary["transactions"] == TRANSACTIONS
