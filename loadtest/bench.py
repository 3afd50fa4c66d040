"""make bench: the whole pipeline on this machine, end to end, with the CPU each process spends.

Under a fresh topic prefix and database schema, starts two workers and the two sinks (ledger,
reporting: one process each, so each has its own CPU figure) against the local
stack, then drives two phases with `paystream produce` as the load generator (each phase's
traffic generated and encoded to a file first, then replayed as bytes: the generator's own cost
stays out of the run):

1. max rate: --transactions (default 1,000,000) published as fast as Kafka takes them; sustained
   throughput = transactions / (first produce -> last ledger or reporting row), i.e. decided AND
   written by both PostgreSQL sinks;
2. fixed rate: --rate transactions/s offered for --rate-s seconds (default: 70% of the rate the
   first phase sustained: the latency target's load).

Both phases are one generated stream, the fixed-rate phase the transactions that follow the max-
rate phase's in it: the same accounts, a day or so later. The generator opens a population with
each account's first deposits (46% of its first ~1.2 transactions per account, ~3% from ~8 on;
payments, which the fraud features read for, rise from 43% to 78%): a lone worker and its Redis
spent ~32% more per transaction on the 400,001st-600,000th transactions of 50,000 accounts than
on the first 200,000 (docs/benchmarks.md, 2026-12-05 late night). A population of its own, as
the fixed-rate phase had until then, offered the latency target nearly all opening.

Before the phases the broker's JIT is warmed (loadtest/warmup.py: a broker fresh from `make up`
charged its compiler's one-off CPU to the first run's transactions).

After reconcile, the run's physical floor is measured on its own messages and rows
(loadtest/floor.py) and paystream's CPU per transaction (every process but the load generator,
which stands for the upstream producers and is reported apart) as a multiple of it.

Each phase waits until the workers and every sink have caught up (consumer-group lag 0) before
the next. Latency is produce -> decision per transaction: the decision message's Kafka timestamp
minus the input's (both stamped on this machine's clock). CPU per transaction is read from
/proc for every process tree (workers, sinks, Kafka, PostgreSQL with its backends, both Redis,
the load generator) over the max-rate phase. At the end `paystream reconcile --sinks` must pass
or the run is marked `reconciled: false` (and the command exits 1).

Writes loadtest/results/<name>.json, .md and .png (name: latest, or quick with --quick).
Webhook delivery (`paystream notify`, which derives notification events straight from the
decisions and postings topics) is not part of the run: partners' endpoints are not ours;
`make bench-sinks` measures it against a local receiver.

    python -m loadtest.bench                 # the full run (make bench)
    python -m loadtest.bench --quick         # 20,000 transactions and 10 s at 2,000/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
from confluent_kafka import TopicPartition

from loadtest import benchstats, speed
from loadtest.floor import settle_database
from loadtest.procstat import REPO, CpuMeter, stack_pids, threads_cpu_s, tree_cpu_s
from loadtest.profile import per_tx_us
from paystream.launch import ProcessExitedError, ProcessGroup, command, environment
from sinks.runner import SINK_INPUTS, group_id
from streams.errors import PaystreamError
from streams.producer import read_encoded, write_encoded
from streams.settings import kafka_client_config

RESULTS = REPO / "loadtest" / "results"
#: The latency target's load: this share of the max-rate phase's sustained throughput.
LATENCY_LOAD_SHARE = 0.7
#: The traffic is generated before the max-rate phase, so the fixed-rate phase's share of it is
#: sized for a max rate up to this (the most measured on the bench's machines: ~15,500 tps). A
#: faster run offers the fixed rate for less than --rate-s, and says so.
MAX_RATE_CAP_TPS = 20_000
#: The generator's seed: the same traffic in every run.
SEED = 11
#: The workers' consumer group (the Faust app id), without the topic prefix.
WORKER_GROUP = "paystream"


class BenchError(PaystreamError):
    """A benchmark cannot go on (the stack is down, a process died, a phase never caught up):
    the one error of every bench here (bench, state_bench, api_bench)."""


@dataclass
class Phase:
    name: str
    transactions: int
    #: The phase's traffic, encoded (`paystream produce --encode-to`): the load generator replays it.
    encoded: Path
    accounts: int
    rate: float | None = None
    #: py-spy this process (pid, raw output file) for `profile_s` seconds from the phase's start.
    profile: tuple[int, Path] | None = None
    profile_s: float = 0.0
    started_ms: int = 0
    last_sink_row_ms: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)
    #: Wall time the CPU figures cover: the phase's start until everything caught up.
    wall_s: float = 0.0
    produce_report: dict[str, Any] = field(default_factory=dict)
    #: The measured processes' CPU seconds from the first produce to the last sink row, the
    #: window `tps` covers (the load generator's included: it runs inside it).
    throughput_cpu_s: dict[str, float] = field(default_factory=dict)
    #: CPU seconds the broker's JIT compiler threads took during the phase (kafka's included).
    broker_jit_cpu_s: float | None = None
    #: Background rewrites of the account-state Redis's AOF during the phase (None: not
    #: known). Each stalls its `appendfsync always` writes for a moment, and the workers with them.
    aof_rewrites: int | None = None
    #: PostgreSQL's autovacuums and autoanalyzes of the run's tables during the phase, each
    #: (table, what, seconds from the phase's start to its end): one can take a good part of a
    #: core for seconds, which the sinks' tables, inserted into fast, set off again and again.
    autovacuums: list[tuple[str, str, float]] | None = None
    #: loadtest/speed.py's probe, once a second through the phase: CPU µs of one fixed work.
    speed_us: list[float] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtest.bench", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--transactions", type=int, default=1_000_000,
                        help="Transactions in the max-rate phase.")
    parser.add_argument("--rate", type=float, default=None,
                        help="Offered transactions/s in the fixed-rate phase (default: 70%% of "
                             "the max-rate phase's sustained tps, the latency target's load).")
    parser.add_argument("--rate-s", type=float, default=60.0,
                        help="How long the fixed-rate phase offers load.")
    parser.add_argument("--accounts", type=int, default=100_000,
                        help="Customer accounts in the generated population.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-batch-size", type=int, default=None,
                        help="The workers' --batch-size (default: the worker's own).")
    parser.add_argument("--phase-timeout-s", type=float, default=3600.0,
                        help="Give up when a phase has not caught up after this long.")
    parser.add_argument("--profile-s", type=float, default=30.0,
                        help="py-spy worker-1 for this long in the max-rate phase (0: not at all).")
    parser.add_argument("--profile-fixed-s", type=float, default=0.0,
                        help="py-spy worker-1 for this long in the fixed-rate phase too, where "
                             "batches are smaller (0: not at all; the sampling costs a little "
                             "CPU in the phase whose latency is measured).")
    parser.add_argument("--warmup-max-s", type=float, default=90.0,
                        help="Warm the broker's JIT for at most this long before the phases, "
                             "until its compiler threads are nearly idle (0: not at all).")
    parser.add_argument("--quick", action="store_true",
                        help="Smoke run: 20,000 transactions, then 10 s at 2,000/s; writes quick.*")
    parser.add_argument("--name", default=None, help="Result file name (default: latest/quick).")
    parser.add_argument("--out", type=lambda v: Path(v).resolve(), default=RESULTS,
                        help="Folder for the result files.")
    parser.add_argument("--no-train", action="store_true",
                        help="Do not train a fraud model when there is none (rules only).")
    parser.add_argument("--baseline-tps", type=float, default=None,
                        help="Sustained tps of a baseline measured in the same session on this "
                             "machine (e.g. an older commit's run): recorded, with the ratio.")
    parser.add_argument("--no-floor", action="store_true",
                        help="Skip measuring the run's physical floor (loadtest/floor.py).")
    parser.add_argument("--keep", action="store_true",
                        help="Keep the run's topics, schema and Redis keys after a reconciled run "
                             "(a run that fails keeps them anyway, to be looked at).")
    args = parser.parse_args(argv)
    if args.quick:
        args.transactions, args.rate, args.rate_s, args.accounts = 20_000, 2_000.0, 10.0, 10_000
        args.profile_s, args.warmup_max_s = 0.0, min(args.warmup_max_s, 12.0)
    args.name = args.name or ("quick" if args.quick else "latest")
    for name in ("transactions", "rate", "rate_s", "accounts", "workers", "worker_batch_size"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


class Progress:
    """Where the pipeline stands, from Kafka: decisions written, and each group's lag.

    Asked every second while a phase runs, so it must cost the broker little: one ListOffsets
    request for every partition's end and one OffsetFetch per group (admin API), where a
    watermark query per partition and group made ~150 requests a second, a quarter of what the
    pipeline itself sent at 3,500 tx/s, counted as the pipeline's Kafka CPU. The run's topics are
    new, so every partition starts at offset 0.
    """

    def __init__(self, settings: Any) -> None:
        from paystream.wiring import admin_client, reading_consumer
        from streams.topics import topics

        self.names = topics(settings.topic_prefix, settings.partitions)
        self.partitions = settings.partitions
        self.consumer = reading_consumer(settings, f"bench-{uuid.uuid4().hex[:8]}")
        self.admin = admin_client(settings)
        prefix = settings.topic_prefix
        # name -> (consumer group, topics it reads)
        self.groups = {"workers": (prefix + WORKER_GROUP,
                                   [self.names.transactions.name, self.names.credits.name])}
        self.groups |= {sink: (group_id(prefix, sink),
                               [getattr(self.names, role).name for role in roles])
                        for sink, roles in SINK_INPUTS.items()}

    def _ends(self, topic_names: list[str]) -> dict[tuple[str, int], int]:
        from confluent_kafka.admin import OffsetSpec

        specs = {TopicPartition(t, p): OffsetSpec.latest()
                 for t in topic_names for p in range(self.partitions)}
        return {(tp.topic, tp.partition): future.result().offset
                for tp, future in self.admin.list_offsets(specs, request_timeout=10).items()}

    def messages(self, topic: str) -> int:
        return sum(self._ends([topic]).values())

    def handled(self) -> int:
        """Transactions the workers are done with: decided or dead-lettered."""
        return sum(self._ends([self.names.decisions.name, self.names.dlq.name]).values())

    def behind(self) -> dict[str, int]:
        from confluent_kafka import ConsumerGroupTopicPartitions

        ends = self._ends(sorted({t for _, names in self.groups.values() for t in names}))
        lags = {}
        for name, (group, topic_names) in self.groups.items():
            (future,) = self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=10).values()
            committed = {(tp.topic, tp.partition): tp.offset
                         for tp in future.result().topic_partitions}
            lags[name] = sum(end - max(committed.get(tp, 0), 0)
                             for tp, end in ends.items() if tp[0] in topic_names)
        return lags

    def close(self) -> None:
        self.consumer.close()


def fixed_rate_cap(args: argparse.Namespace) -> int:
    """Transactions the fixed-rate phase may need: --rate for --rate-s, or the latency target's
    share of MAX_RATE_CAP_TPS."""
    rate = args.rate if args.rate is not None else LATENCY_LOAD_SHARE * MAX_RATE_CAP_TPS
    return max(1, int(rate * args.rate_s))


def generate_traffic(args: argparse.Namespace, processes: ProcessGroup) -> tuple[Path, Path]:
    """Both phases' traffic as one generated stream (ending about now, so no event is in the
    future), split: the max-rate phase's file and the rest, whose start the fixed-rate phase
    offers. Generated and encoded before any clock starts; the load generator only replays the
    bytes, so the run measures the pipeline, not the generator (whose CPU is reported apart)."""
    whole, top, rest = (processes.logs / f"transactions-{part}.bin"
                        for part in ("all", "max-rate", "rest"))
    count = args.transactions + fixed_rate_cap(args)
    print(f"== generating {count:,} transactions of {args.accounts:,} accounts (seed {SEED})",
          flush=True)
    subprocess.run(command("produce", "--count", str(count), "--seed", str(SEED),
                           "--accounts", str(args.accounts), "--encode-to", str(whole),
                           "--json"), env=processes.env, cwd=REPO, check=True,
                   capture_output=True)
    records = read_encoded(whole)
    write_encoded(top, islice(records, args.transactions))
    write_encoded(rest, records)
    whole.unlink()
    return top, rest


def _profile(phase: Phase, figures: dict[str, Any]) -> dict[str, Any]:
    """Worker-1's py-spy of the phase folded into named parts, scaled to its CPU per
    transaction there ({} when the phase was not profiled)."""
    if not (phase.profile and phase.profile[1].exists()):
        return {}
    worker_us = figures["cpu_us_per_tx"].get("worker-1", 0.0)
    return {"process": "worker-1", "file": _shown(phase.profile[1]), "seconds": phase.profile_s,
            "us_per_tx": per_tx_us(phase.profile[1], worker_us)}


def fixed_rate_phase(args: argparse.Namespace, top: Phase, rest: Path) -> Phase:
    """The second phase: --rate offered, or 70% of what the max-rate phase sustained, for
    --rate-s, with the transactions that follow the max-rate phase's in the stream."""
    rate = args.rate
    if rate is None:
        rate = round(LATENCY_LOAD_SHARE * benchstats.sustained_tps(
            top.transactions, top.started_ms, top.last_sink_row_ms))
    count, cap = max(1, int(rate * args.rate_s)), fixed_rate_cap(args)
    if count > cap:
        print(f"  {rate:,.0f}/s for {args.rate_s:,.0f} s is {count:,} transactions, more than "
              f"the {cap:,} generated for it (sized for a max rate up to "
              f"{MAX_RATE_CAP_TPS:,} tps): offering {cap:,}, {cap / rate:,.0f} s", flush=True)
        count = cap
    encoded = rest.with_name("transactions-fixed-rate.bin")
    write_encoded(encoded, islice(read_encoded(rest), count))
    rest.unlink()
    return Phase("fixed rate", count, encoded, accounts=args.accounts, rate=rate)


def wait_for_workers(settings: Any, count: int, processes: ProcessGroup, timeout_s: float) -> None:
    """Until the workers' group is stable with `count` members (partitions assigned)."""
    from confluent_kafka import ConsumerGroupState

    from paystream.wiring import admin_client

    admin, group = admin_client(settings), settings.topic_prefix + WORKER_GROUP
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            described = admin.describe_consumer_groups([group])[group].result(timeout=10)
            if (described.state == ConsumerGroupState.STABLE
                    and len(described.members) == count
                    and all(m.assignment.topic_partitions for m in described.members)):
                return
        except Exception:  # noqa: BLE001 - the group does not exist until a worker joins
            pass
        time.sleep(1.0)
    raise BenchError(f"the {count} workers did not join group {group} within {timeout_s:.0f} s")


def run_phase(phase: Phase, processes: ProcessGroup, progress: Progress, meter: CpuMeter,
              settings: Any, timeout_s: float) -> None:
    """Publish the phase's traffic, wait until everything caught up, record CPU and times."""
    handled_before = progress.handled()
    args = ["produce", "--replay", str(phase.encoded), "--json"]
    if phase.rate:
        args += ["--rate", str(phase.rate)]
    offered = f"{phase.rate:,.0f}/s offered" if phase.rate else "as fast as Kafka takes"
    # PostgreSQL settled first, as the floor settles it before each copy: a checkpoint or
    # vacuum that an earlier run or phase set off is not charged to this phase's transactions.
    settled = asyncio.run(settle_database(settings.database_url, settings.db_schema))
    print(f"== {phase.name}: {phase.transactions:,} transactions, {offered} "
          f"(PostgreSQL settled: {settled})", flush=True)
    rewrites_before = aof_rewrites(settings)
    vacuums_before = asyncio.run(autovacuum_counts(settings))
    samples_before = len(meter.samples)
    jit_before = _broker_jit_cpu_s()
    meter.start()
    phase.started_ms = int(time.time() * 1000)
    started = time.monotonic()
    out = (processes.logs / f"produce-{phase.encoded.stem}.json").open("w+")
    generator = subprocess.Popen(command(*args), env=processes.env, stdout=out,
                                 stderr=subprocess.DEVNULL, cwd=REPO)
    profiler = None
    if phase.profile and phase.profile_s > 0:
        profiler = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
             str(phase.profile[0]), "--duration", str(int(phase.profile_s)), "--rate", "50",
             "--nonblocking", "--format", "raw", "--output", str(phase.profile[1])],
            stdout=subprocess.DEVNULL, stderr=(processes.logs / "py-spy.log").open("w"))
    generator_cpu_s: float | None = None
    last_print = 0.0
    while True:
        meter.sample()
        phase.speed_us.append(speed.probe_us())
        processes.check_alive()
        if generator_cpu_s is None:
            pid, status, usage = os.wait4(generator.pid, os.WNOHANG)
            if pid:
                generator.returncode = os.waitstatus_to_exitcode(status)
                if generator.returncode != 0:
                    raise BenchError(f"the load generator failed ({generator.returncode})")
                generator_cpu_s = usage.ru_utime + usage.ru_stime
                out.seek(0)
                phase.produce_report = json.loads(out.read())
        decided = progress.handled() - handled_before
        behind = progress.behind()
        elapsed = time.monotonic() - started
        if generator_cpu_s is not None and decided >= phase.transactions \
                and not any(behind.values()):
            break
        if elapsed - last_print >= 5:
            last_print = elapsed
            lagging = ", ".join(f"{k} {v:,}" for k, v in behind.items() if v)
            print(f"  {elapsed:6.0f} s  decided {decided:,}/{phase.transactions:,} "
                  f"({decided / elapsed:,.0f}/s)  behind: {lagging or 'nothing'}", flush=True)
        if elapsed > timeout_s:
            raise BenchError(f"{phase.name}: not caught up after {timeout_s:.0f} s: {behind}")
        time.sleep(1.0)
    meter.sample()
    phase.encoded.unlink()
    if profiler is not None and profiler.wait(timeout=phase.profile_s + 60) != 0:
        print(f"  py-spy failed (see {processes.logs / 'py-spy.log'})", flush=True)
    meter.record(benchstats.LOAD_GENERATOR, generator_cpu_s)
    phase.cpu_s = meter.seconds()
    jit_after = _broker_jit_cpu_s()
    if jit_before is not None and jit_after is not None:
        phase.broker_jit_cpu_s = jit_after - jit_before
    phase.wall_s = time.monotonic() - started
    phase.last_sink_row_ms = asyncio.run(last_sink_row_ms(settings))
    phase.throughput_cpu_s = benchstats.cpu_between(meter.samples[samples_before:],
                                                    phase.started_ms, phase.last_sink_row_ms)
    if generator_cpu_s is not None:
        phase.throughput_cpu_s[benchstats.LOAD_GENERATOR] = generator_cpu_s
    rewrites_after = aof_rewrites(settings)
    # CONFIG RESETSTAT (worker_bench's) zeroes the count: then it is not known.
    if rewrites_before is not None and rewrites_after is not None \
            and rewrites_after >= rewrites_before:
        phase.aof_rewrites = rewrites_after - rewrites_before
    phase.autovacuums = autovacuums_since(vacuums_before, asyncio.run(autovacuum_counts(settings)),
                                          phase.started_ms)
    out.close()
    print(f"  caught up after {time.monotonic() - started:,.0f} s", flush=True)


def _broker_jit_cpu_s() -> float | None:
    """The broker's JIT compiler threads' CPU so far (None: no broker found). A broker started
    minutes ago still compiles its request paths well into a first run (warmup.py)."""
    from loadtest.warmup import COMPILER_THREADS

    try:
        return threads_cpu_s(stack_pids()["kafka"], COMPILER_THREADS)
    except (RuntimeError, OSError):
        return None


#: (table, "vacuum" | "analyze") -> (how many so far, when the last one ended, epoch ms)
VacuumCounts = dict[tuple[str, str], tuple[int, int | None]]


async def autovacuum_counts(settings: Any) -> VacuumCounts:
    """The run's tables' autovacuum and autoanalyze counts so far (pg_stat_user_tables)."""
    from sinks.db import connected

    async with connected(settings.database_url, settings.db_schema) as db:
        rows = await db.fetch(
            "SELECT relname, autovacuum_count, autoanalyze_count, "
            "(extract(epoch FROM last_autovacuum) * 1000)::bigint AS vacuum_ms, "
            "(extract(epoch FROM last_autoanalyze) * 1000)::bigint AS analyze_ms "
            "FROM pg_stat_user_tables WHERE schemaname = $1", settings.db_schema)
    counts: VacuumCounts = {}
    for row in rows:
        counts[(row["relname"], "vacuum")] = (row["autovacuum_count"], row["vacuum_ms"])
        counts[(row["relname"], "analyze")] = (row["autoanalyze_count"], row["analyze_ms"])
    return counts


def autovacuums_since(before: VacuumCounts, after: VacuumCounts, started_ms: int
                      ) -> list[tuple[str, str, float]]:
    """What ran between two counts: (table, what, seconds after `started_ms` the last one of
    each ended). The statistics keep only each table's last end; the server's log has every
    one with its CPU (deploy/local/postgresql.conf logs them all)."""
    ran = []
    for key, (count, last_ms) in sorted(after.items()):
        for _ in range(count - before.get(key, (0, None))[0]):
            ran.append((key[0], key[1],
                        round(((last_ms or started_ms) - started_ms) / 1000, 1)))
    return ran


def aof_rewrites(settings: Any) -> int | None:
    """AOF rewrites the account-state Redis has done since it started (Redis >= 7.0 counts
    them); None on a Redis Cluster or when it does not say."""
    if settings.redis_cluster:
        return None
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        info = cast(dict[str, Any], client.info("persistence"))  # sync client: a dict
        value = info.get("aof_rewrites")
    finally:
        client.close()
    return None if value is None else int(value)


async def last_sink_row_ms(settings: Any) -> int:
    from sinks.db import connected

    async with connected(settings.database_url, settings.db_schema) as db:
        return int(await db.fetchval(
            "SELECT (extract(epoch FROM greatest((SELECT max(recorded_at) FROM ledger),"
            " (SELECT max(recorded_at) FROM report_transactions))) * 1000)::bigint"))


async def sink_rows_ms(settings: Any) -> dict[str, np.ndarray]:
    """When each ledger and reporting row was written (ms), for the chart."""
    from sinks.db import connected

    out = {}
    async with connected(settings.database_url, settings.db_schema) as db:
        for name, table in (("ledger", "ledger"), ("reporting", "report_transactions")):
            rows = await db.fetch(f"SELECT (extract(epoch FROM recorded_at) * 1000)::bigint AS t "
                                  f"FROM {table}")
            out[name] = np.fromiter((r["t"] for r in rows), dtype=np.int64, count=len(rows))
    return out


def read_decisions(settings: Any, progress: Progress) -> benchstats.Decisions:
    from agents.reconcile import read_topic
    from streams.codec import codec_for

    topic = progress.names.decisions.name
    codec = codec_for("decision", topic, settings.schema_registry_url)
    messages = read_topic(progress.consumer, topic, timeout_s=600)
    seen: set[str] = set()
    produced, decided = [], []
    for message in messages:
        decision = codec.decode(message.value())
        if decision["tx_id"] in seen:  # a re-sent outbox: the first copy is the decision
            continue
        seen.add(decision["tx_id"])
        produced.append(decision["produced_at"])
        decided.append(message.timestamp()[1])
    return benchstats.Decisions(np.asarray(produced, dtype=np.int64),
                                np.asarray(decided, dtype=np.int64))


def reconcile(env: dict[str, str], logs: Path) -> bool:
    print("== paystream reconcile --sinks", flush=True)
    result = subprocess.run(command("reconcile", "--sinks", "--wait-s", "300"), env=env,
                            check=False, cwd=REPO, capture_output=True, text=True)
    (logs / "reconcile.json").write_text(result.stdout + result.stderr)
    print(f"  {'ok' if result.returncode == 0 else 'FAILED'} (see {logs / 'reconcile.json'})",
          flush=True)
    return result.returncode == 0


#: Schemas the benches create for one run (bench_<run id>, bench_sink_<run id>): the only ones
#: clean_up drops.
BENCH_SCHEMA_PREFIXES = ("bench_",)


def bench_schema(settings: Any) -> str | None:
    """The run's own schema, if it has one: never the default one or a tenant's."""
    return settings.db_schema if settings.db_schema.startswith(BENCH_SCHEMA_PREFIXES) else None


async def drop_schema(database_url: str, schema: str) -> None:
    """Remove a run's PostgreSQL schema and everything in it."""
    from sinks.db import connected

    async with connected(database_url, schema) as db:
        await db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def clean_up(settings: Any, out: IO[str] | None = None) -> None:
    """Remove what the run wrote: its topics, its schema and its Redis keys. A 1M run leaves
    ~3M PostgreSQL rows, ~3 GB of Kafka logs and ~1.3 GB of Redis, which slow every later run
    (and every Redis AOF rewrite copies what is left). The worker and sink benches use it too."""
    from confluent_kafka.admin import AdminClient

    from agents.store import bulk_reader, delete_namespace
    from streams.errors import KafkaError
    from streams.settings import notify_redis_url
    from streams.topics import delete_topics, topics

    if not settings.topic_prefix:
        raise BenchError("refusing to clean up without a topic prefix: that would remove the "
                         "unprefixed topics and keys every default deployment uses")
    out = out or sys.stdout
    schema = bench_schema(settings)
    print(f"== removing the run's topics{f', schema {schema}' if schema else ''} and Redis keys "
          f"(--keep leaves them)", file=out, flush=True)
    admin = AdminClient(kafka_client_config(settings))
    names = [spec.name for spec in topics(settings.topic_prefix, settings.partitions).all()]
    try:
        delete_topics(admin, names, timeout_s=60)
    except KafkaError as exc:
        print(f"  {exc}", file=out, flush=True)

    async def drop() -> int:
        if schema:
            await drop_schema(settings.database_url, schema)
        deleted = 0
        for url in dict.fromkeys((settings.redis_url, notify_redis_url(settings))):
            redis = bulk_reader(url, settings.redis_cluster and url == settings.redis_url)
            try:
                deleted += await delete_namespace(redis, settings.topic_prefix)
            finally:
                await redis.aclose()
        return deleted

    print(f"  {len(names)} topics{', the schema' if schema else ''} and "
          f"{asyncio.run(drop()):,} Redis keys removed", file=out, flush=True)


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.machine())
    kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")))
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            # which build: the same version runs the workers ~12% slower built without PGO and
            # LTO (deploy/local/python.sh)
            "python_executable": os.path.realpath(sys.executable)}


def ensure_model(env: dict[str, str]) -> None:
    models = Path(env.get("PAYSTREAM_MODELS_DIR", REPO / "models"))
    if not list(models.glob("fraud-v*/manifest.json")):
        print(f"== no fraud model in {models}: paystream train (about 25 s)", flush=True)
        subprocess.run(command("train"), env=env, cwd=REPO, check=True)


def _shown(path: Path) -> str:
    """A result file's path as the README and summary show it: relative to the repo if inside."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def warm_up(settings: Any, max_s: float) -> dict[str, Any] | None:
    if max_s <= 0:
        return None
    from loadtest.warmup import warm_broker

    print("== warming the broker's JIT before measuring", flush=True)
    kafka = stack_pids()["kafka"]
    return warm_broker(settings.kafka_bootstrap_servers, kafka, settings.partitions, max_s,
                       say=lambda line: print(line, flush=True))


def measure_floor(settings: Any, transactions: int) -> dict[str, Any] | None:
    from loadtest import floor

    print("== the run's physical floor: its Kafka messages and PostgreSQL rows alone",
          flush=True)
    started = time.monotonic()
    try:
        pids = stack_pids()
        measured = floor.measure(settings, transactions, pids, tree_cpu_s)
    except Exception as exc:  # noqa: BLE001 - the run's own figures stand without it
        print(f"  floor not measured: {exc!r}", flush=True)
        return None
    print(f"  {measured.us_per_tx()} µs/tx ({time.monotonic() - started:,.0f} s)", flush=True)
    return measured.as_dict()


def summarise(args: argparse.Namespace, phases: dict[str, Phase], decisions: benchstats.Decisions,
              reconciled: bool, run_id: str, floor: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    top, rate = phases["max_rate"], phases["fixed_rate"]
    in_rate = decisions.produced_ms >= rate.started_ms
    figures: dict[str, dict[str, Any]] = {}
    for key, phase, chosen in (("max_rate", top, decisions.where(~in_rate)),
                               ("fixed_rate", rate, decisions.where(in_rate))):
        first_ms = int(chosen.produced_ms.min()) if len(chosen) else phase.started_ms
        figures[key] = {
            "transactions": phase.transactions, "decisions": len(chosen),
            "dead_lettered": phase.transactions - len(chosen), "accounts": phase.accounts,
            "offered_tps": phase.rate,
            "tps": benchstats.sustained_tps(phase.transactions, first_ms, phase.last_sink_row_ms),
            **benchstats.latency_ms(chosen),
            "cpu_us_per_tx": benchstats.cpu_us_per_tx(phase.cpu_s, phase.transactions),
            "busy_share": benchstats.busy_share(phase.cpu_s, phase.wall_s, os.cpu_count() or 1),
            "busy_share_throughput": benchstats.busy_share(
                phase.throughput_cpu_s, (phase.last_sink_row_ms - phase.started_ms) / 1000,
                os.cpu_count() or 1),
            "load_generator": phase.produce_report,
            "redis_aof_rewrites": phase.aof_rewrites,
            "postgres_autovacuums": phase.autovacuums,
            "speed_probe_us": (round(statistics.median(phase.speed_us), 1)
                               if phase.speed_us else None),
            "broker_jit_us_per_tx": (None if phase.broker_jit_cpu_s is None else
                                     round(phase.broker_jit_cpu_s / phase.transactions * 1e6, 1)),
        }
    # Where the latency target's tail comes from: its seconds, from the phase's start (epoch ms),
    # can be laid beside anything else timed in the run (an AOF rewrite, a checkpoint).
    figures["fixed_rate"]["started_ms"] = rate.started_ms
    # How much slower the machine ran in the fixed-rate phase than in the max-rate one: every
    # process's CPU per transaction rises by about that much with no more work done.
    figures["fixed_rate"]["machine_slowdown"] = speed.slowdown(rate.speed_us, top.speed_us)
    figures["fixed_rate"]["latency_by_second_ms"] = {
        f"p{p}": [None if np.isnan(v) else round(float(v)) for v in values]
        for p, values in benchstats.latency_by_second(decisions.where(in_rate),
                                                      rate.started_ms).items()}
    profile, profile_fixed = _profile(top, figures["max_rate"]), _profile(rate, figures["fixed_rate"])
    cpu = figures["max_rate"]["cpu_us_per_tx"]
    paystream_us = benchstats.paystream_us_per_tx(cpu)
    floor_us = floor["us_per_tx"]["total"] if floor else None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "run_id": run_id,
        "cpu_us_per_tx_total": paystream_us,
        "cpu_us_per_tx_with_generator": cpu["total"],
        "floor_us_per_tx": floor_us,
        "floor_multiple": round(paystream_us / floor_us, 2) if floor_us else None,
        "floor_multiple_with_generator": round(cpu["total"] / floor_us, 2) if floor_us else None,
        "floor": floor,
        "baseline_tps": args.baseline_tps,
        "tps_vs_baseline": (round(figures["max_rate"]["tps"] / args.baseline_tps, 2)
                            if args.baseline_tps else None),
        # Latency at 70% of the max rate, when the fixed phase offered exactly that.
        "e2e_p99_ms_at_70pct": (figures["fixed_rate"]["e2e_p99_ms"] if args.rate is None
                                else None),
        "transactions": top.transactions + rate.transactions,
        "tps": figures["max_rate"]["tps"],
        # The target's latency figures: at the fixed offered rate.
        **{k: figures["fixed_rate"][k] for k in ("e2e_p50_ms", "e2e_p95_ms", "e2e_p99_ms",
                                                 "e2e_max_ms")},
        "offered_tps": rate.rate,
        "reconciled": reconciled,
        "cpu_us_per_tx": figures["max_rate"]["cpu_us_per_tx"],
        "workers": args.workers,
        "worker_batch_size": args.worker_batch_size or "the worker's default",
        "machine": machine(),
        "phases": figures,
        "profile": profile,
        **({"profile_fixed_rate": profile_fixed} if profile_fixed else {}),
        "json": _shown(args.out / f"{args.name}.json"),
        "chart": _shown(args.out / f"{args.name}.png"),
        "note": "sustained tps: transactions / (first produce -> last ledger or reporting row); "
                "latency: decision message timestamp - input message timestamp; CPU from /proc "
                "over the max-rate phase, per process tree; webhook delivery not included",
    }


def _stop_on_sigterm(signum: int, _frame: Any) -> None:
    raise BenchError(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM ends the run through the same path as a failure: the workers and sinks are
    # stopped by pid, never left running.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    run_id = time.strftime("%Y%m%d-%H%M%S")
    prefix = f"bench-{run_id}."
    os.environ["PAYSTREAM_TOPIC_PREFIX"] = prefix
    os.environ["PAYSTREAM_DB_SCHEMA"] = f"bench_{run_id.replace('-', '_')}"
    from streams.settings import load_settings

    settings = load_settings()
    env = environment(settings)
    logs = REPO / ".local" / "bench" / run_id
    logs.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        meter = CpuMeter(stack_pids())
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if not args.no_train:
        ensure_model(env)
    subprocess.run(command("topics", "create"), env=env, cwd=REPO, check=True,
                   capture_output=True)
    subprocess.run(command("db", "migrate"), env=env, cwd=REPO, check=True,
                   capture_output=True)
    print(f"== bench {run_id}: topics {prefix}*, schema {settings.db_schema}, logs in {logs}",
          flush=True)
    warmup = warm_up(settings, args.warmup_max_s)
    progress = Progress(settings)
    try:
        phases = run_phases(args, settings, ProcessGroup(env, logs, cwd=REPO), progress, meter)
    except (BenchError, ProcessExitedError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print("== reading the decisions and sink rows for latency and the chart", flush=True)
    decisions = read_decisions(settings, progress)
    inputs = progress.messages(progress.names.transactions.name)
    progress.close()
    reconciled = reconcile(env, logs)
    floor = None if args.no_floor else measure_floor(settings, inputs)
    result = summarise(args, phases, decisions, reconciled, run_id, floor)
    result["broker_warmup"] = warmup
    write_results(args, settings, result, phases, decisions, meter)
    if reconciled and not args.keep:
        clean_up(settings)
    return 0 if reconciled else 1


def run_phases(args: argparse.Namespace, settings: Any, processes: ProcessGroup,
               progress: Progress, meter: CpuMeter) -> dict[str, Phase]:
    """Start the workers and sinks, run the max-rate phase and then the fixed-rate one at a
    share of what it reached; the processes are stopped by pid however it ends."""
    try:
        top, rest = generate_traffic(args, processes)
        phases = {"max_rate": Phase("max rate", args.transactions, top, accounts=args.accounts)}
        for n in range(1, args.workers + 1):
            batch = (["--batch-size", str(args.worker_batch_size)]
                     if args.worker_batch_size else [])
            proc = processes.start(f"worker-{n}", "worker", "--stats-every-s", "10", *batch)
            meter.add(f"worker-{n}", proc.pid)
        for name in SINK_INPUTS:
            meter.add(f"sink-{name}", processes.start(f"sink-{name}", "sink", name).pid)
        wait_for_workers(settings, args.workers, processes, timeout_s=120)
        worker = processes.running["worker-1"].pid

        def profiled(phase: Phase, seconds: float, suffix: str) -> Phase:
            if seconds > 0:  # py-spy worker-1 for `seconds` from the phase's start
                phase.profile = (worker, args.out / f"{args.name}-worker-1{suffix}.pyspy.txt")
                phase.profile_s = seconds
            return phase

        profiled(phases["max_rate"], args.profile_s, "")
        run_phase(phases["max_rate"], processes, progress, meter, settings, args.phase_timeout_s)
        phases["fixed_rate"] = profiled(fixed_rate_phase(args, phases["max_rate"], rest),
                                        args.profile_fixed_s, "-fixed")
        run_phase(phases["fixed_rate"], processes, progress, meter, settings,
                  args.phase_timeout_s)
    finally:
        processes.stop()
    return phases


def write_results(args: argparse.Namespace, settings: Any, result: dict[str, Any],
                  phases: dict[str, Phase], decisions: benchstats.Decisions,
                  meter: CpuMeter) -> None:
    """The run's JSON, chart and markdown summary in --out (the summary printed too)."""
    from loadtest.benchchart import draw

    reconciled = result["reconciled"]
    origin_ms = int(decisions.produced_ms.min())
    cores = benchstats.cores_by_second(meter.samples, origin_ms)
    # Who was busy when, second by second from the first produce: bursts (an AOF rewrite, a
    # checkpoint) that a phase's total hides.
    result["cpu_cores_by_second"] = {name: [round(float(v), 2) for v in series]
                                     for name, series in cores.items()}
    draw(args.out / f"{args.name}.png",
         f"paystream bench {result['date']}: {result['machine']['cores']} cores, "
         f"{result['transactions']:,} transactions, reconciled {reconciled}",
         decisions, origin_ms, asyncio.run(sink_rows_ms(settings)),
         {"fixed rate": phases["fixed_rate"].started_ms}, cores)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    summary = benchstats.markdown(result)
    (args.out / f"{args.name}.md").write_text(summary)
    print(summary)


if __name__ == "__main__":
    raise SystemExit(main())
