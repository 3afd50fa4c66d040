"""A credit sent twice is applied once, even when the second copy comes after the transaction's
dedupe record was pruned (settle can run far behind authorize: a backlog, a crash's re-send)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from redis.asyncio import Redis

from agents.authorizer import Authorizer, Codecs, needed_accounts, triage
from agents.batch import InputEvent
from agents.rules import Rules
from agents.settler import Settler
from agents.store import RedisStateStore
from streams.codec import SingleObjectCodec, load_versions
from streams.partitioning import partition_for
from streams.records import Channel, Transaction, TransactionType
from streams.settings import Settings
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration
CODECS = Codecs(*(SingleObjectCodec(load_versions(r))
                  for r in ("transaction", "decision", "posting", "credit")))
DAY_MS = 86_400_000
T0 = 1_767_225_600_000


def tx(tx_id: str, at_ms: int, **changes: object) -> Transaction:
    base = Transaction(tx_id=tx_id, type=TransactionType.TRANSFER, source_account="acc-1",
                       destination_account="acc-2", amount=1_000, currency="EUR",
                       event_time=at_ms, channel=Channel.MOBILE, country="DE")
    return msgspec.structs.replace(base, **changes)


@pytest.fixture
def namespace(stack_settings: Settings, redis_url: str):  # type: ignore[no-untyped-def]
    yield stack_settings.topic_prefix
    clean_redis_namespace(redis_url, stack_settings.topic_prefix)


def test_a_late_duplicate_credit_is_not_applied_twice(namespace: str, redis_url: str) -> None:
    now_ms = T0 + 3 * DAY_MS

    async def run() -> list[int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=DAY_MS // 1000, window_ms=DAY_MS)
        authorizer = Authorizer(Rules(), CODECS, "transactions", DAY_MS, clock_ms=lambda: now_ms,
                                partitions=12)
        settler = Settler(CODECS.credit, CODECS.posting, clock_ms=lambda: now_ms)
        offsets: dict[int, int] = {}

        async def authorize(*txs: Transaction) -> list:
            events = []
            for t in txs:
                p = partition_for(t.partition_key.encode(), 12)
                offsets[p] = offsets.get(p, -1) + 1
                events.append(InputEvent(p, offsets[p], t.partition_key.encode(),
                                         CODECS.transaction.encode(t.to_record()), now_ms))
            valid, dead = triage(events, CODECS.transaction, now_ms, DAY_MS, 12)
            view = await store.read(needed_accounts(valid), {v.tx.tx_id for v in valid},
                                    {e.partition for e in events})
            result = authorizer.apply(valid, dead, view)
            await store.commit(view, result, "transactions", f"a{len(offsets)}{sum(offsets.values())}")
            return [m for ms in result.outputs.values() for m in ms if m.role == "credits"]

        async def settle(message, offset: int) -> int:  # type: ignore[no-untyped-def]
            event = InputEvent(partition_for(message.key, 12), offset, message.key, message.value, now_ms)
            credits = settler.decode([event])
            view = await store.read(credits.accounts(), credits.legacy_tx_ids(), set())
            result = settler.apply(credits, view)
            await store.commit(view, result, "credits", f"s{offset}")
            return result.counters["credited"]

        try:
            await authorize(tx("fund", T0, type=TransactionType.DEPOSIT,
                               source_account="sys:settlement:EUR", destination_account="acc-1",
                               amount=100_000))
            [credit] = await authorize(tx("x", T0 + 1_000))
            applied = [await settle(credit, 0)]
            # A day and more later in event time, the same partition moves on: x's record is pruned.
            await authorize(tx("y", T0 + DAY_MS + 60_000, destination_account="acc-3"))
            applied.append(await settle(credit, 1))  # the copy a crash's re-send produced
            view = await store.read({"acc-2"}, set(), set())
            applied.append(view.accounts["acc-2"].balance("EUR"))
            return applied
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == [1, 0, 1_000]
