"""Where account state lives: CPU per transaction of each candidate store, on one workload.

DESIGN.md ("Where account state lives: decide by measurement") wants figures. Every option runs
the same authorize-shaped workload: N transactions over A accounts (uniform, fixed seed), each a
read-modify-write of its account's AccountState (msgpack): balance, posting seq, applied offset.

  redis                agents.store.RedisStateStore as the pipeline drives it, in this process:
                       per batch one pipelined read (accounts, tx records, partition marks) and
                       one EVALSHA commit (each dirty account once, a tx record per transaction,
                       the partition marks; no outbox). Cost = this process + the Redis server.
  faust-rocksdb        a Faust worker (subprocess), Table on RocksDB (rocksdict) keyed by account,
                       raw bytes values, `table[account] = ...` per event; Faust sends the
                       changelog (aiokafka, --linger-ms, 1 MB batches, lz4).
  faust-own-changelog  the same Table inside take_events(): changelog produced with confluent-kafka
                       (one produce_batch per partition, flushed before the batch ends), then each
                       partition's RocksDB written with one WriteBatch plus its offset marker.
  faust-baseline       the same worker with no table: consuming only.
  kafka-txn            the state in this process's memory (a dict of AccountState), made durable
                       by Kafka transactions (confluent-kafka, transactional.id): per batch each
                       dirty account's state to a compacted changelog topic and a tx record per
                       transaction to a compacted dedupe topic, committed as one transaction.
                       Cost = this process (librdkafka's threads included) + the broker. Read
                       back after the clock stops (read_committed) to check the changelog holds
                       every update. What it leaves out: restoring a partition from its changelog
                       on a rebalance, and the offsets committed in the transaction (one
                       TxnOffsetCommit a batch).

Faust figures are the worker's own CPU (all threads) from the end of the warm-up (first batch)
to the last event with its changelog flushed; a table option also runs the matching baseline on
the same input (same loop shape) and reports state cost = worker - baseline. Server CPU (Redis,
or the Kafka broker for Faust) comes from /proc/<pid>/stat over the same window and counts
everything else that uses that server: only a quiet machine gives clean server figures. The
worker turns off Faust's terminal spinner, which at WARN level puts the root logger at DEBUG
and costs here ~6 us per bare event, ~50 with a table (a paystream worker at --log-level info
is spared: below WARN Faust keeps no spinner).

Each run checks that the stored postings (AccountState.seq) add up to N: no update lost or
doubled. Topics, consumer groups, RocksDB dirs and Redis keys are named bench-state-<random> and
removed at the end. Unlike the Locust scenarios this imports agents/: it measures that code.
The Faust worker is loadtest/state_bench_worker.py, started here as a subprocess.

    python -m loadtest.state_bench --option redis --transactions 100000 --accounts 50000
    python -m loadtest.state_bench --option faust-rocksdb --transactions 100000 --accounts 50000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.batch import BatchResult
from loadtest.bench import BenchError
from loadtest.procstat import pid_from_file, proc_cpu_s
from paystream.launch import stop
from streams.accounts import TX_HASH, TX_STATUS, AccountState
from streams.settings import Settings
from streams.topics import delete_topics

OPTIONS = ("redis", "faust-rocksdb", "faust-own-changelog", "faust-baseline", "kafka-txn")
PARTITIONS = 12
ROLE = "transactions"
CURRENCY = "EUR"
BODY_HASH = "0" * 24  # what the authorizer stores per tx (a blake2b-12 hex digest)
REPO = Path(__file__).resolve().parent.parent
WORKER_STOP_S = 30.0


@dataclass(frozen=True, slots=True)
class Tx:
    account: str
    amount: int
    tx_id: str
    partition: int
    offset: int


def make_workload(transactions: int, accounts: int, seed: int) -> list[Tx]:
    """The same transactions for every option; built before any clock starts."""
    rng = random.Random(seed)
    offsets = [0] * PARTITIONS
    workload = []
    for number in range(transactions):
        account = f"acct-{rng.randrange(accounts):08d}"
        # Only Redis uses this partition (for its per-partition marks); Kafka assigns its own.
        partition = zlib.crc32(account.encode()) % PARTITIONS
        workload.append(Tx(account, rng.randrange(1, 10_000), f"tx-{seed}-{number}", partition,
                           offsets[partition]))
        offsets[partition] += 1
    return workload


def apply_tx(state: AccountState, amount: int, offset: int) -> None:
    """What authorize changes on the payer of an approved debit, minus the rules."""
    state.balances[CURRENCY] = state.balance(CURRENCY) - amount
    state.seq += 1
    state.mark_applied(ROLE, offset)


def per_tx_us(seconds: float | None, count: int) -> float | None:
    return None if seconds is None else round(seconds * 1e6 / count, 2)


def delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def in_process_figures(counted: int, wall_s: float, cpu_s: float, server_s: float | None,
                       server: str) -> dict[str, Any]:
    """An in-process option's figures: this process's CPU and its server's (`server`: redis,
    broker) per transaction counted, and their sum, the state's cost."""
    client_us, server_us = per_tx_us(cpu_s, counted), per_tx_us(server_s, counted)
    return {
        "counted_tx": counted, "wall_s": round(wall_s, 3), "tx_per_s": round(counted / wall_s),
        "client_cpu_us_per_tx": client_us, f"{server}_cpu_us_per_tx": server_us,
        "state_cost_us_per_tx": (None if server_us is None or client_us is None
                                 else round(client_us + server_us, 2)),
    }


# --- redis -------------------------------------------------------------------------------------

async def redis_batch(store: Any, batch: list[Tx], number: int) -> None:
    view = await store.read({t.account for t in batch}, {t.tx_id for t in batch},
                            {t.partition for t in batch})
    result = BatchResult()
    for tx in batch:
        apply_tx(view.account(tx.account), tx.amount, tx.offset)
        result.dirty.add(tx.account)
        result.set_tx(tx.tx_id, **{TX_HASH: BODY_HASH, TX_STATUS: "APPROVED"})
        if tx.offset > result.partition_event_time.get(tx.partition, -1):
            result.partition_event_time[tx.partition] = tx.offset  # stands in for event time
    await store.commit(view, result, ROLE, f"batch-{number}")


async def run_redis(args: argparse.Namespace, run_id: str, workload: list[Tx]) -> dict[str, Any]:
    from redis.asyncio import Redis

    from agents.store import RedisStateStore
    from streams.accounts import scan_accounts

    redis = Redis.from_url(args.redis_url)
    store = RedisStateStore(redis, f"{run_id}-", tx_ttl_s=3600, window_ms=86_400_000)
    batches = [workload[i:i + args.batch_size] for i in range(0, len(workload), args.batch_size)]
    try:
        fsync = (await redis.config_get("appendfsync")).get("appendfsync")
        await redis_batch(store, batches[0], 0)  # warm-up: connection, script load
        server0, cpu0, wall0 = proc_cpu_s(args.redis_pid), time.process_time(), time.perf_counter()
        for number, batch in enumerate(batches[1:], 1):
            await redis_batch(store, batch, number)
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
        server_s = delta(proc_cpu_s(args.redis_pid), server0)
        seq_total = sum(s.seq for s in (await scan_accounts(redis, f"{run_id}-")).values())
    finally:
        keys = [key async for key in redis.scan_iter(match=f"ps:{run_id}-*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.unlink(*keys[start:start + 1000])
        await redis.aclose()
    return {**in_process_figures(len(workload) - len(batches[0]), wall_s, cpu_s, server_s,
                                 "redis"),
            "redis_appendfsync": fsync, "redis_pid": args.redis_pid, "seq_total": seq_total}


# --- kafka-txn ---------------------------------------------------------------------------------

def kafka_txn_batch(producer: Any, states: dict[str, AccountState], batch: list[Tx],
                    changelog: str, dedupe: str) -> None:
    producer.begin_transaction()
    dirty: dict[str, int] = {}
    for tx in batch:
        state = states.get(tx.account)
        if state is None:
            state = states[tx.account] = AccountState()
        apply_tx(state, tx.amount, tx.offset)
        dirty[tx.account] = tx.partition
        # What the Redis option's HSET stores per transaction: its body hash and status.
        producer.produce(dedupe, f"{BODY_HASH}|APPROVED".encode(), tx.tx_id.encode(),
                         partition=tx.partition)
    for account, partition in dirty.items():
        producer.produce(changelog, states[account].encode(), account.encode(),
                         partition=partition)
    producer.commit_transaction()  # flushes, then EndTxn: the batch is durable or not at all


def read_changelog_seq(bootstrap: str, topic: str) -> int:
    """Sum of AccountState.seq over each account's newest committed changelog value."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    try:
        ends = {}
        for p in range(PARTITIONS):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        newest: dict[bytes, bytes] = {}
        done: set[int] = {p for p, high in ends.items() if high == 0}
        deadline = time.monotonic() + 120
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=1.0):
                key, value = message.key(), message.value()
                partition, offset = message.partition(), message.offset()
                if message.error() or partition is None or offset is None:
                    continue
                if key is not None and value is not None:
                    newest[key] = value
                # The transaction's commit marker takes the last offset: reaching it is the end.
                if offset >= ends[partition] - 2:
                    done.add(partition)
        return sum(AccountState.decode(v).seq for v in newest.values())
    finally:
        consumer.close()


def run_kafka_txn(args: argparse.Namespace, run_id: str, workload: list[Tx]) -> dict[str, Any]:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = args.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    changelog, dedupe = f"{run_id}-accounts-changelog", f"{run_id}-tx-changelog"
    batches = [workload[i:i + args.batch_size] for i in range(0, len(workload), args.batch_size)]
    try:
        compacted = {"cleanup.policy": "compact"}
        futures = admin.create_topics([NewTopic(changelog, PARTITIONS, -1, config=compacted),
                                       NewTopic(dedupe, PARTITIONS, -1, config=compacted)])
        for future in futures.values():
            future.result()
        # Uncompressed on loopback, one request per broker per flush: the pipeline's own
        # outputs go the same way (agents/outbox.py).
        producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": run_id,
                             "enable.idempotence": True, "acks": "all",
                             "compression.type": "none", "linger.ms": 5,
                             "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000})
        producer.init_transactions(30)
        states: dict[str, AccountState] = {}
        kafka_txn_batch(producer, states, batches[0], changelog, dedupe)  # warm-up
        broker0, cpu0, wall0 = proc_cpu_s(args.kafka_pid), time.process_time(), time.perf_counter()
        for batch in batches[1:]:
            kafka_txn_batch(producer, states, batch, changelog, dedupe)
        wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
        broker_s = delta(proc_cpu_s(args.kafka_pid), broker0)
        seq_total = read_changelog_seq(bootstrap, changelog)
    finally:
        names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(run_id)]
        delete_topics(admin, names)
    return {**in_process_figures(len(workload) - len(batches[0]), wall_s, cpu_s, broker_s,
                                 "broker"),
            "kafka_pid": args.kafka_pid, "seq_total": seq_total}


# --- faust: the benchmark side -----------------------------------------------------------------

def prefill(bootstrap: str, topic: str, workload: list[Tx]) -> None:
    from confluent_kafka import Producer

    from streams.producer import PRODUCER_DEFAULTS

    errors: list[str] = []
    producer = Producer({**PRODUCER_DEFAULTS, "bootstrap.servers": bootstrap,
                         "error_cb": lambda e: errors.append(str(e))})
    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    for tx in workload:  # keyed by account with murmur2, as the real producers do
        while True:
            try:
                producer.produce(topic, str(tx.amount).encode(), tx.account.encode(),
                                 on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) or errors:
        raise BenchError(f"could not fill {topic}: {errors[:3]}")


def run_worker(args: argparse.Namespace, run_id: str, option: str, loop: str, input_topic: str,
               workdir: Path) -> dict[str, Any]:
    result_path = workdir / f"{option}-{loop}.json"
    config = {"option": option, "loop": loop, "app_id": f"{run_id}-{option}-{loop}",
              "input_topic": input_topic, "datadir": str(workdir / f"{option}-{loop}-data"),
              "result_path": str(result_path), "transactions": args.transactions,
              "batch_size": args.batch_size, "linger_ms": args.linger_ms,
              "broker_pid": args.kafka_pid, "bootstrap_servers": args.bootstrap_servers}
    log_path = workdir / f"{option}-{loop}.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "loadtest.state_bench_worker", json.dumps(config)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + args.timeout_s
    try:
        while not result_path.exists():
            if worker.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise BenchError(f"{option} worker stopped (exit {worker.returncode}):\n{tail}")
            time.sleep(0.2)
    finally:
        stop(worker, WORKER_STOP_S, f"{option} worker")
    return json.loads(result_path.read_text())


def run_faust(args: argparse.Namespace, run_id: str, workload: list[Tx]) -> dict[str, Any]:
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = args.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    input_topic = f"{run_id}-in"
    workdir = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    groups: list[str] = []
    loop = {"faust-rocksdb": "event", "faust-own-changelog": "batch"}.get(args.option,
                                                                           args.faust_loop)
    try:
        # replication_factor -1: the broker's default (1 on the local stack)
        for future in admin.create_topics([NewTopic(input_topic, PARTITIONS, -1)]).values():
            future.result()
        prefill(bootstrap, input_topic, workload)
        groups.append(f"{run_id}-{args.option}-{loop}")  # Faust's group id is its app id
        run = run_worker(args, run_id, args.option, loop, input_topic, workdir)
        base = None
        if args.option != "faust-baseline" and args.baseline:
            groups.append(f"{run_id}-faust-baseline-{loop}")
            base = run_worker(args, run_id, "faust-baseline", loop, input_topic, workdir)
    finally:
        names = [t for t in admin.list_topics(timeout=30).topics if t.startswith(run_id)]
        delete_topics(admin, names)
        for future in admin.delete_consumer_groups(groups).values():
            try:
                future.result()
            except KafkaException as exc:  # cleanup goes on; say what was left
                # A group that never committed is gone once empty: nothing to delete.
                if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    print(f"state_bench: consumer group not deleted: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {"counted_tx": run["events"], "wall_s": round(run["wall_s"], 3),
               "tx_per_s": round(run["events"] / run["wall_s"]), "faust_loop": loop,
               "worker_cpu_us_per_tx": per_tx_us(run["cpu_s"], run["events"]),
               "broker_cpu_us_per_tx": per_tx_us(run["broker_cpu_s"], run["events"]),
               "kafka_pid": args.kafka_pid, "seq_total": run["seq_total"]}
    if args.option == "faust-rocksdb":
        figures["faust_linger_ms"] = args.linger_ms
    if base is not None:
        base_worker = per_tx_us(base["cpu_s"], base["events"])
        base_broker = per_tx_us(base["broker_cpu_s"], base["events"])
        figures.update({
            "baseline_worker_cpu_us_per_tx": base_worker,
            "baseline_broker_cpu_us_per_tx": base_broker,
            "baseline_tx_per_s": round(base["events"] / base["wall_s"]),
            "state_cost_us_per_tx": round(figures["worker_cpu_us_per_tx"] - base_worker, 2),
            "state_cost_broker_us_per_tx": (
                None if base_broker is None or figures["broker_cpu_us_per_tx"] is None
                else round(figures["broker_cpu_us_per_tx"] - base_broker, 2)),
        })
    return figures


# --- command line ------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.state_bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--option", choices=OPTIONS, default="redis")
    parser.add_argument("--transactions", type=int, default=100_000, help="N (default 100000)")
    parser.add_argument("--accounts", type=int, default=50_000, help="A (default 50000)")
    parser.add_argument("--batch-size", type=int, default=1000,
                        help="transactions per batch; the first batch is warm-up, not counted")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="faust table options: also run faust-baseline and subtract it")
    parser.add_argument("--faust-loop", choices=("event", "batch"), default="event",
                        help="faust-baseline alone: async for per event, or take_events()")
    parser.add_argument("--linger-ms", type=float, default=20.0,
                        help="Faust's producer_linger for the faust-rocksdb changelog")
    parser.add_argument("--bootstrap-servers", default=settings.kafka_bootstrap_servers)
    parser.add_argument("--redis-url", default=settings.redis_url)
    parser.add_argument("--redis-pid", type=int, default=pid_from_file("redis"),
                        help="Redis server to measure (default: .local/run/redis.pid)")
    parser.add_argument("--kafka-pid", type=int, default=pid_from_file("kafka"),
                        help="Kafka broker to measure (default: .local/run/kafka.pid)")
    parser.add_argument("--timeout-s", type=float, default=1200.0, help="bound per Faust worker")
    args = parser.parse_args(argv)
    if args.transactions < 2 * args.batch_size:
        parser.error("--transactions must be at least twice --batch-size (warm-up + one batch)")
    if args.accounts < 1:
        parser.error("--accounts must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = f"bench-state-{uuid.uuid4().hex[:8]}"
    workload = make_workload(args.transactions, args.accounts, args.seed)
    load_before = os.getloadavg()[0]
    if args.option == "redis":
        figures = asyncio.run(run_redis(args, run_id, workload))
    elif args.option == "kafka-txn":
        figures = run_kafka_txn(args, run_id, workload)
    else:
        figures = run_faust(args, run_id, workload)
    if figures["seq_total"] not in (None, args.transactions):  # every update landed, once
        raise BenchError(f"stored postings add up to {figures['seq_total']}, "
                         f"not {args.transactions}: updates were lost or doubled")
    print(json.dumps({
        "option": args.option, "transactions": args.transactions, "accounts": args.accounts,
        "batch_size": args.batch_size, **figures, "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2), "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "run_id": run_id,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
