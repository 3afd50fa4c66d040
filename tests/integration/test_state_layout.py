"""The account-state layout against real Redis: the packed values, the check a worker makes at
start, and `paystream state-migrate` from the hash per account of the builds before."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from paystream.launch import run
from streams.accounts import (
    LAYOUT,
    AccountState,
    layout_key,
    legacy_account_key,
    read_accounts,
    scan_accounts,
)
from streams.settings import Settings
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(redis_url: str) -> Iterator[Settings]:
    prefix = f"layout-{uuid.uuid4().hex[:8]}."
    yield Settings(topic_prefix=prefix, redis_url=redis_url)
    clean_redis_namespace(redis_url, prefix)


def _old_account(redis: Redis, prefix: str, name: str, euros: int, version: int) -> AccountState:
    state = AccountState(balances={"EUR": euros}, seq=version)
    redis.hset(legacy_account_key(prefix, name), mapping={"v": version, "s": state.encode()})
    return state


async def _read(settings: Settings, names: list[str]) -> tuple[dict, dict]:
    from redis.asyncio import Redis as AsyncRedis

    redis = AsyncRedis.from_url(settings.redis_url)
    try:
        return (await read_accounts(redis, settings.topic_prefix, names),
                await scan_accounts(redis, settings.topic_prefix))
    finally:
        await redis.aclose()


def test_a_worker_refuses_the_old_layout_and_state_migrate_moves_it(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    prefix = settings.topic_prefix
    try:
        old = {f"acc-{n}": _old_account(redis, prefix, f"acc-{n}", 100 * n, n) for n in range(1, 2_501)}

        refused = run(settings, "worker", timeout=120)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "paystream state-migrate" in refused.stderr
        assert redis.get(layout_key(prefix)) is None  # nothing marked, nothing written

        migrated = run(settings, "state-migrate", timeout=120)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "2,500 accounts moved" in migrated.stdout
        assert redis.get(layout_key(prefix)) == LAYOUT
        assert not list(redis.scan_iter(match=f"{legacy_account_key(prefix, '')}*"))
        # the version moves with the state: the workers' compare-and-set goes on from it
        assert redis.get(f"ps:{prefix}ac:acc-7").startswith(b"7|")

        some, every = asyncio.run(_read(settings, ["acc-1", "acc-2500", "acc-nobody"]))
        assert {n: s.balance("EUR") for n, s in some.items()} == {"acc-1": 100, "acc-2500": 250_000}
        assert {n: (s.balances, s.seq) for n, s in every.items()} == {
            n: (s.balances, s.seq) for n, s in old.items()}

        again = run(settings, "state-migrate", timeout=120)
        assert again.returncode == 0 and "0 accounts moved" in again.stdout
    finally:
        redis.close()


def test_an_account_in_both_layouts_stops_the_migration_naming_it(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    prefix = settings.topic_prefix
    try:
        _old_account(redis, prefix, "acc-both", 5, 3)
        redis.set(f"ps:{prefix}ac:acc-both", b"1|" + AccountState().encode())
        failed = run(settings, "state-migrate", timeout=120)
        assert failed.returncode == 2 and "acc-both" in failed.stderr
        assert redis.exists(legacy_account_key(prefix, "acc-both"))  # left for a person
    finally:
        redis.close()
