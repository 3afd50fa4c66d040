"""The local stack's account-state Redis keeps its heap on transparent huge pages (deploy/local/
redis.conf.in says why); the notifications' server, small and idle, does not ask for them."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from redis import Redis

pytestmark = pytest.mark.integration

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _huge_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def test_the_account_state_server_keeps_its_heap_on_huge_pages(redis_url: str,
                                                               notify_redis_url: str) -> None:
    state, notify = Redis.from_url(redis_url), Redis.from_url(notify_redis_url)
    keys = [f"hugepages-probe-{uuid.uuid4().hex[:8]}-{n}" for n in range(4)]
    try:
        # Redis's default (yes) switches them off for the process whatever jemalloc asks.
        assert state.config_get("disable-thp") == {"disable-thp": "no"}
        assert notify.config_get("disable-thp") == {"disable-thp": "yes"}
        if not THP_MODE.exists() or "[never]" in THP_MODE.read_text():
            pytest.skip("this machine grants no transparent huge pages")
        for key in keys:  # a heap of some size, whatever the server holds so far
            state.set(key, b"x" * (8 << 20))
        # jemalloc asked for them (MALLOC_CONF=thp:always, which redis-server's own process
        # title hides from /proc/<pid>/environ) and the kernel granted them
        assert _huge_kb(int(state.info("server")["process_id"])) > 0
    finally:
        state.delete(*keys)
        state.close()
        notify.close()
