"""The Faust agents: authorize (transactions), settle (credits), review and payout, batched.

Each agent takes what its consumer fetched, up to `batch_size` records, straight from its
`BatchQueue` (streams/faustbatch.py: no Faust event per record) and hands it to the batch
pipeline; when the pipeline returns, the outputs are acknowledged by Kafka and the batch is
acked, so its offsets may be committed. An agent takes its next batch once the last one's state
is committed (PIPELINE_DEPTH), while that one's outputs are still being sent; batches are acked
oldest first. No exception ever leaves a batch: retriable failures (Redis or Kafka unreachable)
retry the same batch with backoff, stalling this agent rather than losing anything; anything
else ends the process at once with exit status 1, before the batch is acked, and it is consumed
again by whoever takes the partition over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from agents.batch import InputEvent
from agents.pipeline import BatchPipeline
from streams.app import raw_topic
from streams.errors import PaystreamError
from streams.faustbatch import BatchApp, BatchConsumer, BatchQueue, Fetched
from streams.topics import Topics

log = logging.getLogger(__name__)

RETRY_DELAY_S_MIN = 0.1
RETRY_DELAY_S_MAX = 5.0
#: A batch still running after this long is logged, with what it awaits (and again each time).
STALL_WARN_S = 20.0
#: An agent that took no input for this long drops its sent outbox entries itself. A worker fed
#: at a steady rate sees its queue empty after many batches, and a drop there is a round trip and
#: an fsync'd write per batch; the next batch's commit drops them at no cost of its own, and
#: input comes within a fetch wait (250 ms, PAYSTREAM_WORKER_FETCH_WAIT_MS) while there is any.
IDLE_DROP_S = 0.5
#: How often the delivery watchdog looks (register's watch_delivery), and how long a partition
#: with records at the broker may get none while nothing holds it back (its queue has room, no
#: rebalance) before the watchdog acts. A batch takes well under a second at any load.
DELIVERY_CHECK_S = 5.0
DELIVERY_STALL_S = 30.0
#: Batches an agent holds at once. The next one reads, computes and commits while the last
#: one's outputs go to Kafka (sends keep commit order, agents/pipeline.py); one agent's batches
#: followed one another before: read, compute, commit, send (a worker's authorize spent ~1 s of
#: every 10 in send). +5.3% and +2.7% tps in same-session pairs of the bench, two workers
#: (docs/benchmarks.md, 2026-12-05 early morning).
PIPELINE_DEPTH = 2


def to_inputs(fetched: list[Fetched]) -> list[InputEvent]:
    """Fetched records (streams/leanfetch.py's, or aiokafka's; timestamps in ms) as the
    pipeline's input events."""
    return [InputEvent(r.partition, r.offset, r.key, r.value, r.timestamp)
            for f in fetched for r in f.records]


def by_partition(events: list[InputEvent]) -> list[list[InputEvent]]:
    """A batch as one batch per partition, each in its order (on a Redis Cluster a batch's
    keys must share its partition's slot: agents/store.py ClusterStateStore)."""
    parts: dict[int, list[InputEvent]] = {}
    for event in events:
        parts.setdefault(event.partition, []).append(event)
    return [parts[p] for p in sorted(parts)]


def _retriable(exc: BaseException) -> bool:
    """What may succeed if tried again says so itself: the state store and the output sender
    wrap what they cannot reach as a retriable PaystreamError (agents/store.py, agents/outbox.py)."""
    return isinstance(exc, PaystreamError) and exc.retriable


async def run_batch(name: str, handler: Callable[[list[InputEvent]], Coroutine[Any, Any, Any]],
                    events: list[InputEvent]) -> None:
    """Run `handler` on the batch's input events until it succeeds; see the module docstring."""
    delay_s = RETRY_DELAY_S_MIN
    attempt = 0
    while True:
        attempt += 1
        try:
            await _watched(name, handler(events), len(events))
            if attempt > 1:
                log.info("%s: batch of %d succeeded after %d attempts", name, len(events), attempt)
            return
        except BaseException as exc:  # nothing may escape the agent (see above)
            if isinstance(exc, asyncio.CancelledError) or not _retriable(exc):
                log.critical("%s: unrecoverable error on a batch of %d; exiting so the batch "
                             "is consumed again: %r", name, len(events), exc, exc_info=True)
                logging.shutdown()
                os._exit(1)
            log.warning("%s: %s; retrying the batch in %.1f s (attempt %d)", name, exc, delay_s,
                        attempt)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_DELAY_S_MAX)


async def start_batch(name: str, handler: Callable[..., Coroutine[Any, Any, Any]],
                      events: list[InputEvent]) -> asyncio.Future[None]:
    """Start `run_batch` on the events and return once the batch's state is committed (the
    handler sets its `committed` event), with the future of the rest: its send. The agent's
    next batch must not read before that commit: it builds on it."""
    committed = asyncio.Event()
    batch = asyncio.ensure_future(run_batch(name, partial(handler, committed=committed), events))
    try:
        await _until(batch, committed.wait())
    except BaseException:
        batch.cancel()
        raise
    return batch


async def _watched(name: str, work: Coroutine[Any, Any, Any], size: int) -> None:
    """Await `work`, and say where it waits each STALL_WARN_S it goes on: a batch takes
    milliseconds, and one that waits on a reply that never comes would otherwise stall its
    agent (and its partitions' progress) with no line in the log."""
    task = asyncio.ensure_future(work)
    try:
        started = time.monotonic()
        while not (await asyncio.wait((task,), timeout=STALL_WARN_S))[0]:
            log.warning("%s: a batch of %d has run %.0f s; it awaits %s", name, size,
                        time.monotonic() - started, " <- ".join(awaiting(work)))
    except BaseException:
        task.cancel()
        raise
    task.result()


def awaiting(coroutine: Any) -> list[str]:
    """Where a suspended coroutine waits: its chain of awaits, outermost first, down to what
    it waits on (a future, a sleep)."""
    chain = []
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "gi_frame", None)
        if frame is None:  # not a coroutine: the future or the awaitable it waits on
            chain.append(type(coroutine).__qualname__)
            break
        chain.append(f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:"
                     f"{frame.f_lineno})")
        coroutine = getattr(coroutine, "cr_await", None) or getattr(coroutine, "gi_yieldfrom", None)
    return chain


async def _until(future: asyncio.Future[Any], waiting: Coroutine[Any, Any, Any]) -> None:
    """Wait until `future` is done or `waiting` returns, whichever comes first."""
    waiter = asyncio.ensure_future(waiting)
    try:
        await asyncio.wait((future, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


def register(app: BatchApp, pipeline: BatchPipeline, names: Topics, batch_size: int,
             hold_sweep_s: float = 5.0, per_partition: bool = False,
             reseeks: Callable[[str, int], None] | None = None) -> None:
    """The agents on `app`; `per_partition`: run each fetched batch as one per partition;
    `reseeks`: told of partitions sent back to read again (DeliveryWatchdog)."""
    agents = {"authorize": (names.transactions.name, pipeline.authorize),
              "settle": (names.credits.name, pipeline.settle),
              "review": (names.reviews.name, pipeline.review),
              "payout": (names.payout_outcomes.name, pipeline.settle_payouts)}
    for name, (topic_name, handler) in agents.items():
        _batch_agent(app, name, raw_topic(app, topic_name), handler, batch_size, per_partition,
                     pipeline)

    @app.timer(hold_sweep_s)
    async def expire_holds() -> None:
        # Only partitions this worker owns: their accounts are written by no one else.
        owned = sorted(tp.partition for tp in app.consumer.assignment()
                       if tp.topic == names.transactions.name)
        for partition in owned:
            async def sweep(_: list[InputEvent], partition: int = partition) -> None:
                await pipeline.expire_holds(partition)

            await run_batch("expiry", sweep, [])
        await run_batch("outbox", _drop_sent(pipeline, "sweep"), [])

    watchdog = DeliveryWatchdog(reseeks=reseeks)

    @app.timer(DELIVERY_CHECK_S)
    async def watch_delivery() -> None:
        consumer = app.consumer
        if isinstance(consumer, BatchConsumer):
            await watchdog.check(consumer, time.monotonic())

    @app.on_before_shutdown.connect
    async def close(*_: Any, **__: Any) -> None:
        await pipeline.close()

    @app.on_partitions_revoked.connect
    async def release(*_: Any, **__: Any) -> None:
        # Faust sends this after the agents' batches in flight finished: what they sent is
        # dropped here, or the partitions' next owner finds it and sends it again. Once, not
        # until it succeeds: a state store that is down must not hold up the rebalance, and a
        # second copy is what consumers already drop.
        try:
            await pipeline.drop_sent("rebalance")
        except PaystreamError as exc:
            log.warning("rebalance: sent outbox entries not dropped (%s); the partitions' next "
                        "owner re-sends them", exc)


def _exit_now(status: int) -> None:
    logging.shutdown()
    os._exit(status)


class DeliveryWatchdog:
    """Acts on a partition with records at the broker that reaches no agent for
    DELIVERY_STALL_S while nothing here holds it back (BatchConsumer.stalled_partitions), as
    two did after a rebalance in a CI run (2026-12-07; that cause is fixed in
    BatchConsumer.perform_seek, this is for the next unknown one). It says where delivery
    stands and seeks to the committed offsets, what every rebalance does (replayed events are
    skipped); wedged again soon after, it exits the process, so the partitions go to a worker
    that can read them (the agents' rule for what cannot be retried). It also reports the
    consumer's rewinds of uncommitted partitions to `reseeks`, for the metrics."""

    def __init__(self, stall_s: float = DELIVERY_STALL_S,
                 exit: Callable[[int], Any] | None = None,
                 reseeks: Callable[[str, int], None] | None = None) -> None:
        self._stall_s = stall_s
        self._exit = exit or _exit_now
        #: Told of partitions sent back to read again: why ("uncommitted", "stalled") and how
        #: many (agents/metrics.py record_reseeks).
        self._reseeks = reseeks or (lambda why, count: None)
        self._sought: dict[Any, float] = {}  # partition -> when it was last sought
        self._rewound = 0  # the consumer's count of rewound partitions, as last reported

    def _report_rewinds(self, consumer: BatchConsumer) -> None:
        if consumer.rewound > self._rewound:
            self._reseeks("uncommitted", consumer.rewound - self._rewound)
        self._rewound = consumer.rewound

    async def check(self, consumer: BatchConsumer, now: float) -> None:
        sought = self._sought
        for tp in [tp for tp, when in sought.items() if now - when > 2 * self._stall_s]:
            del sought[tp]
        self._report_rewinds(consumer)
        stalled = consumer.stalled_partitions(now, self._stall_s)
        if not stalled:
            return
        where = "\n".join(consumer.describe())
        names = ", ".join(f"{tp.topic}[{tp.partition}]" for tp in stalled)
        if any(tp in sought for tp in stalled):
            log.critical("delivery stalled again after a seek to the committed offsets (%s); "
                         "exiting so these partitions move to another worker:\n%s", names, where)
            self._exit(1)
            return
        log.warning("delivery stalled for %.0f s with records at the broker (%s); seeking to "
                    "the committed offsets:\n%s", self._stall_s, names, where)
        sought.update(dict.fromkeys(stalled, now))
        self._reseeks("stalled", len(stalled))
        try:  # bounded: the next check must come, to exit if this did not help
            await asyncio.wait_for(consumer.perform_seek(), self._stall_s)
        except (TimeoutError, PaystreamError, KafkaError) as exc:
            log.warning("the watchdog's seek failed (%r); the next check decides", exc)


def _drop_sent(pipeline: BatchPipeline,
               why: str) -> Callable[[list[InputEvent]], Coroutine[Any, Any, Any]]:
    async def drop(_: list[InputEvent]) -> None:
        await pipeline.drop_sent(why)

    return drop


def _batch_agent(app: BatchApp, name: str, topic: Any,
                 handler: Callable[..., Coroutine[Any, Any, Any]], batch_size: int,
                 per_partition: bool, pipeline: BatchPipeline) -> None:
    # Room for a few batches: the consumer fetches the next while this one is processed.
    queue = app.batch_queue(topic, records_max=4 * batch_size)

    async def agent(stream: Any) -> None:  # the stream is unused: batches come from the queue
        await serve(name, queue, handler, batch_size, per_partition,
                    ack=lambda: app.ack_batch(queue), drop_sent=_drop_sent(pipeline, "idle"))

    app.agent(topic, name=name, concurrency=1)(agent)


async def serve(name: str, queue: BatchQueue, handler: Callable[..., Coroutine[Any, Any, Any]],
                batch_size: int, per_partition: bool, ack: Callable[[], None],
                drop_sent: Callable[[list[InputEvent]], Coroutine[Any, Any, Any]]) -> None:
    """An agent's loop: take a batch, start it, take the next once it is committed if a whole
    batch is queued (up to PIPELINE_DEPTH being sent), `ack` each once sent, oldest first;
    `drop_sent` when input pauses."""
    held: deque[asyncio.Future[Any]] = deque()  # per batch taken, oldest first, until acked

    def ack_sent(_: asyncio.Future[Any]) -> None:  # as each finishes, even mid-next-batch
        while held and held[0].done() and not held[0].cancelled():
            held.popleft()
            ack()

    def sending() -> list[asyncio.Future[Any]]:
        return [batch for batch in held if not batch.done()]

    try:
        while True:
            while unsent := sending():  # take the next batch as soon as a whole one is queued
                if len(unsent) >= PIPELINE_DEPTH:
                    await asyncio.wait(unsent[:1])
                elif len(queue) >= batch_size:
                    break
                else:  # a part batch waits for the send: fewer, fuller batches at moderate load
                    await _until(unsent[0], queue.wait_records(batch_size))
            # Nothing being sent and nothing came for a moment: no later commit drops them soon.
            if not await queue.wait_ready(IDLE_DROP_S):
                await run_batch(name, drop_sent, [])
            events = to_inputs(await queue.take(batch_size))
            parts = by_partition(events) if per_partition else [events]
            batch = asyncio.gather(*[await start_batch(name, handler, part) for part in parts])
            held.append(batch)
            batch.add_done_callback(ack_sent)
    finally:
        for batch in held:
            batch.cancel()
