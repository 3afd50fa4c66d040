"""The local stack's Redis rewrites its AOF on idle CPU (deploy/local/rewrite_idle.py, started
by `make up`): a rewrite's child lands in the idle cpu cgroup while it runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from redis import Redis

LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local"
sys.path.insert(0, str(LOCAL))
import rewrite_idle  # noqa: E402  (deploy/local is not a package)

pytestmark = pytest.mark.integration


def _rewriting(redis: Redis) -> bool:
    return bool(redis.info("persistence")["aof_rewrite_in_progress"])


def _wait(done: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_an_aof_rewrites_child_runs_in_the_idle_cpu_cgroup(redis_url: str) -> None:
    group, why = rewrite_idle.idle_group()
    if group is None:
        pytest.skip(f"this machine cannot run a child on idle CPU: {why}")
    redis = Redis.from_url(redis_url)
    server = int(redis.info("server")["process_id"])
    assert _wait(lambda: not _rewriting(redis), 60), "an earlier rewrite did not end"
    # Slow the child down (Redis's testing knob: µs of sleep per key it writes) so that it runs
    # ~1 s, several of the helper's polls, whatever the server holds now.
    redis.set("rewrite-idle-test", "1")
    redis.config_set("rdb-key-save-delay", max(1, 1_000_000 // max(1, redis.dbsize())))
    try:
        redis.bgrewriteaof()
        children: list[int] = []
        assert _wait(lambda: bool(children.extend(rewrite_idle.children(server)) or children), 5)
        child = children[0]
        cgroup = Path(f"/proc/{child}/cgroup")
        assert _wait(lambda: rewrite_idle.GROUP in cgroup.read_text(), 2), cgroup.read_text()
    finally:
        redis.config_set("rdb-key-save-delay", 0)
        _wait(lambda: not _rewriting(redis), 60)
        redis.delete("rewrite-idle-test")
        redis.close()
