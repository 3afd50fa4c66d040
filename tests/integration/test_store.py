"""The account-state store's script calls against real Redis."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from redis.asyncio import Redis

from agents.batch import BatchResult, OutboxEntry, OutputMessage
from agents.fraud.fanin import FAN_IN_CAP, FAN_IN_WINDOW_MS, FanInMemory, Payment, Seen, fan_in
from agents.fraud.labelrisk import PAYMENT_DAYS_KEPT, Entry
from agents.store import (
    RedisStateStore,
    StateConflictError,
    fan_in_key,
    label_risk_key,
    payment_days_key,
)
from paystream.wiring import state_store
from streams.errors import StateStoreError
from streams.settings import Settings
from tests.conftest import clean_redis_namespace

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace(stack_settings: Settings, redis_url: str):  # type: ignore[no-untyped-def]
    yield stack_settings.topic_prefix
    clean_redis_namespace(redis_url, stack_settings.topic_prefix)


@pytest.fixture(autouse=True, params=["lua", "module"])
def commit_with(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with both ways a batch commits: agents/commit.lua and paystream's
    Redis module (native/redis, which the local stack's account-state Redis loads; "module"
    refuses to run without it, so a stack that lost it fails here rather than passing on Lua)."""
    monkeypatch.setattr(RedisStateStore.__init__, "__defaults__", (request.param,))
    return str(request.param)


def test_a_server_that_lost_the_scripts_gets_them_again(namespace: str, redis_url: str) -> None:
    # A Redis restarted without its script cache (or a failover) answers NOSCRIPT to EVALSHA,
    # alone or inside the read's MULTI: the store loads the script and the batch goes on.
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
            # the fan-in counts, a script inside the read's MULTI (agents/fanin.lua)
            paying = {"t1": Payment("shop", "acc-1", 1_000)}
            await store.commit(again, BatchResult(fan_in=list(paying.values())), "transactions",
                               "b2")
            await redis.script_flush()
            seen = (await store.read({"acc-1"}, set(), set(), paying)).fan_in["t1"]
            return again.versions["acc-1"], again.accounts["acc-1"].balance("EUR"), seen
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == (1, 500, Seen(1, 1_000))


DAY_MS = 86_400_000


def test_records_are_indexed_per_partition_and_pruned_when_the_window_passes(
        namespace: str, redis_url: str) -> None:
    # The index is what deletes a record once its partition's event time is a window past it
    # (a retry that late is stale): every record of a batch must land in its partition's index.
    async def run() -> tuple[list[bytes], list[bytes], int, int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        try:
            view = await store.read(set(), set(), {0, 1})
            first = BatchResult(partition_event_time={0: 1_000, 1: 1_000})
            records = [(0, 1_000, "t0-a"), (1, 1_000, "t1-a"), (0, 2_000, "t0-b")]
            records += [(1, 3_000 + n, f"t1-{n}") for n in range(2_500)]  # past one unpack chunk
            for partition, event_time, tx_id in records:
                first.tx_index.append((partition, event_time, tx_id))
                first.set_tx(tx_id, h="x", s="APPROVED")
            await store.commit(view, first, "transactions", "b1")
            index0 = await indexed(redis, namespace, 0)
            size1 = await redis.llen(f"ps:{namespace}txl:1")
            # partition 0's mark moves a window past its first record only
            later = BatchResult(partition_event_time={0: 61_500})
            await store.commit(await store.read(set(), set(), {0}), later, "transactions", "b2")
            left0 = await indexed(redis, namespace, 0)
            gone = await redis.exists(store.tx_key("t0-a"))
            return index0, left0, size1, gone
        finally:
            await redis.aclose()

    index0, left0, size1, gone = asyncio.run(run())
    assert index0 == [(1_000, "t0-a"), (2_000, "t0-b")] and size1 == 2_501
    assert left0 == [(2_000, "t0-b")] and gone == 0


async def indexed(redis: Redis, namespace: str, partition: int) -> list[tuple[int, str]]:
    """A partition's record index: (event time, tx_id), in its order."""
    items = await redis.lrange(f"ps:{namespace}txl:{partition}", 0, -1)
    return [(int(item[:15]), item[16:].decode()) for item in items]


def test_an_index_from_before_the_list_drains_and_the_list_waits_behind_a_late_record(
        namespace: str, redis_url: str) -> None:
    # Before 2026-12-06 the index was a sorted set by event time: a namespace written then keeps
    # being pruned from it until it is empty. In the list, a record that arrived after a later
    # one is pruned after it: kept longer than the window, never less.
    async def run() -> tuple[int, int, list[tuple[int, str]], int, int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        try:
            legacy = f"ps:{namespace}tx:3"
            await redis.zadd(legacy, {f"old-{n}": 500 + n for n in range(3)})
            for n in range(3):
                await redis.hset(store.tx_key(f"old-{n}"), mapping={"h": "x", "s": "APPROVED"})
            first = BatchResult(partition_event_time={3: 10_000})
            for event_time, tx_id in ((10_000, "late-after"), (2_000, "early")):
                first.tx_index.append((3, event_time, tx_id))
                first.set_tx(tx_id, h="x", s="APPROVED")
            await store.commit(await store.read(set(), set(), {3}), first, "transactions", "b1")
            # a window past 2,000 but not past 10,000: "early" waits behind "late-after"
            later = BatchResult(partition_event_time={3: 62_500})
            await store.commit(await store.read(set(), set(), {3}), later, "transactions", "b2")
            return (await redis.exists(legacy),
                    await redis.exists(*[store.tx_key(f"old-{n}") for n in range(3)]),
                    await indexed(redis, namespace, 3), await redis.exists(store.tx_key("early")),
                    await redis.exists(store.tx_key("late-after")))
        finally:
            await redis.aclose()

    legacy, old_records, index, early, late = asyncio.run(run())
    assert (legacy, old_records) == (0, 0)  # drained, then gone
    assert index == [(10_000, "late-after"), (2_000, "early")] and (early, late) == (1, 1)


def test_a_batch_prunes_at_least_as_many_records_as_it_adds_to_a_partition(
        namespace: str, redis_url: str) -> None:
    # A backlog is fetched a partition at a time, so one batch can add thousands of records to
    # one partition. With a fixed cap of 1,000 pruned per batch and partition, the index fell
    # further behind the window with every such batch and Redis held days of records.
    async def run() -> tuple[int, int, int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)

        async def batch(start_ms: int, name: str, count: int = 2_500) -> None:
            result = BatchResult(partition_event_time={1: start_ms + count})
            for n in range(count):
                result.tx_index.append((1, start_ms + n, f"{name}-{n}"))
                result.set_tx(f"{name}-{n}", h="x", s="APPROVED")
            await store.commit(await store.read(set(), set(), {1}), result, "transactions", name)

        try:
            await batch(0, "old")
            await batch(100_000, "new")  # its mark is over a window past every "old" record
            return (await redis.llen(f"ps:{namespace}txl:1"),
                    await redis.exists(*[store.tx_key(f"old-{n}") for n in range(2_500)]),
                    await redis.exists(*[store.tx_key(f"new-{n}") for n in range(2_500)]))
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == (2_500, 0, 2_500)


def test_the_pruning_reads_past_its_first_chunk_up_to_the_cap_and_stops_at_the_window(
        namespace: str, redis_url: str) -> None:
    # The pruning reads the index's head in chunks (about as many as the batch adds, doubling
    # while all were due), not the whole cap at once. A batch that adds nothing still prunes up
    # to the cap when more are due, stops at the first record inside the window, and ends at
    # the index's end.
    async def run() -> list[tuple[int, int]]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        names = [f"r-{n}" for n in range(1_500)]

        async def left() -> tuple[int, int]:
            return (await redis.llen(f"ps:{namespace}txl:6"),
                    await redis.exists(*[store.tx_key(name) for name in names]))

        try:
            first = BatchResult(partition_event_time={6: 1_500})
            for n, name in enumerate(names):
                first.tx_index.append((6, n, name))
                first.set_tx(name, h="x", s="APPROVED")
            await store.commit(await store.read(set(), set(), {6}), first, "transactions", "b0")
            seen = [await left()]
            for mark in (61_200, 61_300, 200_000):  # 1,200 due (the cap: 1,000), 300, the rest
                moved = BatchResult(partition_event_time={6: mark})
                await store.commit(await store.read(set(), set(), {6}), moved, "transactions",
                                   f"b{mark}")
                seen.append(await left())
            return seen
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == [(1_500, 1_500), (500, 500), (200, 200), (0, 0)]


def test_the_pruning_keeps_what_is_still_held_and_drops_the_rest(
        namespace: str, redis_url: str) -> None:
    # A record still HELD when its partition's mark passes it by a window is kept, marked k (so
    # its ending gives it a TTL); one whose hold ended goes, as does every other.
    async def run() -> tuple[dict[str, int], bytes | None, int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        try:
            first = BatchResult(partition_event_time={2: 3_000})
            for n, status in enumerate(("APPROVED", "HELD", "HELD", "DECLINED")):
                first.tx_index.append((2, 1_000 + n, f"t{n}"))
                first.set_tx(f"t{n}", h="x", s=status)
            await store.commit(await store.read(set(), set(), {2}), first, "transactions", "b1")
            ended = BatchResult()
            ended.set_tx("t2", s="REVIEW_APPROVED")  # t2's hold ends before the window passes
            await store.commit(await store.read(set(), {"t2"}, {2}), ended, "reviews", "b2")
            later = BatchResult(partition_event_time={2: 70_000})
            await store.commit(await store.read(set(), set(), {2}), later, "transactions", "b3")
            left = {name: await redis.exists(store.tx_key(name)) for name in ("t0", "t1", "t2", "t3")}
            return (left, await redis.hget(store.tx_key("t1"), "k"),
                    await redis.llen(f"ps:{namespace}txl:2"))
        finally:
            await redis.aclose()

    left, kept, index_left = asyncio.run(run())
    assert left == {"t0": 0, "t1": 1, "t2": 0, "t3": 0}
    assert kept == b"1" and index_left == 0


def test_a_record_never_held_is_pruned_unread_and_an_item_from_before_is_read_first(
        namespace: str, redis_url: str, commit_with: str) -> None:
    # A record indexed as not HELD can never be (only a decision holds), so the pruning deletes
    # it without reading its status: a call from Lua per record pruned, ~1 per transaction.
    # Items written before the mark existed all say "|" and are read first, as before.
    async def hgets(redis: Redis) -> int:
        stats = await redis.info("commandstats")
        return int(stats.get("cmdstat_hget", {}).get("calls", 0))

    async def run() -> tuple[dict[str, bytes], int, dict[str, int], dict[str, bytes | None], int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        try:
            index = f"ps:{namespace}txl:4"
            for n, status in enumerate(("HELD", "APPROVED")):  # from before: "|" whatever held
                await redis.rpush(index, f"{500 + n:015d}|old-{status}")
                await redis.hset(store.tx_key(f"old-{status}"), mapping={"h": "x", "s": status})
            first = BatchResult(partition_event_time={4: 3_000})
            for n, status in enumerate(("APPROVED", "HELD", "DECLINED")):
                first.tx_index.append((4, 1_000 + n, f"new-{status}"))
                first.set_tx(f"new-{status}", h="x", s=status)
            await store.commit(await store.read(set(), set(), {4}), first, "transactions", "b1")
            marks = {item[16:].decode(): item[15:16] for item in await redis.lrange(index, 0, -1)}
            before = await hgets(redis)
            later = BatchResult(partition_event_time={4: 70_000})
            await store.commit(await store.read(set(), set(), {4}), later, "transactions", "b2")
            read = await hgets(redis) - before
            names = ["old-HELD", "old-APPROVED", "new-APPROVED", "new-HELD", "new-DECLINED"]
            left = {name: await redis.exists(store.tx_key(name)) for name in names}
            kept = {name: await redis.hget(store.tx_key(name), "k") for name in names if left[name]}
            return marks, read, left, kept, await redis.llen(index)
        finally:
            await redis.aclose()

    marks, read, left, kept, index_left = asyncio.run(run())
    assert marks == {"old-HELD": b"|", "old-APPROVED": b"|", "new-APPROVED": b"-",
                     "new-HELD": b"|", "new-DECLINED": b"-"}
    # old-HELD, old-APPROVED, new-HELD: never the two marked "-" (the script reads each by an
    # HGET; the module looks the field up itself, no command to count)
    assert read == (3 if commit_with == "lua" else 0)
    assert left == {"old-HELD": 1, "old-APPROVED": 0, "new-APPROVED": 0, "new-HELD": 1,
                    "new-DECLINED": 0}
    assert kept == {"old-HELD": b"1", "new-HELD": b"1"} and index_left == 0


def test_payments_per_day_count_each_payment_and_drop_the_day_out_of_the_span(
        namespace: str, redis_url: str) -> None:
    async def run() -> tuple[dict, dict, int]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        key = payment_days_key(namespace, "merchant")
        try:
            async def pay(*days: int) -> None:
                result = BatchResult(fan_in=[Payment("merchant", f"payer-{n}", day * DAY_MS + n)
                                             for n, day in enumerate(days)])
                await store.commit(await store.read(set(), set(), set()), result, "transactions",
                                   f"b{days}")

            await pay(100, 100, 101)
            await pay(101)
            before = await redis.hgetall(key)
            await pay(100 + PAYMENT_DAYS_KEPT)  # day 100 leaves the span
            after = await redis.hgetall(key)
            return before, after, await redis.pttl(key)
        finally:
            await redis.aclose()

    before, after, ttl = asyncio.run(run())
    assert before == {b"100": b"2", b"101": b"2"}
    assert after == {b"101": b"2", str(100 + PAYMENT_DAYS_KEPT).encode(): b"1"}
    assert 0 < ttl <= PAYMENT_DAYS_KEPT * DAY_MS


def test_fan_in_sets_hold_what_the_offline_replay_holds_and_reads_see_them(
        namespace: str, redis_url: str) -> None:
    # The scripts read and write a destination's fan-in set once per batch for all its payments:
    # many payments to one destination in a batch (the same payer twice, more new payers than
    # the cap, a payer older than the window, which only the cap drops: no window counts it) must
    # leave the members FanInMemory keeps, every set with an expiry, and a read must count per
    # payment what the memory's lookup counts. A payer's time is read only
    # where some payer counts (a time before the payment's window is as good as none): where it
    # is read it must be the memory's, and the fan-in features must be the same either way.
    hour = 3_600_000
    t0 = 10 * FAN_IN_WINDOW_MS
    batches = [
        [Payment("shop", "p-old", t0 - FAN_IN_WINDOW_MS - hour), Payment("cafe", "p-1", t0)],
        [Payment("shop", f"p-{n}", t0 + n) for n in range(FAN_IN_CAP + 6)]
        + [Payment("shop", "p-3", t0 + hour), Payment("cafe", "p-1", t0 + 2),
           Payment("cafe", "p-2", t0 + 1)],
        [Payment("shop", "p-70", t0 + 2 * hour), Payment("shop", "p-70", t0 + hour),
         Payment("bar", "p-1", t0), Payment("pub", "r-1", t0)],
        # more payments to one destination than the scripts hand Redis in one call
        [Payment("mall", f"q-{n % 1_100}", t0 + n) for n in range(2_500)],
        # only payers the sets hold already (nothing added: the cap's trim is skipped)
        [Payment("shop", "p-70", t0 + 3 * hour), Payment("cafe", "p-2", t0 + 3 * hour)],
        # a payer more than a window before the set's newest: kept (the cap alone trims)
        [Payment("pub", "r-2", t0 + FAN_IN_WINDOW_MS + hour)],
    ]
    probe = {"a": Payment("shop", "p-3", t0 + 3 * hour), "b": Payment("shop", "p-new", t0 + 3 * hour),
             "c": Payment("cafe", "p-1", t0 + FAN_IN_WINDOW_MS + 1),
             "d": Payment("nobody", "p-1", t0),
             "e": Payment("bar", "p-1", t0 + FAN_IN_WINDOW_MS + 5),  # held, but before the window
             "f": Payment("pub", "r-1", t0 + FAN_IN_WINDOW_MS + 2 * hour)}
    probe |= {f"m{n}": Payment("mall", f"q-{n}", t0 + 3 * hour) for n in range(1_100)}

    async def run() -> tuple[dict, dict]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        try:
            for n, payments in enumerate(batches):
                await store.commit(await store.read(set(), set(), set()),
                                   BatchResult(fan_in=payments), "transactions", f"b{n}")
            held = {d: {m.decode(): int(t) for m, t in
                        await redis.zrange(fan_in_key(namespace, d), 0, -1, withscores=True)}
                    for d in ("shop", "cafe", "bar", "mall", "pub")}
            ttls = [await redis.pttl(fan_in_key(namespace, d)) for d in held]
            assert all(0 < ttl <= FAN_IN_WINDOW_MS for ttl in ttls), ttls
            view = await store.read(set(), set(), set(), payments=probe)
            return held, view.fan_in
        finally:
            await redis.aclose()

    memory = FanInMemory()
    for payments in batches:
        memory.apply(payments)
    held, seen = asyncio.run(run())
    assert held == memory.sets() and len(held["shop"]) == FAN_IN_CAP
    payments, expected = list(probe.values()), memory.lookup(list(probe.values()))
    got = [seen[k] for k in probe]
    assert [s.count for s in got] == [e.count for e in expected]
    assert [s.payer_ms for s in got if s.count] == [e.payer_ms for e in expected if e.count]
    assert fan_in(payments, got).tolist() == fan_in(payments, expected).tolist()
    assert seen["e"] == Seen(0, -1) and expected[list(probe).index("e")].payer_ms == t0
    assert held["pub"] == {"r-1": t0, "r-2": t0 + FAN_IN_WINDOW_MS + hour}
    assert seen["f"] == Seen(1, t0) and fan_in([probe["f"]], [seen["f"]]).tolist() == [2]
    assert seen["a"].payer_ms == t0 + hour and seen["d"].count == 0
    assert seen["m299"].payer_ms == t0 + 2_499 and seen["m0"].payer_ms == -1  # not in the newest 64


def test_label_risk_is_read_for_exactly_the_labelled_accounts_among_many(
        namespace: str, redis_url: str) -> None:
    # The read checks label-risk sets a group at a time and reads a group only where one exists:
    # labelled accounts in the first, a middle and the last (short) group, the rest without.
    async def run() -> tuple[dict, dict]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        payments = {f"t{n}": Payment(f"shop-{n:02d}", f"payer-{n:02d}", 1_000 + n)
                    for n in range(25)}  # 50 names: the destinations shop-00..24 first, then payer-00..24
        labelled = {"payer-00": Entry("p", "x1", "payer-00", 5, 1),
                    "payer-20": Entry("p", "x2", "payer-20", 6, 2),
                    "shop-24": Entry("d", "x3", "payer-09", 7, 3)}
        try:
            for account, entry in labelled.items():
                await redis.zadd(label_risk_key(namespace, account), {entry.member: entry.event_ms})
            await redis.hset(payment_days_key(namespace, "shop-24"), mapping={"19": 4})
            view = await store.read(set(), set(), set(), payments)
            return view.label_risk, view.payment_days
        finally:
            await redis.aclose()

    risk, days = asyncio.run(run())
    assert {account: [e.tx_id for e in entries] for account, entries in risk.items()} == {
        "payer-00": ["x1"], "payer-20": ["x2"], "shop-24": ["x3"]}
    assert days == {"shop-24": {19: 4}}


def test_a_batch_reads_exactly_the_transaction_records_that_exist(
        namespace: str, redis_url: str) -> None:
    # Records are read a group at a time where one exists: known ones in the first, a middle and
    # the last (short) group of 40, the rest new.
    async def run() -> dict[str, dict[str, str]]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        ids = [f"t{n:02d}" for n in range(40)]
        try:
            known = BatchResult()
            for tx_id in ("t00", "t17", "t39"):
                known.set_tx(tx_id, h=f"hash-{tx_id}", s="APPROVED")
            await store.commit(await store.read(set(), set(), set()), known, "transactions", "b1")
            return (await store.read(set(), set(ids), set())).tx_records
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == {tx_id: {"h": f"hash-{tx_id}", "s": "APPROVED"}
                                  for tx_id in ("t00", "t17", "t39")}


def test_the_read_says_whether_the_partitions_outboxes_hold_anything(
        namespace: str, redis_url: str) -> None:
    # A batch re-sends an earlier run's outputs only when its read says some are left
    # (agents/pipeline.py): an entry left in one role's outbox of one of the batch's partitions
    # is seen, one of another partition or role is not, one the reader names as its own is not,
    # and once it is done nothing is left.
    async def run() -> list[bool]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        roles = ("transactions", "credits")
        b1 = OutboxEntry("credits", 3, "b1")
        try:
            left = BatchResult()
            left.emit(3, OutputMessage("decisions", b"k", b"v"))
            await store.commit(await store.read(set(), set(), {3}), left, "credits", "b1")
            seen = [(await store.read({"acc-1"}, set(), {2, 3}, None, roles)).outbox_left,
                    (await store.read({"acc-1"}, set(), {2}, None, roles)).outbox_left,
                    (await store.read({"acc-1"}, set(), {3}, None, ("transactions",))).outbox_left,
                    (await store.read({"acc-1"}, set(), {3})).outbox_left,  # not asked: maybe
                    (await store.read({"acc-1"}, set(), {2, 3}, None, roles, {b1})).outbox_left,
                    # an own entry already dropped hides no one else's
                    (await store.read({"acc-1"}, set(), {3}, None, roles,
                                      {OutboxEntry("credits", 3, "b0")})).outbox_left]
            await store.outbox_done([b1])
            return [*seen, (await store.read({"acc-1"}, set(), {2, 3}, None, roles)).outbox_left]
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == [True, False, False, True, False, True, False]


def test_a_commit_drops_the_sent_entries_it_is_given_and_only_when_it_writes(
        namespace: str, redis_url: str) -> None:
    # The pipeline drops a sent batch's outbox entry with its next commit on the partition
    # (agents/pipeline.py); a commit that conflicts writes nothing, and drops nothing either.
    async def run() -> list[set[bytes]]:
        redis = Redis.from_url(redis_url)
        store = RedisStateStore(redis, namespace, tx_ttl_s=60, window_ms=60_000)
        key = store.outbox_key("transactions", 3)
        try:
            first = BatchResult()
            first.emit(3, OutputMessage("decisions", b"k", b"v1"))
            await store.commit(await store.read(set(), set(), {3}), first, "transactions", "b1")
            stale = await store.read({"acc-1"}, set(), {3})
            stale.account("acc-1")
            fresh = await store.read({"acc-1"}, set(), {3})
            fresh.account("acc-1")
            moved = BatchResult()  # another batch moves acc-1 after `stale` was read
            moved.dirty.add("acc-1")
            await store.commit(fresh, moved, "credits", "b2")
            seen = [set(await redis.hkeys(key))]
            conflicting = BatchResult()
            conflicting.dirty.add("acc-1")
            conflicting.emit(3, OutputMessage("decisions", b"k", b"v3"))
            with pytest.raises(StateConflictError):
                await store.commit(stale, conflicting, "transactions", "b3",
                                   [OutboxEntry("transactions", 3, "b1")])
            seen.append(set(await redis.hkeys(key)))
            second = BatchResult()
            second.emit(3, OutputMessage("decisions", b"k", b"v4"))
            await store.commit(await store.read(set(), set(), {3}), second, "transactions", "b4",
                               [OutboxEntry("transactions", 3, "b1")])
            return [*seen, set(await redis.hkeys(key))]
        finally:
            await redis.aclose()

    assert asyncio.run(run()) == [{b"b1"}, {b"b1"}, {b"b4"}]


def test_a_server_that_goes_silent_is_a_retriable_error_not_a_stall(
        stack_settings: Settings) -> None:
    # A server that takes the connection and never answers (a half-open socket, a paused
    # node): redis-py alone would wait forever and the worker's agent with it. The worker's
    # store gives up after PAYSTREAM_REDIS_REPLY_TIMEOUT_S with a retriable error, which the
    # agent retries (agents/workers.py) and logs.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings = stack_settings.model_copy(update={
            "redis_url": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
            "redis_reply_timeout_s": 0.5})

        async def read() -> None:
            store = state_store(settings)
            await store.read({"acc-1"}, set(), {0})

        started = time.monotonic()
        with pytest.raises(StateStoreError) as raised:
            asyncio.run(read())
    assert raised.value.retriable
    assert time.monotonic() - started < 10
