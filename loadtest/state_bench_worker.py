"""The Faust worker of loadtest.state_bench, run as its own process so its CPU is its own.

    python -m loadtest.state_bench_worker '<json config>'   (started by state_bench, not by hand)

It consumes the pre-filled input topic with one agent (per event, or take_events() batches),
does the option's state work, and once every event is processed (and its changelog flushed)
writes its figures to the result file: CPU of this process (all threads, so librdkafka's too)
and of the broker, from the end of the warm-up batch to the last event.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from loadtest.procstat import proc_cpu_s
from loadtest.state_bench import PARTITIONS, BenchError, apply_tx, delta
from paystream.launch import free_port
from streams.accounts import AccountState
from streams.settings import Settings

#: take_events() wait: short, so the last partial batch does not idle long in the wall figure.
BATCH_WAIT_S = 0.1


class Meter:
    """CPU and wall clock of this process (and the broker's) from warm-up end to the last event."""

    def __init__(self, warmup: int, total: int, broker_pid: int | None) -> None:
        assert 0 < warmup < total
        self.warmup, self.total, self.broker_pid = warmup, total, broker_pid
        self.events = 0
        self.start: tuple[int, float, float, float | None] | None = None

    def _now(self) -> tuple[int, float, float, float | None]:
        return self.events, time.process_time(), time.perf_counter(), proc_cpu_s(self.broker_pid)

    def count(self, events: int) -> bool:
        """Count processed events; True once all have been seen."""
        self.events += events
        if self.start is None and self.events >= self.warmup:
            self.start = self._now()
        return self.events >= self.total

    def finish(self, path: Path, table: Any) -> None:
        assert self.start is not None
        end = self._now()
        figures = {"events": end[0] - self.start[0], "cpu_s": end[1] - self.start[1],
                   "wall_s": end[2] - self.start[2], "broker_cpu_s": delta(end[3], self.start[3]),
                   "seq_total": None if table is None else rocksdb_seq_total(table)}
        path.with_suffix(".tmp").write_text(json.dumps(figures))
        path.with_suffix(".tmp").rename(path)  # the parent polls for `path`: never half-written


class OwnChangelog:
    """Table writes done by hand for a whole batch: changelog first, then the local store."""

    def __init__(self, table: Any, bootstrap_servers: str) -> None:
        from confluent_kafka import Producer

        from streams.producer import PRODUCER_DEFAULTS

        self._table = table
        self._topic = table.changelog_topic_name
        self._producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap_servers,
                                   "linger.ms": 5,
                                   # we want the offset of each partition's last record
                                   "delivery.report.only.error": False})
        self._last_offset: dict[int, int] = {}
        self._errors: list[str] = []

    def _delivered(self, partition: int, error: Any, message: Any) -> None:
        if error is not None:
            self._errors.append(str(error))
        else:
            self._last_offset[partition] = message.offset()

    async def apply(self, events: list[Any]) -> None:
        from faust.types import TP
        from rocksdict import WriteBatch

        by_partition: dict[int, list[Any]] = {}
        for event in events:
            by_partition.setdefault(event.message.partition, []).append(event)
        # Not `table.data[k] = v`: the RocksDB store takes the partition from current_event(),
        # which is None in a take_events() body (its _set asserts on it), so go to each
        # partition's DB directly.
        store = self._table.data
        writes: dict[int, dict[bytes, bytes]] = {}
        for partition, group in by_partition.items():
            db = store._db_for_partition(partition)
            keys = list({e.message.key for e in group})
            states = {k: AccountState.decode(raw) if raw is not None else AccountState()
                      for k, raw in zip(keys, db.get(keys), strict=True)}  # one multi-get per partition
            for event in group:
                apply_tx(states[event.message.key], int(event.message.value), event.message.offset)
            writes[partition] = {k: s.encode() for k, s in states.items()}
            self._produce(partition, writes[partition])
        await asyncio.get_running_loop().run_in_executor(None, self._flush)
        # Only what the changelog holds may reach the local store, or a crash here would leave
        # RocksDB ahead of the changelog that standbys and recovery rebuild from.
        for partition, records in writes.items():
            batch = WriteBatch(raw_mode=True)
            for key, value in records.items():
                batch.put(key, value)
            db = store._db_for_partition(partition)
            db.write(batch)
            store.set_persisted_offset(TP(self._topic, partition), self._last_offset[partition])

    def _produce(self, partition: int, records: dict[bytes, bytes]) -> None:
        items = list(records.items())
        messages = [{"key": k, "value": v} for k, v in items[:-1]]
        # confluent-kafka 2.16 ignores a per-message partition in produce_batch: pass it here.
        queued = self._producer.produce_batch(self._topic, messages, partition=partition)
        if queued != len(messages):
            raise BenchError(f"changelog produce_batch queued {queued} of {len(messages)}")
        last_key, last_value = items[-1]
        self._producer.produce(self._topic, last_value, last_key, partition=partition,
                               on_delivery=partial(self._delivered, partition))

    def _flush(self) -> None:
        if self._producer.flush(60) or self._errors:
            raise BenchError(f"changelog not flushed: {self._errors[:3]}")


def rocksdb_seq_total(table: Any) -> int:
    """Postings counted over every account the table's RocksDB holds (after the clock stops)."""
    return sum(AccountState.decode(value).seq for db in table.data._dbs.values()
               for key, value in db.items() if not key.startswith(b"__faust"))


async def drain_faust_producer(app: Any) -> None:
    # ProducerBuffer.flush() gives up after 0.1 s without a send (faust/transport/producer.py
    # flush_atmost), so loop until its buffer is empty, then flush aiokafka itself.
    while app.producer.buffer.size:
        await app.producer.flush()
    await app.producer.flush()


def worker_main(config: dict[str, Any]) -> None:
    import faust

    from streams.app import create_app, raw_topic

    # The app id is already unique: no PAYSTREAM_TOPIC_PREFIX in front of it.
    settings = Settings().model_copy(update={"topic_prefix": "",
                                             "kafka_bootstrap_servers": config["bootstrap_servers"]})
    web_port = free_port()  # a web port nobody uses: web_enabled=False is not enough
    app = create_app(
        settings, config["app_id"], store="rocksdb://", datadir=config["datadir"],
        producer_linger=config["linger_ms"] / 1000,  # seconds, not ms
        producer_max_batch_size=1_000_000, producer_compression_type="lz4",
        web_bind="127.0.0.1", web_port=web_port)
    meter = Meter(config["batch_size"], config["transactions"], config["broker_pid"])
    result_path = Path(config["result_path"])
    option, source = config["option"], raw_topic(app, config["input_topic"])
    table = None
    if option != "faust-baseline":
        # bytes, not dict: value_type=dict broke standby recovery (DESIGN.md). Table() takes no
        # *_serializer arguments; type bytes is what selects the raw serializer.
        table = app.Table("accounts", key_type=bytes, value_type=bytes, partitions=PARTITIONS)

    if config["loop"] == "event":
        @app.agent(source, name="bench", concurrency=1)
        async def bench_events(stream: Any) -> None:
            async for event in stream.events():
                if table is not None:
                    raw = table.get(event.key)
                    state = AccountState.decode(raw) if raw is not None else AccountState()
                    apply_tx(state, int(event.value), event.message.offset)
                    table[event.key] = state.encode()  # Faust sends the changelog record
                if meter.count(1):
                    await drain_faust_producer(app)
                    meter.finish(result_path, table)
    else:
        own = OwnChangelog(table, settings.kafka_bootstrap_servers) if table is not None else None

        @app.agent(source, name="bench", concurrency=1)
        async def bench_batches(stream: Any) -> None:
            async for events in stream.take_events(config["batch_size"], within=BATCH_WAIT_S):
                if own is not None:
                    await own.apply(events)
                if meter.count(len(events)):
                    meter.finish(result_path, table)

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    # At WARN and above Faust's terminal spinner sets the root logger to DEBUG (faust/worker.py
    # _setup_spinner_handler), so every log.debug() in aiokafka and Faust builds a record.
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    worker_main(json.loads(sys.argv[1]))
