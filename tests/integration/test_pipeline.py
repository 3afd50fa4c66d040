"""The batch pipeline against real Redis and Kafka, without Faust: state, outputs, crashes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis

from agents.batch import InputEvent
from paystream.wiring import build_pipeline, output_sender, state_store
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, load_versions
from streams.partitioning import partition_for
from streams.records import Channel, Transaction, TransactionType
from streams.settings import Settings
from streams.topics import topics
from tests.conftest import clean_redis_namespace
from tests.integration.kafka_reader import read_messages

pytestmark = pytest.mark.integration
NOW_MS = time.time_ns() // 1_000_000
TX = SingleObjectCodec(load_versions("transaction"))
DECISION = SingleObjectCodec(load_versions("decision"))
POSTING = SingleObjectCodec(load_versions("posting"))


def tx(tx_id: str, **changes: object) -> Transaction:
    base = Transaction(tx_id=tx_id, type=TransactionType.TRANSFER, source_account="acc-1",
                       destination_account="acc-2", amount=1_000, currency="EUR",
                       event_time=NOW_MS - 1_000, channel=Channel.WEB, country="DE")
    return msgspec.structs.replace(base, **changes)


def event(t: Transaction, offset: int) -> InputEvent:
    return InputEvent(partition_for(t.partition_key, 12), offset, t.partition_key.encode(),
                      TX.encode(t.to_record()), NOW_MS)


@pytest.fixture
def redis_namespace(stack_settings: Settings, redis_url: str):  # type: ignore[no-untyped-def]
    yield stack_settings.model_copy(update={"redis_url": redis_url})

    clean_redis_namespace(redis_url, stack_settings.topic_prefix)


async def _balance(settings: Settings, account: str) -> int:
    view = await state_store(settings).read({account}, set(), set())
    return view.accounts.get(account, AccountState()).balance("EUR")


class _ReadHook:
    """The real store with `hook` awaited after each read, once: another worker's batch gets in
    between this batch's read and its write."""

    def __init__(self, settings: Settings, hook: Callable[[], Awaitable[None]]) -> None:
        self._store, self._hook = state_store(settings), hook
        self.hooked = False

    async def read(self, *args: Any, **kwargs: Any) -> Any:
        view = await self._store.read(*args, **kwargs)
        if not self.hooked:
            self.hooked = True
            await self._hook()
        return view

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_deposit_transfer_and_settle_through_redis_and_kafka(redis_namespace: Settings) -> None:
    settings = redis_namespace

    async def run() -> None:
        pipeline = build_pipeline(settings)
        deposit = tx("d1", type=TransactionType.DEPOSIT, source_account="sys:settlement:EUR",
                     destination_account="acc-1", amount=5_000)
        await pipeline.authorize([event(deposit, 0), event(tx("t1"), 1)])
        names = topics(settings.topic_prefix)
        [credit] = read_messages(settings.kafka_bootstrap_servers, names.credits.name, 1)
        await pipeline.settle([InputEvent(credit.partition(), credit.offset(), credit.key(),
                                          credit.value(), NOW_MS)])
        assert await _balance(settings, "acc-1") == 4_000
        assert await _balance(settings, "acc-2") == 1_000
        postings = [POSTING.decode(m.value()) for m in
                    read_messages(settings.kafka_bootstrap_servers, names.postings.name, 4)]
        assert sorted(p["posting_id"] for p in postings) == ["d1:C", "d1:D", "t1:C", "t1:D"]
        assert sum(p["amount"] if p["direction"] == "CREDIT" else -p["amount"]
                   for p in postings) == 0

    asyncio.run(run())


class _Breakable:
    """The real output sender until `broken`: then Kafka is unreachable (the crash between
    commit and send)."""

    def __init__(self, settings: Settings) -> None:
        self._sender, self.broken = output_sender(settings), False

    async def send(self, messages: list) -> None:  # type: ignore[type-arg]
        if self.broken:
            raise ConnectionError("broker gone")
        await self._sender.send(messages)

    async def close(self) -> None:
        await self._sender.close()


def test_outputs_committed_but_not_sent_are_resent_by_the_next_owner(
        redis_namespace: Settings) -> None:
    settings = redis_namespace

    async def run() -> None:
        sender = _Breakable(settings)
        crashed = build_pipeline(settings, sender=sender)
        await crashed.authorize([event(tx("seed", type=TransactionType.DEPOSIT,
                                          source_account="sys:settlement:EUR",
                                          destination_account="acc-1", amount=9_000), 0)])
        sender.broken = True
        with pytest.raises(ConnectionError):
            await crashed.authorize([event(tx("t1"), 1)])

        successor = build_pipeline(settings)  # another worker takes the partition over
        # Kafka redelivers the uncommitted offset 1, then offset 2 arrives.
        result = await successor.authorize([event(tx("t1"), 1), event(tx("t2"), 2)])
        assert result.counters["replayed"] == 1 and successor.counters["outbox_resent"] == 1
        names = topics(settings.topic_prefix)
        decided = [DECISION.decode(m.value())["tx_id"] for m in
                   read_messages(settings.kafka_bootstrap_servers, names.decisions.name, 3)]
        assert decided == ["seed", "t1", "t2"]  # t1 exactly once, in order
        assert await _balance(settings, "acc-1") == 7_000

    asyncio.run(run())


def test_a_stale_view_is_recomputed_not_overwritten(redis_namespace: Settings) -> None:
    settings = redis_namespace

    async def run() -> None:
        one = build_pipeline(settings)
        await one.authorize([event(tx("seed", type=TransactionType.DEPOSIT,
                                      source_account="sys:settlement:EUR",
                                      destination_account="acc-1", amount=9_000), 0)])

        async def one_debits() -> None:
            await one.authorize([event(tx("t1", amount=5_000), 1)])

        # Worker two reads acc-1, then worker one debits it before two writes.
        two = build_pipeline(settings, store=_ReadHook(settings, one_debits))
        await two.authorize([event(tx("t2", amount=5_000), 2)])
        assert two.counters["state_conflict"] == 1
        assert await _balance(settings, "acc-1") == 4_000  # t2 recomputed: declined for funds

    asyncio.run(run())


def test_approving_a_held_withdrawal_credits_the_settlement_shard(
        redis_namespace: Settings) -> None:
    from agents.rules import Limits, Rules

    settings = redis_namespace
    review_codec = SingleObjectCodec(load_versions("review"))

    async def run() -> None:
        pipeline = build_pipeline(settings, rules=Rules(Limits(review_amount=2_000)))
        fund = tx("fund", type=TransactionType.DEPOSIT, source_account="sys:settlement:EUR",
                  destination_account="acc-1", amount=9_000)
        held = tx("atm", type=TransactionType.WITHDRAWAL, destination_account="sys:settlement:EUR",
                  amount=3_000)
        await pipeline.authorize([event(fund, 0), event(held, 1)])  # the shard exists now
        verdict = {"review_id": "atm:APPROVE", "tx_id": "atm", "source_account": "acc-1",
                   "action": "APPROVE", "reviewer": "test", "decided_at": NOW_MS}
        p = partition_for("acc-1", 12)
        result = await pipeline.review([InputEvent(p, 0, b"acc-1", review_codec.encode(verdict),
                                                   NOW_MS)])
        assert result.counters["review_approved"] == 1
        assert pipeline.counters["state_conflict"] == 0
        assert await _balance(settings, "acc-1") == 6_000
        assert await _balance(settings, f"sys:settlement:EUR:p{p:02d}") == -9_000 + 3_000

    asyncio.run(run())


def test_same_tx_id_from_two_partitions_is_applied_once(redis_namespace: Settings) -> None:
    settings = redis_namespace
    far = next(f"acc-far-{i}" for i in range(1000)
               if partition_for(f"acc-far-{i}", 12) != partition_for("acc-1", 12))

    async def run() -> None:
        one = build_pipeline(settings)
        await one.authorize([event(tx("f1", type=TransactionType.DEPOSIT,
                                      source_account="sys:settlement:EUR",
                                      destination_account="acc-1", amount=9_000), 0),
                             event(tx("f2", type=TransactionType.DEPOSIT,
                                      source_account="sys:settlement:EUR",
                                      destination_account=far, amount=9_000), 0)])
        async def one_applies_dup() -> None:
            await one.authorize([event(tx("dup", amount=1_000), 1)])

        # Two workers read "dup" as unknown at the same time, from different partitions.
        two = build_pipeline(settings, store=_ReadHook(settings, one_applies_dup))
        result = await two.authorize([event(tx("dup", source_account=far, amount=2_000), 1)])
        assert two.counters["state_conflict"] == 1
        assert result.counters["dlq:conflict"] == 1
        assert await _balance(settings, "acc-1") == 8_000
        assert await _balance(settings, far) == 9_000  # the second body moved nothing

    asyncio.run(run())


def test_dedupe_records_follow_event_time_not_the_wall_clock(redis_namespace: Settings) -> None:
    """A retry is a duplicate while its partition's event time is within the window, however
    long the wall clock says it has been; once the window passed, it is stale, never applied."""
    settings = redis_namespace.model_copy(update={"dedupe_window_ms": 60_000})

    async def run() -> None:
        pipeline = build_pipeline(settings)
        t0 = NOW_MS - 600_000
        await pipeline.authorize([event(tx("fund", type=TransactionType.DEPOSIT,
                                           source_account="sys:settlement:EUR",
                                           destination_account="acc-1", amount=9_000,
                                           event_time=t0), 0),
                                  event(tx("pay", event_time=t0 + 1_000), 1)])
        redis = Redis.from_url(settings.redis_url)
        key = f"ps:{settings.topic_prefix}t:pay"
        assert await redis.ttl(key) == -1  # no wall-clock expiry to outlive
        again = await pipeline.authorize([event(tx("pay", event_time=t0 + 1_000), 2)])
        assert again.counters["duplicate"] == 1
        # The partition's event time moves more than the window past "pay": its record goes,
        # and a retry now is stale.
        await pipeline.authorize([event(tx("later", amount=10, event_time=t0 + 70_000), 3)])
        assert not await redis.exists(key)
        late = await pipeline.authorize([event(tx("pay", event_time=t0 + 1_000), 4)])
        assert late.counters["dlq:stale"] == 1
        assert await _balance(settings, "acc-1") == 9_000 - 1_000 - 10
        await redis.aclose()

    asyncio.run(run())
