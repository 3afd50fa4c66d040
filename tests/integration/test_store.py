"""The account-state store's script calls against real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from agents.batch import BatchResult
from agents.store import RedisStateStore
from streams.settings import Settings
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace(stack_settings: Settings, redis_url: str):  # type: ignore[no-untyped-def]
    yield stack_settings.topic_prefix
    clean_redis_namespace(redis_url, stack_settings.topic_prefix)


def test_a_server_that_lost_the_scripts_gets_them_again(namespace: str, redis_url: str) -> None:
    # A Redis restarted without its script cache (or a failover) answers NOSCRIPT to EVALSHA:
    # the store loads the script and the batch goes on.
    async def run() -> tuple[int, int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        try:
            view = await store.read({"acc-1"}, set(), set())
            state = view.account("acc-1")
            state.balances["EUR"] = 500
            result = BatchResult(dirty={"acc-1"})
            await redis.script_flush()
            await store.commit(view, result, "transactions", "b1")
            await redis.script_flush()
            again = await store.read({"acc-1"}, set(), set())
            return again.versions["acc-1"], again.accounts["acc-1"].balance("EUR")
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == (1, 500)
