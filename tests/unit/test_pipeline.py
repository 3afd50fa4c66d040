"""The batch pipeline's guarantee on in-memory ports (tests/unit/fakes.py): outputs are sent only
after the batch is committed, a crash between commit and send is repaired by the next owner
before anything of its own, and a batch whose state moved under it is recomputed, never written
over. The same cases against real Redis and Kafka: tests/integration/test_pipeline.py."""

from __future__ import annotations

import asyncio

import pytest

from agents.authorizer import Authorizer
from agents.batch import InputEvent
from agents.pipeline import CONFLICT_RETRIES_MAX, BatchPipeline
from agents.ports import StateConflictError
from agents.reviewer import Reviewer
from agents.rules import Rules
from agents.settler import Settler
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, load_versions
from streams.errors import KafkaError
from streams.partitioning import partition_for
from streams.records import TransactionType
from tests.unit.fakes import MemorySender, MemoryStateStore
from tests.unit.test_authorize import CODECS, DAY_MS, NOW_MS, PARTITIONS, events, tx


def pipeline(store: MemoryStateStore, sender: MemorySender | None = None) -> BatchPipeline:
    authorizer = Authorizer(Rules(), CODECS, "transactions", DAY_MS, clock_ms=lambda: NOW_MS,
                            partitions=PARTITIONS)
    reviewer = Reviewer(SingleObjectCodec(load_versions("review")), authorizer,
                        SingleObjectCodec(load_versions("fraud_label")), lambda: NOW_MS)
    return BatchPipeline(store, sender or MemorySender(), authorizer,
                         Settler(CODECS.credit, CODECS.posting, lambda: NOW_MS), reviewer,
                         lambda: NOW_MS, 3_600_000, PARTITIONS)


def seed(account: str = "acc-1", amount: int = 9_000, tx_id: str = "seed") -> list[InputEvent]:
    return events(tx(tx_id, type=TransactionType.DEPOSIT, source_account="sys:settlement:EUR",
                     destination_account=account, amount=amount))


def decided(*senders: MemorySender) -> list[tuple[str, str]]:
    """(tx_id, outcome) of every decision the senders were given, in order."""
    return [(d["tx_id"], d["outcome"]) for s in senders for d in
            (CODECS.decision.decode(m.value) for m in s.sent if m.role == "decisions")]


def entries(store: MemoryStateStore) -> int:
    return sum(len(batches) for batches in store.outbox.values())


def test_outputs_are_sent_after_the_commit_and_the_outbox_is_cleared_by_the_next_commit() -> None:
    store, sender = MemoryStateStore(), MemorySender()
    seen = []

    async def run() -> None:
        worker = pipeline(store, sender)
        await worker.authorize(seed())
        seen.append(entries(store))  # sent: dropped by the partition's next commit, not apart
        await worker.authorize(events(tx("t1"), first_offset=1))
        seen.append(entries(store))  # the seed's entry dropped by t1's commit; t1's is there
        await worker.drop_sent("idle")  # what an agent with no input for a moment does
        seen.append(entries(store))
        await worker.drop_sent("sweep")  # nothing left to drop: no command, not counted
        seen.append(entries(store))
        seen.append({k: v for k, v in worker.counters.items() if k.startswith("outbox_drops")})

    asyncio.run(run())
    assert decided(sender) == [("seed", "APPROVE"), ("t1", "APPROVE")]  # nothing re-sent
    assert seen == [1, 1, 0, 0, {"outbox_drops:idle": 1}] and store.commits == 2
    assert store.balance("acc-1") == 8_000


def test_another_worker_re_sends_what_a_worker_sent_and_had_not_dropped() -> None:
    # A worker killed after a send and before the partition's next commit: the next owner
    # cannot tell sent from unsent, and sends it again (the consumers drop the second copy).
    store, first_sender, next_sender = MemoryStateStore(), MemorySender(), MemorySender()

    async def run() -> None:
        await pipeline(store, first_sender).authorize(seed())
        await pipeline(store, next_sender).authorize(events(tx("t1"), first_offset=1))

    asyncio.run(run())
    assert decided(first_sender) == [("seed", "APPROVE")]
    assert decided(next_sender) == [("seed", "APPROVE"), ("t1", "APPROVE")]
    assert store.balance("acc-1") == 8_000


def test_a_crash_between_commit_and_send_is_repaired_by_the_next_owner_first() -> None:
    store, first_sender, next_sender = MemoryStateStore(), MemorySender(), MemorySender()

    async def run() -> BatchPipeline:
        crashed = pipeline(store, first_sender)
        await crashed.authorize(seed())
        first_sender.broken = True
        t1 = events(tx("t1"), first_offset=1)
        with pytest.raises(KafkaError):
            await crashed.authorize(t1)
        assert store.balance("acc-1") == 8_000  # committed, outputs only in the outbox
        successor = pipeline(store, next_sender)  # takes the partition over
        # Kafka redelivers the uncommitted offset 1, then offset 2 arrives.
        await successor.authorize(t1 + events(tx("t2"), first_offset=2))
        return successor

    successor = asyncio.run(run())
    assert decided(first_sender, next_sender) == [("seed", "APPROVE"), ("t1", "APPROVE"),
                                                  ("t2", "APPROVE")]  # t1 once, in order
    assert successor.counters["outbox_resent"] == 1 and successor.counters["replayed"] == 1
    assert store.balance("acc-1") == 7_000
    assert entries(store) == 1  # the successor's own batch, sent, until it drops it


def test_leftovers_of_a_partition_without_new_traffic_go_out_with_the_expiry_sweep() -> None:
    store, first_sender, next_sender = MemoryStateStore(), MemorySender(), MemorySender()
    partition = partition_for("acc-1", PARTITIONS)

    async def run() -> None:
        crashed = pipeline(store, first_sender)
        first_sender.broken = True
        with pytest.raises(KafkaError):
            await crashed.authorize(seed())
        await pipeline(store, next_sender).expire_holds(partition)

    asyncio.run(run())
    assert decided(next_sender) == [("seed", "APPROVE")]
    assert not any(store.outbox.values())


def test_a_stale_view_is_recomputed_not_written_over() -> None:
    store, sender = MemoryStateStore(), MemorySender()
    one, two = pipeline(store), pipeline(store, sender)

    async def one_debits_meanwhile() -> None:
        store.after_read = None  # once
        await one.authorize(events(tx("t1", amount=5_000), first_offset=1))
        await one.drop_sent()

    async def run() -> None:
        await one.authorize(seed())
        await one.drop_sent()
        # Worker two reads acc-1, then worker one debits it before two writes.
        store.after_read = one_debits_meanwhile
        await two.authorize(events(tx("t2", amount=5_000), first_offset=2))

    asyncio.run(run())
    assert two.counters["state_conflict"] == 1
    assert decided(sender) == [("t2", "DECLINE")]  # recomputed on the new balance
    assert store.balance("acc-1") == 4_000


def test_the_same_tx_id_from_two_partitions_is_applied_once() -> None:
    far = next(f"acc-far-{i}" for i in range(1000)
               if partition_for(f"acc-far-{i}", PARTITIONS) != partition_for("acc-1", PARTITIONS))
    store, sender = MemoryStateStore(), MemorySender()
    one, two = pipeline(store), pipeline(store, sender)

    async def one_applies_dup_meanwhile() -> None:
        store.after_read = None
        await one.authorize(events(tx("dup", amount=1_000), first_offset=1))
        await one.drop_sent()

    async def run() -> None:
        await one.authorize(seed() + seed(far, tx_id="seed-far"))
        await one.drop_sent()
        store.after_read = one_applies_dup_meanwhile  # both read "dup" as unknown
        result = await two.authorize(events(tx("dup", source_account=far, amount=2_000),
                                            first_offset=1))
        assert result.counters["dlq:conflict"] == 1

    asyncio.run(run())
    assert two.counters["state_conflict"] == 1
    assert store.balance("acc-1") == 8_000
    assert store.balance(far) == 9_000  # the second body moved nothing
    assert [m.role for m in sender.sent] == ["dlq"]


def test_a_batch_that_keeps_conflicting_fails_without_writing_or_sending() -> None:
    store, sender = MemoryStateStore(), MemorySender()

    async def another_writer_moves_acc_1() -> None:
        version, blob = store.accounts["acc-1"]
        store.accounts["acc-1"] = (version + 1, blob)

    async def run() -> None:
        first = pipeline(store)
        await first.authorize(seed())
        await first.drop_sent()
        store.after_read = another_writer_moves_acc_1
        with pytest.raises(StateConflictError, match="kept conflicting"):
            await pipeline(store, sender).authorize(events(tx("t1"), first_offset=1))

    asyncio.run(run())
    assert store.commits == 1 and sender.sent == []
    assert AccountState.decode(store.accounts["acc-1"][1]).balance("EUR") == 9_000
    assert CONFLICT_RETRIES_MAX > 1


class HeldSender(MemorySender):
    """Sends wait while `open` is clear: a batch's outputs on their way to Kafka."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.open.set()

    async def send(self, messages: list) -> None:  # type: ignore[type-arg]
        await self.open.wait()
        await super().send(messages)


def test_a_batch_commits_while_the_one_before_waits_for_kafka_and_is_sent_after_it() -> None:
    store, sender = MemoryStateStore(), HeldSender()
    seen = []

    async def run() -> None:
        worker = pipeline(store, sender)
        await worker.authorize(seed())
        sender.open.clear()
        first = asyncio.ensure_future(worker.authorize(events(tx("t1"), first_offset=1)))
        second = asyncio.ensure_future(worker.authorize(events(tx("t2"), first_offset=2)))
        for _ in range(20):  # let both run as far as they can
            await asyncio.sleep(0)
        seen.append((store.commits, decided(sender)))
        sender.open.set()
        await asyncio.gather(first, second)

    asyncio.run(run())
    assert seen == [(3, [("seed", "APPROVE")])]  # both committed, neither sent yet
    assert decided(sender) == [("seed", "APPROVE"), ("t1", "APPROVE"), ("t2", "APPROVE")]
    assert store.balance("acc-1") == 7_000


def test_when_a_send_fails_the_batch_committed_behind_it_is_not_sent_before_it() -> None:
    store, sender = MemoryStateStore(), HeldSender()

    async def run() -> BatchPipeline:
        worker = pipeline(store, sender)
        await worker.authorize(seed())
        sender.open.clear()
        t1, t2 = events(tx("t1"), first_offset=1), events(tx("t2"), first_offset=2)
        first = asyncio.ensure_future(worker.authorize(t1))
        second = asyncio.ensure_future(worker.authorize(t2))
        for _ in range(20):
            await asyncio.sleep(0)
        sender.broken = True  # the broker is gone when t1's outputs go out
        sender.open.set()
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        assert all(isinstance(e, KafkaError) and e.retriable for e in outcomes), outcomes
        assert decided(sender) == [("seed", "APPROVE")]
        sender.broken = False
        await worker.authorize(t1)  # each agent retries its batch: both re-sent, in order
        await worker.authorize(t2)
        return worker

    worker = asyncio.run(run())
    assert decided(sender) == [("seed", "APPROVE"), ("t1", "APPROVE"), ("t2", "APPROVE")]
    assert worker.counters["outbox_resent"] == 2 and worker.counters["replayed"] == 2
    assert store.balance("acc-1") == 7_000
