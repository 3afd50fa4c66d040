"""The account state on a real Redis Cluster (three masters, redis-server in cluster mode):
one partition's batch on one node, the tx_id claims across partitions, the fraud features
beside the scripts, and the readers finding what the workers wrote."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import RedisCluster
from redis.crc import key_slot

from agents.batch import BatchResult, HoldChange, OutputMessage
from agents.fraud.fanin import Payment, Seen
from agents.fraud.labelrisk import DAY_MS
from agents.ports import StateConflictError
from agents.store import ClusterStateStore, delete_namespace, label_risk_key, payment_days_key
from agents.warm import write_profiles
from streams.accounts import read_accounts, read_holds_page, read_tx_records, scan_accounts
from streams.partitioning import partition_for

pytestmark = pytest.mark.integration
PARTITIONS = 12


def run_on_cluster(url: str, body: Callable[[RedisCluster, ClusterStateStore, str], Awaitable[Any]]) -> Any:
    """`body(client, store, namespace)` under a namespace of its own, deleted afterwards."""
    namespace = f"cl-{os.urandom(4).hex()}-"

    async def run() -> Any:
        redis = RedisCluster.from_url(url)
        store = ClusterStateStore(redis, namespace, tx_ttl_s=600, window_ms=60_000)
        try:
            return await body(redis, store, namespace)
        finally:
            await delete_namespace(redis, namespace)  # type: ignore[arg-type]
            await redis.aclose()

    return asyncio.run(run())


def account_in(partition: int) -> str:
    return next(f"acc-{n}" for n in range(10_000) if partition_for(f"acc-{n}", PARTITIONS) == partition)


def decided(partition: int, tx_id: str, body_hash: str, event_time: int) -> BatchResult:
    result = BatchResult(partition_event_time={partition: event_time})
    result.set_tx(tx_id, h=body_hash, s="APPROVED")
    result.tx_index.append((partition, event_time, tx_id))
    return result


def test_a_partitions_batch_commits_on_its_node_and_the_readers_find_it(redis_cluster_url: str) -> None:
    async def body(redis: RedisCluster, store: ClusterStateStore, ns: str) -> dict[str, Any]:
        partition = 5
        account = account_in(partition)
        view = await store.read({account}, {"tx-1"}, {partition})
        view.account(account).balances["EUR"] = 700
        result = decided(partition, "tx-1", "h1", 5_000)
        result.dirty.add(account)
        result.emit(partition, OutputMessage("decisions", b"k", b"v"))
        await store.commit(view, result, "transactions", "b1")
        with pytest.raises(ValueError, match="one partition"):
            await store.read({account}, set(), {partition, partition + 1})
        return {
            "tagged": await redis.exists(f"ps:{ns}ac:{{p{partition}}}{account}"),
            "read": (await read_accounts(redis, ns, [account], PARTITIONS))[account].balance("EUR"),
            "scanned": sorted(await scan_accounts(redis, ns)),
            "record": (await read_tx_records(redis, ns, ["tx-1"], partitions=PARTITIONS))["tx-1"],
            "outbox": [e[0] for e in await store.pending_outbox(("transactions",), [partition])],
            "again": (await store.read({account}, set(), {partition})).versions[account],
        }

    seen = run_on_cluster(redis_cluster_url, body)
    assert seen["tagged"] == 1
    assert seen["read"] == 700 and seen["again"] == 1
    assert seen["scanned"] == [account_in(5)]
    assert seen["record"] == {"h": "h1", "s": "APPROVED"}
    assert seen["outbox"] == ["b1"]


def test_a_tx_id_another_partition_claimed_is_a_conflict_there(redis_cluster_url: str) -> None:
    # The same tx_id reaching two partitions (two source accounts) shares no key between their
    # batches: the claim is what stops the second, as the record itself does on one server.
    async def body(redis: RedisCluster, store: ClusterStateStore, ns: str) -> dict[str, Any]:
        late = await store.read(set(), {"dup"}, {7})  # read before partition 3 commits
        await store.commit(await store.read(set(), {"dup"}, {3}), decided(3, "dup", "h1", 1_000),
                           "transactions", "b1")
        with pytest.raises(StateConflictError, match="claimed"):
            await store.commit(late, decided(7, "dup", "h2", 1_000), "transactions", "b2")
        seen_later = (await store.read(set(), {"dup"}, {7})).tx_records.get("dup")
        # A claim of a partition's own with no record: a crash between claim and commit. The
        # replay goes through.
        await redis.set(store.claim_key("own"), "3|h3")
        replay = await store.read(set(), {"own"}, {3})
        await store.commit(replay, decided(3, "own", "h3", 2_000), "transactions", "b3")
        return {"seen_later": seen_later, "own_unseen": "own" not in replay.tx_records,
                "own": (await read_tx_records(redis, ns, ["own"], partitions=PARTITIONS))["own"]}

    seen = run_on_cluster(redis_cluster_url, body)
    assert seen["seen_later"] == {"h": "h1"}  # the authorizer dead-letters it as a conflict
    assert seen["own_unseen"] and seen["own"]["s"] == "APPROVED"


def test_fraud_features_are_written_beside_the_commit_and_read_back(redis_cluster_url: str) -> None:
    # Fan-in, payments per day and label risk are keyed by destination, payer or device, not by
    # the batch's partition: they live in other slots, so they go beside the scripts.
    t = 40 * DAY_MS + 5_000

    async def body(redis: RedisCluster, store: ClusterStateStore, ns: str) -> dict[str, Any]:
        paid = decided(2, "tx-a", "ha", t)
        paid.fan_in.append(Payment("shop-1", "payer-1", t))
        await store.commit(await store.read(set(), {"tx-a"}, {2}), paid, "transactions", "b1")
        await redis.zadd(label_risk_key(ns, "shop-1"), {f"destination|tx-old|payer-9|{t}": t - 10})
        later = await store.read(set(), {"tx-b"}, {9},
                                 {"tx-b": Payment("shop-1", "payer-2", t + 1_000)})
        return {"fan_in": later.fan_in["tx-b"], "risk": later.label_risk.get("shop-1"),
                "days": later.payment_days.get("shop-1"),
                "per_day": await redis.hget(payment_days_key(ns, "shop-1"), str(t // DAY_MS))}

    seen = run_on_cluster(redis_cluster_url, body)
    assert seen["fan_in"] == Seen(1, -1)  # payer-1 paid shop-1 in the window; payer-2 never
    assert seen["per_day"] == b"1" and seen["days"] == {t // DAY_MS: 1}
    assert seen["risk"] is not None and seen["risk"][0].tx_id == "tx-old"


def test_the_other_readers_and_writers_find_the_tagged_keys(redis_cluster_url: str) -> None:
    # The review queue's page of holds (the API) and `paystream warm`'s profiles, on a cluster.
    async def body(redis: RedisCluster, store: ClusterStateStore, ns: str) -> dict[str, Any]:
        partition = 4
        account = account_in(partition)
        view = await store.read({account}, set(), {partition})
        view.account(account)
        held = BatchResult(dirty={account},
                           holds=[HoldChange("tx-h", account, partition, 90_000)])
        await store.commit(view, held, "transactions", "b1")
        profiled = account_in(8)
        await write_profiles(redis, ns, {profiled: b"warm"}, PARTITIONS)
        return {"page": await read_holds_page(redis, ns, PARTITIONS, None, 10),
                "profile": (await store.read({profiled}, set(), {8})).accounts[profiled].profile}

    seen = run_on_cluster(redis_cluster_url, body)
    assert seen["page"] == [(90_000, account_in(4), "tx-h")]
    assert seen["profile"] == b"warm"


def test_a_slot_moved_under_the_client_is_followed(fresh_redis_cluster_url: str) -> None:
    # A failover or resharding moves a partition's slot: the node the client remembers answers
    # MOVED, and the batch goes to the new owner once the client has relearnt the layout.
    # (A cluster of the test's own: a slot moves only while it holds no key, and the shared
    # one holds other tests' keys in every partition's slot.)
    async def body(redis: RedisCluster, store: ClusterStateStore, ns: str) -> tuple[bool, bool, int]:
        await store.read(set(), set(), {0})  # the client learns the layout
        partition = next(p for p in range(PARTITIONS) if p)  # a partition with no keys yet
        slot = key_slot(f"{{p{partition}}}".encode())
        nodes = list(redis.get_primaries())
        owner = redis.nodes_manager.get_node_from_slot(slot)
        target = next(n for n in nodes if n.name != owner.name)
        target_id = (await redis.cluster_myid(target)).decode()
        for node in [target, *(n for n in nodes if n is not target)]:
            await redis.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id,
                                        target_nodes=node)
        stale = redis.nodes_manager.get_node_from_slot(slot).name  # still the old owner
        account = account_in(partition)
        view = await store.read({account}, set(), {partition})
        view.account(account).balances["EUR"] = 5
        await store.commit(view, BatchResult(dirty={account}), "transactions", "b1")
        learnt = redis.nodes_manager.get_node_from_slot(slot).name
        balance = (await read_accounts(redis, ns, [account], PARTITIONS))[account].balance("EUR")
        return (stale == owner.name, learnt == target.name, balance)

    assert run_on_cluster(fresh_redis_cluster_url, body) == (True, True, 5)
