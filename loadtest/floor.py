"""The physical floor of a bench run: what its Kafka messages and PostgreSQL rows cost alone.

Measured after the run, on the run's own data, in this process (a client that does nothing
else) with the servers' CPU read from /proc:

- Kafka: read every input transaction once; produce as many messages as the run wrote to its
  output topics (decisions, postings, credits, dead letters), cycling through real messages of
  each so the sizes and their compressibility are the run's; then two consumer groups read
  them back (the ledger and reporting sinks' reads). Producer settings are the pipeline's
  (idempotent, acks=all, large batches, compressed as the workers' outputs: streams.recordbatches). Client CPU (all librdkafka threads) + broker CPU, measured KAFKA_REPEATS
  times.
- PostgreSQL: COPY the run's ledger rows and reporting rows into copies of those tables (same
  columns, same indexes), 5,000 rows per database transaction, as binary COPY data made by
  compiled code from the rows (paystream_avro.copy_records, the sinks' encoder: the cheapest way
  in we know) and sent by asyncpg. Server CPU (the postmaster tree) + client CPU (making the data
  and sending it). At most ROWS_MAX rows per table are copied; the cost scales to the run's row
  count per row. Copying the max-rate phase's rows instead (~2M ledger rows of a 1M run, in the
  order written) was measured on 2026-12-08 morning against the sample in the same minutes
  (loadtest/results/closeout-2026-12-08): 10% lower after one run (the sample's copies first),
  6-10% higher after the next (alternated), the machine's speed probe moving by 1.5x between
  copies. Not resolved, so not kept: the sample is the method the history was measured with, and
  it takes a third of the time. The copies are made PG_REPEATS times. Before each, the floor waits
  (at most SETTLE_MAX_S) until no autovacuum worker runs and asks the server to write its dirty
  buffers (CHECKPOINT), so that each measures its own rows and not the run's leftovers. The
  CHECKPOINT needs superuser or pg_checkpoint, which the local stack grants its paystream role
  (deploy/local/stack_postgres.py); a role without it is refused and told so, and then a
  checkpoint the run set off may still be under way. The bench settles the server the same way
  before each of its phases.

Each part of the floor is the lowest of its measurements. Each repeats the same work, and what
moves one (a neighbour on the host, the run's own checkpoint or autovacuum landing in the
window, a first copy that pays for something the later ones do not) only adds CPU: the lowest
is the nearest to what the messages and rows physically cost. Until 2026-12-08 PostgreSQL's part
was the median of three and Kafka's was measured once; on a noisy hour the copies spread by up
to 36% within a run (loadtest/results/settle-2026-12-07), so the median could be a disturbed
copy and the multiple too low. The lowest can only make the multiple higher than the median
did, never lower.

floor_us_per_tx = (Kafka CPU + PostgreSQL CPU) / the run's transactions. The pipeline's own
CPU per transaction divided by it is the run's floor multiple (issue: target 3x).
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.producer import PRODUCER_DEFAULTS
from streams.recordbatches import COMPRESSION as OUTPUT_COMPRESSION
from streams.topics import delete_topics, message_count

#: Output roles the pipeline writes per transaction, and those two sinks read back.
OUTPUT_ROLES = ("decisions", "postings", "credits", "dlq")
READ_BACK_ROLES = ("decisions", "postings")
SAMPLE_MESSAGES = 2_000
ROWS_PER_TRANSACTION = 5_000
ROWS_MAX = 600_000
PG_REPEATS = 3
KAFKA_REPEATS = 2
SETTLE_MAX_S = 60.0
FLOOR_TABLES = ("ledger", "report_transactions")


@dataclass
class Floor:
    transactions: int
    kafka_messages: dict[str, int]
    kafka_client_s: float
    kafka_broker_s: float
    pg_rows: dict[str, int]
    pg_client_s: float
    pg_server_s: float
    #: Every PostgreSQL measurement's (client s, server s); the lowest one is pg_*_s.
    pg_repeats: list[tuple[float, float]] = field(default_factory=list)
    #: Every Kafka measurement's (client s, broker s); the lowest one is kafka_*_s.
    kafka_repeats: list[tuple[float, float]] = field(default_factory=list)
    #: loadtest/speed.py's probe just before and after each PostgreSQL measurement (outside its
    #: CPU window): the floor is measured minutes after the phases, and the machine's speed
    #: then is what to compare the phases' with when the floor moves from run to run.
    pg_speed_us: list[float] = field(default_factory=list)

    def us_per_tx(self) -> dict[str, float]:
        per = 1e6 / max(self.transactions, 1)
        kafka = (self.kafka_client_s + self.kafka_broker_s) * per
        pg = (self.pg_client_s + self.pg_server_s) * per
        return {"kafka": round(kafka, 1), "kafka_client": round(self.kafka_client_s * per, 1),
                "kafka_broker": round(self.kafka_broker_s * per, 1),
                "postgres": round(pg, 1), "postgres_server": round(self.pg_server_s * per, 1),
                "postgres_client": round(self.pg_client_s * per, 1),
                "total": round(kafka + pg, 1)}

    def as_dict(self) -> dict[str, Any]:
        per = 1e6 / max(self.transactions, 1)
        return {"us_per_tx": self.us_per_tx(), "transactions": self.transactions,
                "kafka_messages": self.kafka_messages, "pg_rows": self.pg_rows,
                "postgres_us_per_tx_repeats": [round((client + server) * per, 1)
                                               for client, server in self.pg_repeats],
                "kafka_us_per_tx_repeats": [round((client + broker) * per, 1)
                                            for client, broker in self.kafka_repeats],
                "postgres_speed_probe_us": (round(statistics.median(self.pg_speed_us), 1)
                                            if self.pg_speed_us else None),
                "method": __doc__.split("\n\n")[1].strip()}


def _consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760})


def read_all(bootstrap: str, topic: str, expected: int, limit: int | None = None) -> list[Any]:
    """Read `topic` from the start until `expected` messages (or `limit`) came; keep up to
    `limit` of them (None: keep none, only count)."""
    consumer = _consumer(bootstrap, f"floor-{uuid.uuid4().hex[:8]}")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in sorted(partitions)])
    kept: list[Any] = []
    seen = 0
    goal = expected if limit is None else min(expected, limit)
    deadline = time.monotonic() + 600
    try:
        while seen < goal and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=1.0):
                if message.error():
                    continue
                seen += 1
                if limit is not None and len(kept) < limit:
                    kept.append((message.key(), message.value()))
    finally:
        consumer.close()
    return kept


def measure_kafka(bootstrap: str, topics: dict[str, str], transactions_topic: str,
                  broker_cpu_s: Callable[[], float], partitions: int,
                  repeats: int = KAFKA_REPEATS) -> tuple[dict, list[tuple[float, float]]]:
    """(messages per role, every measurement's (client s, broker s))."""
    from confluent_kafka.admin import AdminClient

    probe = _consumer(bootstrap, "floor-probe")
    counts = {role: message_count(probe, name) for role, name in topics.items()}
    inputs = message_count(probe, transactions_topic)
    probe.close()
    samples = {role: read_all(bootstrap, topics[role], counts[role], SAMPLE_MESSAGES)
               for role in OUTPUT_ROLES if counts[role]}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    measured = []
    for repeat in range(1, repeats + 1):
        measured.append(_kafka_once(bootstrap, admin, transactions_topic, inputs, samples,
                                    counts, broker_cpu_s, partitions))
        print(f"  floor Kafka {repeat}: {sum(measured[-1]):.1f} s of CPU", flush=True)
    return {"input": inputs, **{r: counts[r] for r in OUTPUT_ROLES}}, measured


def _kafka_once(bootstrap: str, admin: Any, transactions_topic: str, inputs: int,
                samples: dict[str, list[Any]], counts: dict[str, int],
                broker_cpu_s: Callable[[], float], partitions: int) -> tuple[float, float]:
    """Read the input once, write the outputs to a fresh topic, read them back twice:
    (client s, broker s)."""
    from confluent_kafka.admin import NewTopic

    floor_topic = f"{transactions_topic}.floor-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(floor_topic, partitions, 1)])[floor_topic].result(30)
    total_out = sum(counts[role] for role in samples)
    try:
        client0, broker0 = time.process_time(), broker_cpu_s()
        read_all(bootstrap, transactions_topic, inputs)  # the input, read once
        producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap,
                             "compression.type": OUTPUT_COMPRESSION or "none"})
        for role, sample in samples.items():
            for key, value in itertools.islice(itertools.cycle(sample), counts[role]):
                while True:
                    try:
                        producer.produce(floor_topic, value, key)
                        break
                    except BufferError:
                        producer.poll(0.05)
        producer.flush(120)
        read_back = sum(counts[r] for r in READ_BACK_ROLES if r in samples)
        for _ in range(2):  # two sink groups; each reads its share (decisions, postings)
            read_all(bootstrap, floor_topic, read_back or total_out)
        client_s, broker_s = time.process_time() - client0, broker_cpu_s() - broker0
    finally:
        delete_topics(admin, [floor_topic], timeout_s=60)
    return client_s, broker_s


async def measure_postgres(database_url: str, schema: str, server_cpu_s: Callable[[], float],
                           repeats: int = PG_REPEATS
                           ) -> tuple[dict, float, float, list[tuple[float, float]], list[float]]:
    """(rows per table, client s, server s of the lowest measurement, every measurement, the
    speed probe's readings around them)."""
    from loadtest import speed
    from sinks.db import connected
    from streams.ledgerchain import to_ms

    rows_by_table: dict[str, int] = {}
    tables = []  # (table, its run's row count / rows copied, columns, kinds, records)
    async with connected(database_url, schema) as db:
        for table in FLOOR_TABLES:
            total = int(await db.fetchval(f"SELECT count(*) FROM {table}"))
            rows = await db.fetch(f"SELECT * FROM {table} LIMIT {ROWS_MAX}")
            rows_by_table[table] = total
            if rows:
                columns, kinds = await copy_kinds(db, table)
                records = [{c: to_ms(v) if isinstance(v, datetime) else v for c, v in r.items()}
                           for r in rows]
                tables.append((table, total / len(records), columns, kinds, records))
        measured, speeds = [], []
        for repeat in range(1, repeats + 1):
            print(f"  floor copy {repeat}: PostgreSQL settled: {await settle(db)}", flush=True)
            speeds.append(speed.probe_us())
            measured.append(await _copy_once(db, tables, server_cpu_s))
            speeds.append(speed.probe_us())
    client_s, server_s = min(measured, key=sum)
    return rows_by_table, client_s, server_s, measured, speeds


async def _copy_once(db: Any, tables: list[tuple[str, float, list[str], str, list[dict]]],
                     server_cpu_s: Callable[[], float]) -> tuple[float, float]:
    """COPY each table's rows once into a fresh copy of it, ROWS_PER_TRANSACTION rows per
    database transaction: (client s, server s), scaled to the run's row counts."""
    from paystream_avro import copy_records

    from sinks.db import copy_data

    client_s = server_s = 0.0
    for table, scale, columns, kinds, records in tables:
        copy = f"floor_{table}"
        await db.execute(f"DROP TABLE IF EXISTS {copy}; "
                         f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
        client0, server0 = time.process_time(), server_cpu_s()
        for start in range(0, len(records), ROWS_PER_TRANSACTION):
            data = copy_records(records[start:start + ROWS_PER_TRANSACTION], columns, kinds)
            async with db.transaction():
                await copy_data(db, copy, columns, data)
        client_s += (time.process_time() - client0) * scale
        server_s += (server_cpu_s() - server0) * scale
        await db.execute(f"DROP TABLE {copy}")
    return client_s, server_s


async def settle(db: Any, max_s: float = SETTLE_MAX_S) -> str:
    """Wait until no autovacuum worker runs (at most `max_s`), then CHECKPOINT: what came before
    (an earlier run's rows, this run's) is not measured as what comes next. A user who may not
    CHECKPOINT skips it. Returns what it did, for the caller to print."""
    import asyncpg

    started = time.monotonic()
    for _ in range(int(max_s / 0.5)):  # polled: PostgreSQL announces no end of a vacuum
        if not await db.fetchval("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE backend_type = 'autovacuum worker'"):
            break
        await asyncio.sleep(0.5)
    waited = time.monotonic() - started
    try:
        await db.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError as exc:
        return f"autovacuum waited {waited:.1f} s, CHECKPOINT refused ({exc})"
    return (f"autovacuum waited {waited:.1f} s, "
            f"CHECKPOINT {time.monotonic() - started - waited:.1f} s")


async def settle_database(database_url: str, schema: str) -> str:
    """`settle` on a connection of its own (the bench, before each phase)."""
    from sinks.db import connected

    async with connected(database_url, schema) as db:
        return await settle(db)


#: paystream_avro.copy_records' letter for each column type the floor's tables have.
COPY_KIND = {"text": "t", "bpchar": "t", "varchar": "t", "int8": "i", "int4": "n", "float8": "f",
             "timestamptz": "m", "text[]": "a"}


async def copy_kinds(db: Any, table: str) -> tuple[list[str], str]:
    """`table`'s columns and each one's copy_records letter, from the server's own types."""
    attributes = (await db.prepare(f"SELECT * FROM {table} LIMIT 0")).get_attributes()
    return [a.name for a in attributes], "".join(COPY_KIND[a.type.name] for a in attributes)


def measure(settings: Any, transactions: int, pids: dict[str, int],
            tree_cpu_s: Callable[[int | None], float | None]) -> Floor:
    """The floor of the run whose topics and schema `settings` name (see the module doc)."""
    from streams.topics import topics as topic_specs

    names = topic_specs(settings.topic_prefix, settings.partitions)
    outputs = {role: getattr(names, role).name for role in OUTPUT_ROLES}

    def cpu(name: str) -> Callable[[], float]:
        return lambda: tree_cpu_s(pids[name]) or 0.0

    messages, kafka_repeats = measure_kafka(
        settings.kafka_bootstrap_servers, outputs, names.transactions.name, cpu("kafka"),
        settings.partitions)
    kafka_client, kafka_broker = min(kafka_repeats, key=sum)
    rows, pg_client, pg_server, repeats, speeds = asyncio.run(measure_postgres(
        settings.database_url, settings.db_schema, cpu("postgres")))
    return Floor(transactions, messages, kafka_client, kafka_broker, rows, pg_client, pg_server,
                 pg_repeats=repeats, kafka_repeats=kafka_repeats, pg_speed_us=speeds)
