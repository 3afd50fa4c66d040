"""Whole fetched batches straight to the agents, inside Faust: no per-message event machinery.

faust-streaming hands every fetched record to its TopicConductor one at a time: a
`wait_first(callback(message), suspend_flow.wait())` per message (four tasks made, three
cancelled), an `asyncio.Lock` and flow checks in the conductor, an Event, a stream iterator,
sensors, and acking through a sorted list of every offset. That was ~110 µs of worker CPU per
transaction (DESIGN.md), more than the payment logic itself.

Faust stays the runtime (app, `@app.agent` actors, its co-partitioning assignor, rebalances,
offset commits); only the delivery between its fetcher and the agents is replaced, through
extension points it offers: an App subclass picks the Transport, whose `Consumer` class is ours.

- `BatchConsumer._drain_messages` puts each fetch's records, per topic-partition, on the
  `BatchQueue` of their topic; topics without one still go through Faust's per-message path.
  Back-pressure is per topic: the partitions of a full queue are left out of the next fetch
  (`_next_records`), so a backlog on one topic never holds up another's records.
- An agent takes a batch (`BatchQueue.take`), processes it, and acks it with one call per
  topic-partition (`BatchConsumer.ack_batch`): the next offset to commit. Faust's own commit
  timer commits it (`_new_offset`, `_filter_tps_with_pending_acks`).
- Rebalances keep Faust's order: flow stops (queued, untaken records are dropped), `wait_empty`
  also waits for the batch an agent holds, offsets are committed, and after the assignment
  Faust seeks every partition to its committed offset (one with none to its first record:
  `perform_seek`), so the dropped records come again.

`tests/unit/test_faustbatch.py` fails loudly if a Faust internal this relies on changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import faust
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams import leanfetch

log = logging.getLogger(__name__)

#: How long a rebalance waits for a batch an agent holds before it goes on without it (the
#: batch's effects are idempotent; its offsets are then simply not committed by this worker).
IN_FLIGHT_WAIT_S_MAX = 60.0


@dataclass(slots=True)
class Fetched:
    """The records of one topic-partition from one fetch, in offset order (aiokafka records)."""

    tp: TP
    records: list[Any]


class BatchQueue:
    """Fetched records of one topic waiting for its agent; bounded in records.

    The bound is kept by the consumer, which fetches no more of a topic whose queue is `full`
    (BatchConsumer._next_records): a put never waits, so one topic's backlog never holds up
    another's records (before, authorize's full queue held settle's credits back for the whole
    backlog). A put may go past the bound by one fetch.
    """

    def __init__(self, topic: str, records_max: int, space: asyncio.Event | None = None) -> None:
        assert records_max > 0
        self.topic = topic
        self._records_max = records_max
        self._items: deque[Fetched] = deque()
        self._size = 0
        self._ready = asyncio.Event()  # something to take
        #: Set when records leave (taken or dropped): the consumer waits on it when every
        #: queue is full. Shared by an app's queues.
        self._space = space or asyncio.Event()
        #: Offsets of the batches its agent holds (tp -> next offset), oldest first, until acked:
        #: an agent takes its next batch while the last one's outputs are being sent.
        self.in_flight: deque[dict[TP, int]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return self._size

    @property
    def full(self) -> bool:
        return self._size >= self._records_max

    def put(self, fetched: Fetched) -> None:
        """Queue a fetch's records (see the class docstring for the bound)."""
        self._items.append(fetched)
        self._size += len(fetched.records)
        self._ready.set()

    async def take(self, records_max: int) -> list[Fetched]:
        """Wait for records and take up to `records_max` of them, oldest first."""
        assert records_max > 0
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        taken: list[Fetched] = []
        count = 0
        while self._items and count < records_max:
            head = self._items[0]
            room = records_max - count
            if len(head.records) <= room:
                self._items.popleft()
                taken.append(head)
                count += len(head.records)
            else:  # split: the rest stays at the head, so a partition keeps its order
                taken.append(Fetched(head.tp, head.records[:room]))
                head.records = head.records[room:]
                count += room
        self._size -= count
        self._space.set()
        self.in_flight.append({f.tp: f.records[-1].offset + 1 for f in taken})
        self._idle.clear()
        return taken

    def done(self) -> dict[TP, int]:
        """The oldest batch held was processed: its next offsets, per topic-partition."""
        offsets = self.in_flight.popleft()
        if not self.in_flight:
            self._idle.set()
        return offsets

    def drop(self, tps: Iterable[TP] | None = None) -> int:
        """Forget queued records (all, or of `tps`); they will be fetched again after a seek."""
        keep = set(tps) if tps is not None else None
        before = self._size
        if keep is None:
            self._items.clear()
            self._size = 0
        else:
            self._items = deque(f for f in self._items if f.tp not in keep)
            self._size = sum(len(f.records) for f in self._items)
        self._space.set()
        return before - self._size

    async def wait_records(self, count: int) -> None:
        """Wait until at least `count` records are queued."""
        while self._size < count:
            self._ready.clear()
            await self._ready.wait()

    async def wait_ready(self, timeout_s: float) -> bool:
        """Whether records are queued within `timeout_s` (at once if some are). For the one
        agent that takes from this queue, between its batches."""
        if not self._items:
            self._ready.clear()
            if not await set_within(self._ready, timeout_s):
                return False
        return bool(self._items)

    async def wait_idle(self, timeout_s: float) -> bool:
        return await set_within(self._idle, timeout_s)


async def set_within(event: asyncio.Event, timeout_s: float) -> bool:
    """Whether `event` is set, or gets set within `timeout_s`."""
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def fetch_position(assignment: Any, tp: TP) -> tuple[Any, int | None]:
    """aiokafka's state of `tp` in `assignment` (None: not in it, or no assignment) and its
    fetch position (None: not known yet)."""
    state = assignment.state_value(tp) if assignment is not None and tp in assignment.tps else None
    return state, state.position if state is not None and state.has_valid_position else None


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, with fetches that wait at the broker for data to accumulate.

    Faust passes aiokafka no `fetch_min_bytes` (default 1: a fetch returns as soon as one record
    is there), so at moderate load a worker sent hundreds of small fetches a second and the
    broker's CPU went with them. aiokafka reads both attributes when it builds its fetcher, at
    start, after this.
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        fetch = cast("BatchApp", self.app).fetch
        consumer._fetch_min_bytes = fetch.min_bytes
        consumer._fetch_max_wait_ms = fetch.wait_ms
        return consumer


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering whole fetches to `BatchQueue`s (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch_done: dict[TP, int] = {}  # tp -> next offset to commit
        #: tp -> (fetch position, since when) of partitions behind the broker's end
        #: (stalled_partitions)
        self._progress: dict[TP, tuple[int, float]] = {}
        #: Partitions sent back to their first record so far (perform_seek), for the metrics.
        self.rewound = 0

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def batch_queues(self) -> dict[str, BatchQueue]:
        return getattr(self.app, "batch_queues", {})

    # --- delivery ---------------------------------------------------------------------------

    async def _drain_messages(self, fetcher: Any) -> None:
        should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (should_stop() or fetcher_should_stop()):
                records, active = await self._next_records(1.0)
                await self.sleep(0)
                if records is None or self.should_stop:
                    continue
                if records and not self.flow_active:
                    # Fetched while a rebalance stopped the flow: the position moved past
                    # records nobody will see; go back to the committed offsets (as Faust
                    # does). The assignment may change under the seek (aiokafka then raises
                    # IllegalStateError for a partition just revoked); the rebalance's own
                    # seek when it completes covers every partition, so log it and go on, as
                    # Faust's getmany does, rather than end the worker.
                    try:
                        await self.perform_seek()
                    except Exception as exc:  # noqa: BLE001
                        self.log.warning("seek while the flow is stopped failed (the "
                                         "rebalance's own seek follows): %r", exc)
                    continue
                await self._deliver(records, active)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        except Exception:
            self.log.exception("Drain messages raised")
            raise

    async def _next_records(self, timeout: float) -> tuple[Mapping[TP, list[Any]] | None,
                                                            set[TP] | None]:
        """Faust's `_wait_next_records`, asking only for partitions whose queue has room.

        A full queue's partitions stay in aiokafka's buffer and are not fetched again until
        their agent takes a batch; every other topic flows on. When every queue is full, wait
        until one has room (or `timeout`) rather than Faust's one-second sleep.
        """
        if not self.flow_active:
            await self.wait(self.can_resume_flow)  # type: ignore[arg-type]  # as Faust's own does
        self.not_waiting_next_records.set()
        active = self._get_active_partitions()
        if not active:
            await self.sleep(1)
            return {}, active
        space = cast("BatchApp", self.app).batch_space
        space.clear()  # before looking: a take from now on wakes the wait below
        full = {name for name, queue in self.batch_queues.items() if queue.full}
        flowing = {tp for tp in active if tp.topic not in full} if full else active
        if not flowing:
            await set_within(space, timeout)
            return None, None
        return await self._getmany(active_partitions=flowing, timeout=timeout), flowing

    async def _deliver(self, records: Mapping[TP, list[Any]], active: set[TP] | None) -> None:
        generation = self.app.consumer_generation_id
        read_offset = self._read_offset
        for tp, batch in records.items():
            if not self.flow_active or self.app.consumer_generation_id != generation:
                return  # a rebalance began; Faust seeks every partition when it ends
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            last = read_offset.get(tp)
            if last is not None and batch and batch[0].offset < last:
                batch = [r for r in batch if r.offset >= last]  # same rule as Faust's loop
            if not batch:
                continue
            queue = self.batch_queues.get(tp.topic)
            if queue is None:
                await self._deliver_one_by_one(tp, batch)
            else:
                queue.put(Fetched(tp, batch))
            read_offset[tp] = batch[-1].offset

    async def _deliver_one_by_one(self, tp: TP, batch: list[Any]) -> None:
        """Faust's own path, for topics no batch agent reads (none in paystream today)."""
        for record in batch:
            await self.wait_first(self.callback(self._to_message(tp, record)),
                                  self.suspend_flow.wait())

    # --- acks and commits -------------------------------------------------------------------

    def ack_batch(self, offsets: Mapping[TP, int]) -> None:
        """The records before these offsets were processed: they may be committed."""
        done = self._batch_done
        for tp, offset in offsets.items():
            if offset > done.get(tp, -1):
                done[tp] = offset

    def _new_offset(self, tp: TP) -> int | None:
        offset = self._batch_done.get(tp)
        return offset if offset is not None else super()._new_offset(tp)

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        seen = set(super()._filter_tps_with_pending_acks(topics))
        yield from seen
        for tp in list(self._batch_done):
            if tp not in seen and (topics is None or tp in topics or tp.topic in topics):
                yield tp

    # --- what it is doing ---------------------------------------------------------------------

    def _fetcher_state(self) -> tuple[Any, Any]:
        """aiokafka's fetcher and its current assignment (None, None before it starts). Both
        live in the consumer thread's event loop: read them as a snapshot, possibly torn."""
        aiokafka_consumer = getattr(self._thread, "_consumer", None)
        fetcher = getattr(aiokafka_consumer, "_fetcher", None)
        subscription = fetcher._subscriptions.subscription if fetcher is not None else None
        return fetcher, subscription.assignment if subscription is not None else None

    def stalled_partitions(self, now: float, after_s: float) -> list[TP]:
        """Partitions of batch topics that the broker has records for beyond the consumer's
        position and that got none for `after_s` (by `now`, monotonic seconds; call it every
        few seconds), while the flow ran and their topic's queue had room: nothing here was
        holding them back, so delivery is wedged (agents/workers.py acts on it).

        A full queue or a stopped flow (a rebalance) is a reason to wait: their partitions
        start counting again when it ends.
        """
        _, assignment = self._fetcher_state()
        progress = self._progress
        if not self.flow_active or assignment is None:
            progress.clear()
            return []
        full = {name for name, queue in self.batch_queues.items() if queue.full}
        assigned = self.assignment()
        stalled = []
        for tp in sorted(assigned):
            state, position = fetch_position(assignment, tp)
            end: int | None = state.highwater if state is not None else None
            if (position is None or end is None or end <= position
                    or tp.topic not in self.batch_queues or tp.topic in full):
                progress.pop(tp, None)
                continue
            seen = progress.get(tp)
            if seen is None or seen[0] != position:
                progress[tp] = (position, now)
            elif now - seen[1] >= after_s:
                stalled.append(tp)
        for tp in set(progress) - assigned:
            del progress[tp]
        return stalled

    def describe(self) -> list[str]:
        """Where delivery stands, for a worker that has input and does nothing (logged on
        SIGUSR2 and by the delivery watchdog, agents/workers.py): the flow, each batch queue,
        each assigned partition's read, acked and committed offsets, and what aiokafka's
        fetcher holds and waits for."""
        lines = [f"flow {'active' if self.flow_active else 'stopped'}, generation "
                 f"{self.app.consumer_generation_id}"]
        lines += [f"queue {name}: {len(queue)} records in {len(queue._items)} fetches"
                  f"{' (full)' if queue.full else ''}, {len(queue.in_flight)} batches held"
                  for name, queue in self.batch_queues.items()]
        fetcher, assignment = self._fetcher_state()
        if fetcher is not None:
            lines.append(f"fetcher: {len(fetcher._pending_tasks)} requests pending, nodes in "
                         f"flight {sorted(fetcher._in_flight)}, reassignment in progress "
                         f"{fetcher._subscriptions.reassignment_in_progress}")
        buffered = dict(fetcher._records) if fetcher is not None else {}
        active = self._active_partitions or set()
        for tp in sorted(self.assignment()):
            state, position = fetch_position(assignment, tp)
            lines.append(
                f"  {tp.topic}[{tp.partition}]: {'active' if tp in active else 'not active'}"
                f"{', paused' if tp in self._paused_partitions else ''}, read "
                f"{self._read_offset.get(tp)}, acked {self._batch_done.get(tp)}, committed "
                f"{self._committed_offset.get(tp)}, fetch position {position}, broker's end "
                f"{state.highwater if state is not None else None}"
                f"{', paused in aiokafka' if state is not None and state.paused else ''}"
                f"{', buffered ' + type(buffered[tp]).__name__ if tp in buffered else ''}")
        return lines

    # --- rebalances -------------------------------------------------------------------------

    async def perform_seek(self) -> None:
        """Faust's seek of every assigned partition to its committed offset, and of one that
        has none to its first record.

        Records a rebalance leaves unprocessed (queued when it stopped the flow: `stop_flow`;
        fetched while it was stopped: `_drain_messages`) are dropped on the rule that this seek
        brings them again. aiokafka's seek_to_committed leaves a partition with no committed
        offset at its fetch position, past them: a worker rebalanced seconds after it got its
        partitions never decided those it had fetched and not yet committed (CI, 2026-12-07:
        16,819 transactions; reproduced with batches of 16,000,
        loadtest/results/stall-2026-12-07/). Such a partition starts over from offset 0, as
        its first owner did (auto_offset_reset "earliest", streams/app.py); what was applied
        already is skipped by the accounts' applied offsets.
        """
        await super().perform_seek()
        _, assignment = self._fetcher_state()
        rewound = []
        for tp in self.assignment():
            if self._committed_offset.get(tp):
                continue
            _, position = fetch_position(assignment, tp)
            try:
                await self.seek(tp, 0)
            except IllegalStateError:  # revoked under us: the rebalance seeks it again
                continue
            if position:
                rewound.append(f"{tp.topic}[{tp.partition}] from {position}")
        if rewound:
            self.rewound += len(rewound)
            self.log.info("seek: %d partitions fetched and never committed go back to their "
                          "first record: %s", len(rewound), ", ".join(rewound))
        self._progress.clear()  # every partition's stall clock starts again from here

    def stop_flow(self) -> None:
        super().stop_flow()
        dropped = sum(queue.drop() for queue in self.batch_queues.values())
        if dropped:
            self.log.info("rebalance: dropped %d fetched records not yet taken (re-read after "
                          "the seek to committed offsets)", dropped)

    async def wait_empty(self) -> None:
        for queue in self.batch_queues.values():
            if not await queue.wait_idle(IN_FLIGHT_WAIT_S_MAX):
                self.log.warning("rebalance: %s batch still in flight after %.0f s; going on",
                                 queue.topic, IN_FLIGHT_WAIT_S_MAX)
        await super().wait_empty()

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._batch_done.pop(tp, None)
        for queue in self.batch_queues.values():
            queue.drop(revoked)
        await super().on_partitions_revoked(revoked)


class BatchTransport(faust_aiokafka.Transport):
    Consumer = BatchConsumer


@dataclass(frozen=True)
class FetchLimits:
    """How long a fetch may wait at the broker (ms) for how many bytes (BatchConsumerThread)."""

    wait_ms: int = 1500  # what Faust passes
    min_bytes: int = 1  # aiokafka's default


class BatchApp(faust.App):
    """A Faust app whose consumer delivers whole fetches to batch agents (module docstring)."""

    def __init__(self, *args: Any, fetch: FetchLimits | None = None, **kwargs: Any) -> None:
        #: topic name -> the queue its batch agent takes from (read by BatchConsumer)
        self.batch_queues: dict[str, BatchQueue] = {}
        #: Set whenever records leave any of the queues (BatchConsumer._next_records)
        self.batch_space = asyncio.Event()
        self.fetch = fetch or FetchLimits()
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return BatchTransport(self.conf.broker_consumer, self)

    def batch_queue(self, topic: Any, records_max: int) -> BatchQueue:
        """The queue an agent reading `topic` (a Faust topic) takes its batches from.

        Iterating the topic once registers it with Faust's conductor, which is what makes the
        consumer subscribe to it (faust/topics.py `Topic.__aiter__`).
        """
        (name,) = topic.topics
        topic.__aiter__()
        leanfetch.register(name)  # its records read in compiled code, not aiokafka's per record
        queue = self.batch_queues.get(name)
        if queue is None:
            queue = self.batch_queues[name] = BatchQueue(name, records_max, self.batch_space)
        return queue

    def ack_batch(self, queue: BatchQueue) -> None:
        consumer = self.consumer
        assert isinstance(consumer, BatchConsumer)
        consumer.ack_batch(queue.done())
