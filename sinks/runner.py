"""Run one sink: its own consumer group, batches in, one write (one transaction) per batch.

Offsets are committed only after a batch is written, so what a crash or an outage interrupts is
read again (the writers are idempotent). A store that cannot be reached or refuses a write is
retried with exponential backoff and jitter, forever, without committing: the sink stalls and
catches up later, and authorization, which never waits for a sink, goes on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException

from sinks import metrics
from streams.codec import Codec
from streams.errors import CodecError, PaystreamError
from streams.settings import Settings, kafka_client_config

log = logging.getLogger(__name__)

BACKOFF_S_MIN, BACKOFF_S_MAX = 0.5, 30.0


class StoreUnavailable(PaystreamError):
    """The sink's store cannot be reached or refused the write for now: retry the batch."""

    retriable = True


class Store(Protocol):
    """Where a sink writes: opened lazily, re-opened after a failure."""

    async def open(self) -> None: ...

    async def write(self, batch: Any) -> int:
        """Write (role, record) pairs, or what the store's own `rows(codec, values)` made of a
        batch (sinks.db.PostgresStore), idempotently; return the rows really new. Raises
        StoreUnavailable for anything worth retrying."""
        ...

    async def close(self) -> None: ...


@dataclass
class SinkStats:
    batches: int = 0
    messages: int = 0
    rows: int = 0
    retries: int = 0
    started: float = field(default_factory=time.monotonic)


#: Each sink and the topic roles it reads (streams.topics): its inputs, and what its lag is of.
SINK_INPUTS: dict[str, tuple[str, ...]] = {
    "ledger": ("postings",),
    "reporting": ("decisions",),
    "labels": ("labels",),
}


def group_id(topic_prefix: str, sink: str) -> str:
    """The consumer group a sink commits its progress in."""
    return f"{topic_prefix}paystream-sink-{sink}"


class SinkRunner:
    def __init__(self, name: str, settings: Settings, inputs: dict[str, tuple[str, Codec]],
                 store: Store, batch_max: int = 5000, wait_s: float = 0.5,
                 stats_every_s: float = 10.0, group: str | None = None,
                 sweep_every_s: float | None = None, fetch_wait_ms: int | None = None) -> None:
        """`inputs`: topic -> (role, codec) for every topic this sink reads. `sweep_every_s`:
        while no message comes, the store is given an empty batch this often, for work that
        waits on something else than a message (the labels sink's labels whose transaction
        reached the reporting store since). `fetch_wait_ms`: how long a fetch may wait at the
        broker (default: settings.sink_fetch_wait_ms)."""
        self._sweep_every_s = sweep_every_s
        self.name = name
        self._inputs = inputs
        self._store = store
        self._batch_max = batch_max
        self._wait_s = wait_s
        self._stats_every_s = stats_every_s
        self._open = False
        self.stats = SinkStats()
        #: The consumer group this sink commits in, and the topics it reads (for the lag metric).
        self.group = group or group_id(settings.topic_prefix, name)
        self.topics = list(inputs)
        self.fetch_wait_ms = settings.sink_fetch_wait_ms if fetch_wait_ms is None else fetch_wait_ms
        self._consumer = Consumer({
            **kafka_client_config(settings),
            # A sink of its own name reads on from where it stopped; another group (a rebuilt
            # table) reads everything again, and the idempotent writers add nothing twice.
            "group.id": self.group,
            "client.id": f"paystream-sink-{name}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # Whole batches: up to 1 MB per partition; a fetch waits at the broker for
            # fetch_min_bytes or fetch_wait_ms, whichever comes first (few, full requests).
            "fetch.wait.max.ms": self.fetch_wait_ms,
            "fetch.min.bytes": settings.fetch_min_bytes,
            "max.partition.fetch.bytes": 1_048_576,
        })

    @property
    def store(self) -> Store:
        return self._store

    async def run(self, stop: asyncio.Event, idle_exit_s: float | None = None) -> SinkStats:
        """Consume until `stop` is set (or, with idle_exit_s, after that long without messages)."""
        self._consumer.subscribe(list(self._inputs))
        last_report = last_message = last_write = time.monotonic()
        try:
            while not stop.is_set():
                messages = await asyncio.to_thread(self._consumer.consume, self._batch_max, self._wait_s)
                messages = [m for m in messages if not m.error()]
                now = time.monotonic()
                if messages:
                    last_message = last_write = now
                    await self._handle(messages)
                elif idle_exit_s is not None and now - last_message >= idle_exit_s:
                    break
                elif self._sweep_every_s is not None and now - last_write >= self._sweep_every_s:
                    last_write = now
                    await self._write_with_retry([])
                if now - last_report >= self._stats_every_s:
                    last_report = now
                    self._report()
        finally:
            self._consumer.close()
            await self._store.close()
        self._report()
        return self.stats

    async def _handle(self, messages: list[Any]) -> None:
        started = time.perf_counter()
        batch = self._batch(messages)
        rows = await self._write_with_retry(batch)
        await asyncio.to_thread(self._commit)
        self.stats.batches += 1
        self.stats.messages += len(messages)
        self.stats.rows += rows
        metrics.record_batch(self.name, len(messages), rows, time.perf_counter() - started)

    def _batch(self, messages: list[Any]) -> Any:
        """What the store writes: the rows its `rows` makes of the message values (a store of
        one input topic that has it, sinks/rows.py), or else (role, record) pairs."""
        make_rows = getattr(self._store, "rows", None)
        if make_rows is not None and len(self._inputs) == 1:
            [(_, codec)] = self._inputs.values()
            rows = make_rows(codec, [message.value() for message in messages])
            if rows is not None:
                return rows
        batch = []
        for message in messages:
            role, codec = self._inputs[message.topic()]
            try:
                batch.append((role, codec.decode(message.value())))
            except CodecError as exc:
                # Our own output that does not decode is a bug upstream: stop rather than skip
                # (a skipped posting would leave a hole in an account's chain).
                raise CodecError(f"{message.topic()} p{message.partition()}@{message.offset()}: "
                                 f"{exc}") from exc
        return batch

    async def _write_with_retry(self, batch: Any) -> int:
        delay = BACKOFF_S_MIN
        while True:
            try:
                if not self._open:
                    await self._store.open()
                    self._open = True
                return await self._store.write(batch)
            except StoreUnavailable as exc:
                self.stats.retries += 1
                metrics.RETRIES.labels(self.name).inc()
                log.warning("sink %s: store unavailable (%s); retrying in about %.1f s, nothing "
                            "committed", self.name, exc, delay)
                self._open = False
                await self._store.close()
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, BACKOFF_S_MAX)

    def _commit(self) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            # Lost the partitions in a rebalance: the rows are written; the new owner re-reads
            # them and writes nothing twice.
            log.warning("sink %s: offsets not committed (%s)", self.name, exc)

    def _report(self) -> None:
        elapsed = max(time.monotonic() - self.stats.started, 1e-9)
        log.info("sink %s: %d messages, %d new rows in %d batches (%.0f messages/s), %d retries",
                 self.name, self.stats.messages, self.stats.rows, self.stats.batches,
                 self.stats.messages / elapsed, self.stats.retries)
