"""The batch delivery inside Faust: the queue's rules, and the Faust internals it rests on.

streams/faustbatch.py overrides methods of faust-streaming's consumer and relies on how its
app, topics and rebalances call them. If an upgrade renames or reshapes any of them, these
tests fail here, loudly, rather than the worker silently falling back to per-event delivery or
committing the wrong offsets.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version
from types import SimpleNamespace

import faust
import pytest
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.app import create_app, raw_topic
from streams.faustbatch import BatchApp, BatchConsumer, BatchQueue, Fetched
from streams.settings import Settings

#: The version streams/faustbatch.py was written against and tested with (pyproject pins it).
FAUST_VERSION = "0.15.3"


def records(tp: TP, first: int, count: int) -> Fetched:
    return Fetched(tp, [SimpleNamespace(offset=o, partition=tp.partition, key=b"k", value=b"v",
                                        timestamp=1) for o in range(first, first + count)])


def test_faust_is_the_pinned_version() -> None:
    assert version("faust-streaming") == FAUST_VERSION, (
        "faust-streaming changed: re-read faust/transport/consumer.py (_drain_messages, "
        "_wait_next_records, _new_offset, _filter_tps_with_pending_acks, wait_empty, stop_flow, "
        "on_partitions_revoked) and faust/tables/recovery.py (seek after every rebalance) "
        "before moving the pin")


@pytest.mark.parametrize("name", [
    "_drain_messages", "_wait_next_records", "_new_offset", "_filter_tps_with_pending_acks",
    "wait_empty", "stop_flow", "on_partitions_revoked", "perform_seek", "_to_message",
    "_getmany", "_get_active_partitions",
])
def test_the_consumer_methods_we_override_or_call_exist_with_their_shapes(name: str) -> None:
    method = getattr(faust_consumer.Consumer, name)
    ours = getattr(BatchConsumer, name)
    assert callable(method)
    if ours is not method and name != "_to_message":
        assert (list(inspect.signature(ours).parameters)
                == list(inspect.signature(method).parameters)), name


def test_faust_state_we_read_is_where_we_read_it() -> None:
    # BatchConsumer._next_records does what Faust's _wait_next_records does, with fewer
    # partitions: the same calls, the same flags.
    waiting = inspect.getsource(faust_consumer.Consumer._wait_next_records)
    for call in ("self.wait(self.can_resume_flow)", "self.not_waiting_next_records.set()",
                 "self._get_active_partitions()", "self._getmany(",
                 "active_partitions=active_partitions"):
        assert call in waiting, call
    source = inspect.getsource(faust_consumer.Consumer.__init__)
    for attribute in ("_read_offset", "_buffered_partitions", "_acked", "_committed_offset"):
        assert f"self.{attribute}" in source, attribute
    # Every rebalance ends with a seek of all assigned partitions to their committed offsets:
    # records we dropped when the flow stopped are fetched again.
    from faust.tables import recovery
    assert inspect.getsource(recovery.Recovery._resume_streams).count("perform_seek") == 1
    # The transport is chosen in App._new_transport and its Consumer class is an attribute.
    assert "def _new_transport" in inspect.getsource(faust.App)
    assert faust_aiokafka.Transport.Consumer is faust_aiokafka.Consumer


def test_the_worker_app_uses_the_batch_consumer_and_registers_batch_topics() -> None:
    app = create_app(Settings(topic_prefix="t-fb."))
    assert isinstance(app, BatchApp)
    assert app.transport.Consumer is BatchConsumer
    topic = raw_topic(app, "t-fb.transactions")
    queue = app.batch_queue(topic, records_max=10)
    assert app.batch_queues == {"t-fb.transactions": queue}
    # Registered with the conductor: the consumer subscribes to it.
    assert "t-fb.transactions" in {t for channel in app.topics for t in channel.topics}


def test_take_splits_at_the_bound_and_keeps_partition_order() -> None:
    async def run() -> None:
        tp = TP("t", 0)
        queue = BatchQueue("t", records_max=100)
        queue.put(records(tp, 0, 7))
        queue.put(records(TP("t", 1), 0, 3))
        first = await queue.take(5)
        assert [r.offset for f in first for r in f.records] == [0, 1, 2, 3, 4]
        assert queue.done() == {tp: 5}
        second = await queue.take(100)
        assert [(f.tp.partition, [r.offset for r in f.records]) for f in second] == [
            (0, [5, 6]), (1, [0, 1, 2])]
        assert queue.done() == {tp: 7, TP("t", 1): 3}
        assert len(queue) == 0

    asyncio.run(run())


def test_a_full_topic_is_not_fetched_and_does_not_hold_up_the_others() -> None:
    """Back-pressure per topic: the consumer asks aiokafka only for the partitions whose queue
    has room, so a backlog of transactions never holds settle's credits back."""
    async def run() -> None:
        app = create_app(Settings(topic_prefix="t-fb3."))
        consumer = app.consumer
        assert isinstance(consumer, BatchConsumer)
        transactions = app.batch_queue(raw_topic(app, "t-fb3.transactions"), records_max=5)
        credits = app.batch_queue(raw_topic(app, "t-fb3.credits"), records_max=5)
        tx_tp, credit_tp = TP("t-fb3.transactions", 0), TP("t-fb3.credits", 0)
        asked: list[set[TP]] = []

        async def getmany(active_partitions: set[TP], timeout: float) -> dict:
            asked.append(set(active_partitions))
            return {}

        consumer._get_active_partitions = lambda: {tx_tp, credit_tp}  # type: ignore[method-assign]
        consumer._getmany = getmany  # type: ignore[method-assign]
        consumer.can_resume_flow.set()
        consumer.flow_active = True

        await consumer._next_records(0.01)
        transactions.put(records(tx_tp, 0, 6))  # past the bound: full
        assert transactions.full and not credits.full
        await consumer._next_records(0.01)
        assert asked == [{tx_tp, credit_tp}, {credit_tp}]

        credits.put(records(credit_tp, 0, 5))  # both full: nothing asked, wait for room
        waiting = asyncio.ensure_future(consumer._next_records(5.0))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        await transactions.take(3)  # the agent takes a batch: room again
        assert await waiting == (None, None)
        await consumer._next_records(0.01)
        assert asked[-1] == {tx_tp}

    asyncio.run(run())


def test_drop_of_revoked_partitions_keeps_the_others() -> None:
    async def run() -> None:
        queue = BatchQueue("t", records_max=100)
        queue.put(records(TP("t", 0), 0, 4))
        queue.put(records(TP("t", 1), 0, 2))
        assert queue.drop([TP("t", 0)]) == 4
        taken = await queue.take(10)
        assert [f.tp.partition for f in taken] == [1]

    asyncio.run(run())


def test_wait_idle_waits_for_the_batch_in_flight() -> None:
    async def run() -> None:
        queue = BatchQueue("t", records_max=100)
        queue.put(records(TP("t", 0), 0, 2))
        assert await queue.wait_idle(0.01)
        await queue.take(10)
        assert not await queue.wait_idle(0.01)  # held by the agent: a rebalance waits
        queue.done()
        assert await queue.wait_idle(0.01)

    asyncio.run(run())


def test_wait_ready_says_whether_input_came_within_the_time() -> None:
    # The agents drop their sent outbox entries only after waiting this long for input in vain.
    async def run() -> None:
        queue = BatchQueue("t", records_max=100)
        assert not await queue.wait_ready(0.01)
        queue.put(records(TP("t", 0), 0, 2))
        assert await queue.wait_ready(0.01)  # queued already: at once
        await queue.take(10)
        asyncio.get_running_loop().call_later(0.02, queue.put, records(TP("t", 0), 2, 1))
        assert await queue.wait_ready(5.0)  # came while it waited
        assert len(queue) == 1
        await queue.take(10)
        queue.put(records(TP("t", 1), 0, 1))
        queue.drop([TP("t", 1)])  # revoked before the agent took them: nothing to take
        assert not await queue.wait_ready(0.01)

    asyncio.run(run())


def test_acked_batches_become_the_offsets_faust_commits() -> None:
    app = create_app(Settings(topic_prefix="t-fb2."))
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    tp = TP("t-fb2.transactions", 3)
    consumer.ack_batch({tp: 120})
    consumer.ack_batch({tp: 90})  # never backwards
    assert list(consumer._filter_tps_with_pending_acks()) == [tp]
    assert consumer._new_offset(tp) == 120
    assert consumer._filter_committable_offsets([tp]) == {tp: 120}


def test_fetch_limits_reach_the_aiokafka_consumer_faust_builds() -> None:
    """Faust passes no fetch_min_bytes; BatchConsumerThread sets aiokafka's two attributes after
    Faust builds the consumer, and aiokafka must still read them when it starts its fetcher."""
    from aiokafka import AIOKafkaConsumer

    from streams.faustbatch import BatchConsumerThread, FetchLimits

    assert "self._fetch_min_bytes = fetch_min_bytes" in inspect.getsource(AIOKafkaConsumer.__init__)
    start = inspect.getsource(AIOKafkaConsumer.start)
    assert "fetch_min_bytes=self._fetch_min_bytes" in start
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in start
    assert (inspect.signature(BatchConsumerThread._create_worker_consumer).parameters.keys()
            == inspect.signature(
                faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer).parameters.keys())

    async def build() -> tuple[int, int]:
        app = create_app(Settings(topic_prefix="unit-fetch-", worker_fetch_wait_ms=40,
                                  fetch_min_bytes=4096))
        assert app.fetch == FetchLimits(wait_ms=40, min_bytes=4096)
        consumer = app.consumer
        assert isinstance(consumer, BatchConsumer)
        thread = consumer._new_consumer_thread()
        assert isinstance(thread, BatchConsumerThread)
        built = thread._create_worker_consumer(app.transport)
        return built._fetch_min_bytes, built._fetch_max_wait_ms

    assert asyncio.run(build()) == (4096, 40)


def test_a_seek_that_races_a_rebalance_does_not_end_the_worker() -> None:
    """Records that arrive while a rebalance has stopped the flow send the consumer back to its
    committed offsets; if the assignment changes under that seek, aiokafka raises for a
    partition just revoked. Faust's getmany logs it and goes on (the rebalance seeks every
    partition when it completes); so must our loop. A worker died of this in an e2e run."""
    from aiokafka.errors import IllegalStateError

    assert "exception performing seek when flow not active" in inspect.getsource(
        faust_consumer.Consumer.getmany)

    async def run() -> int:
        app = create_app(Settings(topic_prefix="t-fb4."))
        consumer = app.consumer
        assert isinstance(consumer, BatchConsumer)
        fetcher = SimpleNamespace(_stopped=asyncio.Event())
        seeks = 0

        async def next_records(timeout: float) -> tuple[dict, set]:
            tp = TP("t-fb4.credits", 4)
            if seeks:
                fetcher._stopped.set()
            return {tp: records(tp, 0, 1).records}, {tp}

        async def perform_seek() -> None:
            nonlocal seeks
            seeks += 1
            raise IllegalStateError("No current assignment for partition")

        consumer._next_records = next_records  # type: ignore[method-assign]
        consumer.perform_seek = perform_seek  # type: ignore[method-assign]
        consumer.flow_active = False
        await consumer._drain_messages(fetcher)
        return seeks

    assert asyncio.run(run()) >= 1


class _Assignment:
    """aiokafka's assignment as BatchConsumer reads it: tps and each one's state."""

    def __init__(self, states: dict[TP, SimpleNamespace]) -> None:
        self.tps = set(states)
        self._states = states

    def state_value(self, tp: TP) -> SimpleNamespace:
        return self._states[tp]


def _consumer_with_fetcher(prefix: str, states: dict[TP, SimpleNamespace]) -> BatchConsumer:
    """A worker app's consumer whose aiokafka fetcher state is `states`."""
    app = create_app(Settings(topic_prefix=prefix))
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    assignment = _Assignment(states)
    fetcher = SimpleNamespace(
        _subscriptions=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment),
                                       reassignment_in_progress=False),
        _pending_tasks=set(), _in_flight={1}, _records={})
    consumer._thread = SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher))  # type: ignore[assignment]
    consumer.assignment = lambda: set(states)  # type: ignore[method-assign]
    consumer.flow_active = True
    return consumer


def test_a_partition_behind_the_broker_that_gets_nothing_is_reported_stalled_once_it_is_due() -> None:
    """The delivery watchdog's question (agents/workers.py DeliveryWatchdog): records at the
    broker beyond the fetch position, none consumed for the whole time, nothing holding the
    partition back. Progress, a full queue, a stopped flow or being caught up all reset it."""
    prefix = "t-fb5."
    tx, credits = TP(f"{prefix}transactions", 0), TP(f"{prefix}credits", 0)
    states = {tx: SimpleNamespace(has_valid_position=True, position=100, highwater=500,
                                  paused=False),
              credits: SimpleNamespace(has_valid_position=True, position=40, highwater=40,
                                       paused=False)}
    consumer = _consumer_with_fetcher(prefix, states)
    queue = consumer.app.batch_queue(raw_topic(consumer.app, tx.topic), records_max=5)
    consumer.app.batch_queue(raw_topic(consumer.app, credits.topic), records_max=5)

    assert consumer.stalled_partitions(0.0, 30.0) == []  # the clock starts
    assert consumer.stalled_partitions(29.0, 30.0) == []
    assert consumer.stalled_partitions(30.0, 30.0) == [tx]  # credits is caught up: never
    states[tx].position = 101  # one record consumed: the clock starts again
    assert consumer.stalled_partitions(31.0, 30.0) == []
    assert consumer.stalled_partitions(60.0, 30.0) == []
    assert consumer.stalled_partitions(61.0, 30.0) == [tx]

    queue.put(records(tx, 101, 5))  # its queue is full: the agent is the one behind
    assert consumer.stalled_partitions(100.0, 30.0) == []
    queue.drop()
    assert consumer.stalled_partitions(101.0, 30.0) == []  # room again: counts from here
    assert consumer.stalled_partitions(130.0, 30.0) == []
    consumer.flow_active = False  # a rebalance: nothing is stalled, and the clock is gone
    assert consumer.stalled_partitions(131.0, 30.0) == []
    consumer.flow_active = True
    assert consumer.stalled_partitions(132.0, 30.0) == []
    assert consumer.stalled_partitions(162.0, 30.0) == [tx]
    states[tx].position = 500  # caught up
    assert consumer.stalled_partitions(200.0, 30.0) == []

    described = "\n".join(consumer.describe())
    assert "flow active" in described
    assert f"queue {tx.topic}: 0 records in 0 fetches, 0 batches held" in described
    assert "nodes in flight [1]" in described
    assert f"{tx.topic}[0]: " in described and "fetch position 500, broker's end 500" in described


def test_a_seek_sends_a_partition_with_no_committed_offset_back_to_its_first_record() -> None:
    """aiokafka's seek_to_committed leaves a partition that has no committed offset where it
    is; records fetched there and dropped by a rebalance's stop_flow would never come again (a
    CI run left 16,819 transactions undecided so, 2026-12-07). Ours seeks it to offset 0."""
    from aiokafka.errors import IllegalStateError

    async def run() -> tuple[list[tuple[TP, int]], dict]:
        app = create_app(Settings(topic_prefix="t-fb6."))
        consumer = app.consumer
        assert isinstance(consumer, BatchConsumer)
        committed, fresh, gone = (TP("t-fb6.transactions", n) for n in (0, 1, 2))
        sought: list[tuple[TP, int]] = []

        async def seek_to_committed() -> dict[TP, int | None]:
            sought.append((committed, 120))  # what aiokafka does: only where there is one
            return {committed: 120, fresh: None, gone: None}

        async def seek(partition: TP, offset: int) -> None:
            if partition == gone:
                raise IllegalStateError("No current assignment for partition")
            sought.append((partition, offset))

        consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
        consumer._seek = seek  # type: ignore[method-assign]
        consumer.assignment = lambda: {committed, fresh, gone}  # type: ignore[method-assign]
        consumer._read_offset[fresh] = 7266  # what the dropped fetch had reached
        positions = {tp: SimpleNamespace(has_valid_position=True, position=p, highwater=p,
                                         paused=False)
                     for tp, p in ((committed, 120), (fresh, 7267), (gone, 0))}
        fetcher = SimpleNamespace(_subscriptions=SimpleNamespace(
            subscription=SimpleNamespace(assignment=_Assignment(positions))))
        consumer._thread = SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher))  # type: ignore[assignment]
        await consumer.perform_seek()
        assert consumer.rewound == 1  # counted for the metrics: the one it sent back
        return sought, dict(consumer._read_offset)

    sought, read = asyncio.run(run())
    assert sorted(sought) == [(TP("t-fb6.transactions", 0), 120), (TP("t-fb6.transactions", 1), 0)]
    assert read[TP("t-fb6.transactions", 1)] is None  # nothing read: the next fetch is delivered
