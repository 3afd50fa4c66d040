"""An agent takes its next batch once the last one is committed, while that one's outputs are
still being sent; it acks batches oldest first, and only once they are sent."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.types import TP

from agents import workers
from agents.batch import InputEvent
from streams.errors import KafkaError
from streams.faustbatch import BatchQueue, Fetched

TP0 = TP("t", 0)


def put(queue: BatchQueue, first: int, count: int) -> None:
    queue.put(Fetched(TP0, [SimpleNamespace(offset=o, partition=0, key=b"k", value=b"v",
                                            timestamp=1) for o in range(first, first + count)]))


class Batches:
    """A handler whose commit and send each wait for the test to let them through."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.commit: dict[int, asyncio.Event] = {}
        self.send: dict[int, asyncio.Event] = {}
        self.fail_send: set[int] = set()

    def gates(self, first: int) -> tuple[asyncio.Event, asyncio.Event]:
        return (self.commit.setdefault(first, asyncio.Event()),
                self.send.setdefault(first, asyncio.Event()))

    async def __call__(self, events: list[InputEvent], committed: asyncio.Event) -> None:
        first = events[0].offset
        commit, send = self.gates(first)
        self.log.append(f"read {first}")
        await commit.wait()
        self.log.append(f"committed {first}")
        committed.set()
        await send.wait()
        if first in self.fail_send:
            self.fail_send.discard(first)
            self.log.append(f"send failed {first}")
            raise KafkaError("broker unreachable", retriable=True)
        self.log.append(f"sent {first}")


@pytest.fixture(autouse=True)
def no_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch cancelled when a failed test ends its loop would end pytest (os._exit)."""
    def exit_(status: int) -> None:
        raise SystemExit(status)

    monkeypatch.setattr(workers.os, "_exit", exit_)


async def nothing(_: list[InputEvent]) -> None:
    pass


def serving() -> tuple[BatchQueue, Batches, list[dict[TP, int]], asyncio.Future[None]]:
    """An agent's loop over a queue, in batches of 3, recording its acks (in a running loop)."""
    queue = BatchQueue("t", records_max=100)
    batches = Batches()
    acked: list[dict[TP, int]] = []
    agent = asyncio.ensure_future(workers.serve(
        "authorize", queue, batches, 3, False, ack=lambda: acked.append(queue.done()),
        drop_sent=nothing))
    return queue, batches, acked, agent


async def settle() -> None:
    for _ in range(20):  # the batch's tasks take a few loop turns to get anywhere
        await asyncio.sleep(0)


def test_the_next_batch_starts_after_the_commit_and_acks_wait_for_the_send() -> None:
    async def run() -> None:
        queue, batches, acked, agent = serving()
        for first in (0, 3, 6):
            batches.gates(first)
        put(queue, 0, 9)  # three batches of 3
        await settle()
        assert batches.log == ["read 0"]  # the next waits for this one's commit
        batches.commit[0].set()
        await settle()
        assert batches.log == ["read 0", "committed 0", "read 3"]  # not for its send
        batches.commit[3].set()
        await settle()
        # Two held (0 sending, 3 committed): the third waits until the oldest is sent.
        assert batches.log[-1] == "committed 3" and acked == []
        batches.send[3].set()
        await settle()
        assert acked == [] and "read 6" not in batches.log  # 3 is sent, 0 is not: no ack yet
        batches.send[0].set()
        await settle()
        assert acked == [{TP0: 3}, {TP0: 6}]  # oldest first
        assert batches.log[-1] == "read 6"
        batches.commit[6].set()
        batches.send[6].set()
        await settle()
        assert acked[-1] == {TP0: 9}
        assert await queue.wait_idle(0.01)
        agent.cancel()

    asyncio.run(run())


def test_a_part_batch_waits_for_the_send_before_it() -> None:
    """At moderate load a few records arrive while a batch is sent: they wait for it and go
    as one fuller batch, rather than as many small ones each costing a read and a commit."""
    async def run() -> None:
        queue, batches, acked, agent = serving()
        commit, send = batches.gates(0)
        commit.set()
        put(queue, 0, 3)
        await settle()
        assert batches.log == ["read 0", "committed 0"]
        put(queue, 3, 2)  # less than a batch: it waits for the send
        await settle()
        assert batches.log == ["read 0", "committed 0"]
        put(queue, 5, 1)  # a whole batch now: it goes while 0 is still being sent
        await settle()
        assert batches.log == ["read 0", "committed 0", "read 3"] and acked == []
        send.set()
        await settle()
        assert acked == [{TP0: 3}]  # acked while the next batch is still reading
        batches.commit[3].set()
        batches.send[3].set()
        await settle()
        assert acked == [{TP0: 3}, {TP0: 6}]
        agent.cancel()

    asyncio.run(run())


def test_a_failed_send_is_retried_before_its_batch_is_acked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "RETRY_DELAY_S_MIN", 0.001)

    async def run() -> None:
        queue, batches, acked, agent = serving()
        batches.fail_send.add(0)
        for first in (0, 3):
            commit, send = batches.gates(first)
            commit.set()
            send.set()
        put(queue, 0, 6)
        for _ in range(50):
            if len(acked) == 2:
                break
            await asyncio.sleep(0.005)
        assert acked == [{TP0: 3}, {TP0: 6}]
        assert batches.log.count("sent 0") == 1 and "send failed 0" in batches.log
        # The retry came after the failure; batch 3 was acked only after 0's retry was sent.
        assert batches.log.index("send failed 0") < batches.log.index("sent 0")
        agent.cancel()

    asyncio.run(run())
