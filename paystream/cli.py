"""The `paystream` command: a thin face over streams/, agents/, sinks/ and api/."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

import click

from streams.errors import ConfigError, PaystreamError, ValidationError
from streams.gctuning import tune_for_batches
from streams.records import Transaction
from streams.settings import Settings, kafka_client_config, load_settings

if TYPE_CHECKING:
    from streams.producer import LabelPublisher

log = logging.getLogger("paystream")

#: Generated traffic ends this long before "now": the generator's span is an estimate.
GENERATED_END_MARGIN_MS = 3_600_000
DAY_MS = 86_400_000


class _Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--log-level", default="info",
              type=click.Choice(["debug", "info", "warning", "error"]), help="Log verbosity.")
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """paystream: a stream processor for payments.

    Connection settings come from the environment (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL,
    REDIS_URL, SCHEMA_REGISTRY_URL) and default to the local stack (`make up`).
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = _Context()


# --- topics -----------------------------------------------------------------------------------


@cli.group()
def topics() -> None:
    """Create and list paystream's Kafka topics."""


@topics.command("create")
@click.pass_obj
def topics_create(obj: _Context) -> None:
    """Create every topic paystream uses (idempotent; configs aligned, partitions never changed)."""
    from paystream.bootstrap import admin_client
    from streams.topics import create_topics
    from streams.topics import topics as topic_specs

    settings = obj.settings
    specs = topic_specs(settings.topic_prefix, settings.partitions).all()
    report = create_topics(admin_client(settings), specs)
    for spec in specs:
        state = "created" if spec.name in report.created else "exists"
        if spec.name in report.reconfigured:
            state += ", configs updated"
        click.echo(f"{spec.name:<32} {spec.partitions:>3} partitions  {state}")
    for mismatch in report.partition_mismatch:
        click.echo(f"warning: partition count differs (left unchanged): {mismatch}", err=True)


@topics.command("list")
@click.pass_obj
def topics_list(obj: _Context) -> None:
    """Show paystream's topics with partition counts and message counts."""
    from paystream.bootstrap import admin_client, reading_consumer
    from streams.topics import message_count
    from streams.topics import topics as topic_specs

    settings = obj.settings
    existing = admin_client(settings).list_topics(timeout=10).topics
    consumer = reading_consumer(settings, "topics-list")
    try:
        for spec in topic_specs(settings.topic_prefix, settings.partitions).all():
            if spec.name not in existing:
                click.echo(f"{spec.name:<32} missing (run: paystream topics create)")
                continue
            partitions = existing[spec.name].partitions
            total = message_count(consumer, spec.name)
            click.echo(f"{spec.name:<32} {len(partitions):>3} partitions {total:>12,} messages")
    finally:
        consumer.close()


# --- produce ----------------------------------------------------------------------------------


@cli.command()
@click.option("--count", "-n", type=click.IntRange(min=0), default=10_000,
              help="Transactions to generate (ignored with --input).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Target transactions per second. Default: as fast as Kafka accepts.")
@click.option("--seed", type=int, default=1, help="Generator seed: same seed, same traffic.")
@click.option("--accounts", type=click.IntRange(min=2), default=10_000,
              help="Customer accounts in the generated population.")
@click.option("--fraud-share", type=click.FloatRange(0, 0.5, max_open=True), default=0.01,
              help="Approximate fraction of generated transactions that are fraud.")
@click.option("--labels-out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write tx_id,is_fraud,scenario,reported_at CSV for generated "
              "traffic (and its generator config next to it, for `paystream evaluate "
              "--offline`).")
@click.option("--label-delay-days", type=click.FloatRange(0, 365), default=1.0, show_default=True,
              help="Generated traffic: how long after a fraud its label (a chargeback) is "
              "reported: the reported_at of --labels-out and of --publish-labels.")
@click.option("--publish-labels", is_flag=True,
              help="Generated traffic: publish each fraud's label to fraud-labels as a "
              "CHARGEBACK once the traffic's clock passes its reported_at, so the workers' "
              "label-risk features learn from it as the traffic goes on (the labels and "
              "reporting sinks must run).")
@click.option("--start", "start_iso", default=None,
              help="Simulated clock start (ISO-8601). Default: so the traffic ends now.")
@click.option("--input", "input_path", type=click.File("r"), default=None,
              help="Publish JSON lines from this file ('-' for stdin) instead of generating.")
@click.option("--encode-to", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Write the encoded transactions to this file instead of Kafka "
              "(replay it with --replay: a load test then measures the pipeline, not the "
              "generator).")
@click.option("--replay", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Publish the encoded transactions of a --encode-to file, as "
              "they are.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@click.pass_obj
def produce(obj: _Context, count: int, rate: float | None, seed: int, accounts: int,
            fraud_share: float, labels_out: Path | None, label_delay_days: float,
            publish_labels: bool, start_iso: str | None,
            input_path: IO[str] | None, encode_to: Path | None, replay: Path | None,
            as_json: bool) -> None:
    """Publish transactions to the transactions topic: generated traffic or JSON lines.

    \b
    Examples:
      paystream produce --count 1000000 --seed 1
      paystream produce --count 50000 --rate 2000 --fraud-share 0.02 --labels-out labels.csv
      paystream produce --count 100000 --rate 500 --labels-out labels.csv --publish-labels
      paystream produce --input transactions.jsonl      # one JSON object per line
      cat txs.jsonl | paystream produce --input -
      paystream produce --count 300000 --encode-to load.bin && paystream produce --replay load.bin

    A JSON line that does not parse or validate is reported with its line number on stderr and
    the rest still goes. Exit status is 1 if any line was invalid or any message was not
    delivered.
    """
    from streams.producer import (
        LabelPublisher,
        TransactionProducer,
        publish,
        read_encoded,
        write_encoded,
    )

    settings = obj.settings
    if (input_path is not None or replay is not None) and (labels_out or publish_labels):
        raise click.UsageError("--labels-out and --publish-labels only apply to generated "
                               "traffic, not --input or --replay")
    if publish_labels and encode_to is not None:
        raise click.UsageError("--publish-labels publishes as the traffic goes: not with "
                               "--encode-to")
    if replay is not None and (input_path is not None or encode_to is not None):
        raise click.UsageError("--replay publishes a file as it is: not with --input or "
                               "--encode-to")
    invalid: list[int] = []
    chargebacks = None
    with ExitStack() as stack:
        if replay is not None:
            source: Any = read_encoded(replay)
            total = None
        elif input_path is not None:
            source = _json_lines(input_path, settings, invalid)
            total = None
        else:
            config = generator_config(count, seed, accounts, fraud_share, start_iso)
            labels = None
            if labels_out is not None:
                labels = stack.enter_context(labels_out.open("w", newline=""))
                labels_sidecar(labels_out).write_text(json.dumps(
                    {"count": count, "generator": dataclasses.asdict(config),
                     "label_delay_days": label_delay_days, "labels_published": publish_labels},
                    indent=2) + "\n")
            chargebacks = (stack.enter_context(LabelPublisher.from_settings(settings))
                           if publish_labels else None)
            source = _generated(config, count, labels, int(label_delay_days * DAY_MS), chargebacks)
            total = count
        producer = TransactionProducer.from_settings(settings)
        if encode_to is not None:
            written = write_encoded(encode_to, map(producer.encode, source))
            click.echo(json.dumps({"encoded": written, "file": str(encode_to)}) if as_json
                       else f"wrote {written:,} encoded transactions to {encode_to}")
            if invalid:
                sys.exit(1)
            return
        progress = stack.enter_context(_progress(total))
        report = publish(producer, source, rate=rate, on_progress=progress)
    summary = {
        "topic": producer.topic,
        "sent": report.sent,
        **({"labels_published": chargebacks.sent} if chargebacks is not None else {}),
        "failed": report.failed + report.undelivered,
        "invalid_lines": len(invalid),
        "elapsed_s": round(report.elapsed_s, 3),
        "rate_per_s": round(report.rate_per_s, 1),
        "cpu_us_per_message": round(report.cpu_us_per_message, 2),
        "errors": report.errors,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        for key, value in summary.items():
            click.echo(f"{key:>20}: {value}")
    if summary["failed"] or invalid:
        sys.exit(1)


def generator_config(count: int, seed: int, accounts: int, fraud_share: float,
                     start_iso: str | None) -> Any:
    """The generator's config; without a start, the traffic is placed to end about now."""
    from streams.generator import GeneratorConfig, TrafficGenerator

    if start_iso is None:
        probe = TrafficGenerator(GeneratorConfig(seed=seed, accounts=accounts,
                                                 fraud_share=fraud_share))
        # The span is estimated (random arrivals, thin nights: off by an hour either way at
        # 100k), so the traffic is generated once to see where it really ends (~1 s per 100k)
        # and moved back by any overshoot; it ends an hour early so no event lands in the future.
        end_ms = int(time.time() * 1000) - GENERATED_END_MARGIN_MS
        start_ms = end_ms - probe.span_ms(count, end_ms=end_ms)
        for _ in range(5):  # a move shifts the daily rhythm under the arrivals: look again
            config = GeneratorConfig(seed=seed, accounts=accounts, fraud_share=fraud_share,
                                     start_ms=start_ms)
            last_ms = max((tx.event_time for tx, _ in TrafficGenerator(config).generate(count)),
                          default=start_ms)
            if last_ms <= end_ms:
                break
            start_ms -= last_ms - end_ms
    else:
        start_ms = _parse_iso_ms(start_iso)
    return GeneratorConfig(seed=seed, accounts=accounts, fraud_share=fraud_share, start_ms=start_ms)


def labels_sidecar(labels: Path) -> Path:
    """Where the generator config of a labels file is kept, so its traffic can be rebuilt."""
    return labels.with_name(labels.name + ".generator.json")


def _generated(config: Any, count: int, labels: IO[str] | None, delay_ms: int,
               chargebacks: LabelPublisher | None) -> Iterator[Transaction]:
    """The generated transactions; their labels written (reported delay_ms after each) and,
    with `chargebacks`, each fraud's published once the traffic's clock reaches its report."""
    from streams.generator import TrafficGenerator

    generator = TrafficGenerator(config)
    writer = csv.writer(labels) if labels is not None else None
    if writer is not None:
        writer.writerow(["tx_id", "is_fraud", "scenario", "reported_at"])
    due: deque[tuple[int, str]] = deque()  # (reported at, tx_id): in order, the delay being fixed
    for tx, truth in generator.generate(count):
        if writer is not None:
            writer.writerow([truth.tx_id, int(truth.is_fraud), truth.scenario,
                             tx.event_time + delay_ms])
        if chargebacks is not None:
            while due and due[0][0] <= tx.event_time:
                chargebacks.chargeback(*due.popleft())
            if truth.is_fraud:
                due.append((tx.event_time + delay_ms, tx.tx_id))
        yield tx


def _parse_iso_ms(value: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not ISO-8601: {value!r}", param_hint="--start") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _json_lines(stream: IO[str], settings: Settings, invalid: list[int]) -> Iterator[Transaction]:
    from streams.jsonlines import parse_line
    from streams.validation import validate

    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            tx = parse_line(line)
            validate(tx, int(time.time() * 1000), settings.max_clock_skew_ms)
        except ValidationError as exc:
            invalid.append(number)
            click.echo(f"line {number}: {exc}", err=True)
            continue
        yield tx


class _progress:
    """A rich progress bar on a terminal; a log line every 5 s otherwise."""

    def __init__(self, total: int | None) -> None:
        self._total = total
        self._bar: Any = None
        self._task: Any = None
        self._last_log = time.monotonic()

    def __enter__(self) -> Self:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True))
            self._bar.start()
            self._task = self._bar.add_task("producing", total=self._total)
        return self

    def __call__(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
        elif time.monotonic() - self._last_log >= 5:
            self._last_log = time.monotonic()
            of = f"/{self._total:,}" if self._total else ""
            log.info("produced %s%s", f"{done:,}", of)

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# --- worker -----------------------------------------------------------------------------------


@cli.command()
@click.option("--batch-size", type=click.IntRange(1, 20_000), default=1000,
              help="Most events an agent takes per batch.")
@click.option("--stats-every-s", type=click.FloatRange(min=1), default=10.0,
              help="How often to log what the worker did.")
@click.option("--hold-sweep-s", type=click.FloatRange(min=0.5), default=5.0,
              help="How often to release expired REVIEW holds.")
@click.pass_obj
def worker(obj: _Context, batch_size: int, stats_every_s: float,
           hold_sweep_s: float) -> None:
    """Run one worker: the authorize and settle agents on its share of the partitions.

    Start several (on one machine or many) to share the load; partitions move between them
    when one joins, leaves or dies. Rules come from PAYSTREAM_RULES_PATH (default: the shipped
    agents/rules.toml); a bad rules file stops the worker here, naming the key. The fraud model
    is the newest version in PAYSTREAM_MODELS_DIR (default models/; `paystream train` makes
    one), or PAYSTREAM_MODEL; a newer version is picked up without a restart. Without any model
    the worker decides by lists and rules alone, and says so at start.
    """
    import faust

    from agents import metrics
    from agents.workers import register
    from paystream.wiring import build_pipeline
    from streams.app import create_app
    from streams.metrics import start as start_metrics
    from streams.topics import topics as topic_specs

    settings = obj.settings
    # Loads and checks the rules before anything starts.
    pipeline = build_pipeline(settings, observer=metrics.record_batch)
    app = create_app(settings)
    names = topic_specs(settings.topic_prefix, settings.partitions)
    register(app, pipeline, names, batch_size, hold_sweep_s)
    start_metrics(settings, "worker",
                  {app.conf.id: [names.transactions.name, names.credits.name, names.reviews.name,
                                 names.payout_outcomes.name]})
    metrics.record_models(*pipeline.model_versions())

    last: dict[str, int] = {}

    @app.timer(stats_every_s)
    async def report() -> None:
        metrics.record_models(*pipeline.model_versions())
        now = dict(pipeline.counters)
        delta = {k: v - last.get(k, 0) for k, v in now.items() if v != last.get(k, 0)}
        last.update(now)
        if delta:
            log.info("last %.0fs: %s", stats_every_s,
                     ", ".join(f"{k}={v:.0f}" for k, v in sorted(delta.items())))

    log.info("worker starting: kafka %s, redis %s, topics prefix %r, rules %s, fraud model %s",
             settings.kafka_bootstrap_servers, settings.redis_url, settings.topic_prefix,
             pipeline.rules_source, pipeline.models_in_use())
    runner = faust.Worker(app, loglevel=logging.getLevelName(log.getEffectiveLevel()).lower(),
                          quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG at --log-level warning and above
    # (faust/worker.py _setup_spinner_handler): every library debug call would then build a
    # record, ~6-50 us per event. We never want it.
    runner.spinner = None
    tune_for_batches()
    runner.execute_from_commandline()


# --- reconcile --------------------------------------------------------------------------------


@cli.command()
@click.option("--wait-s", type=click.FloatRange(min=0), default=0.0,
              help="First wait up to this long for the workers to catch up (lag 0, outbox empty).")
@click.option("--app-id", default="paystream", help="Faust app id of the workers.")
@click.option("--sinks", "with_sinks", is_flag=True,
              help="Also check the sinks (ledger, reporting, notifications) and wait for them.")
@click.pass_obj
def reconcile(obj: _Context, wait_s: float, app_id: str, with_sinks: bool) -> None:
    """Check that topics and balances agree: nothing lost, nothing applied twice.

    With --sinks, also: ledger rows == postings, each account's ledger sum == its balance,
    ledger debits == credits per currency, reporting rows == decisions (rollups add up), every
    notification on the stream and delivered or dead-lettered (partners from
    PAYSTREAM_PARTNERS_PATH). Prints a JSON summary; exits 0 only when every check holds.
    """
    import asyncio
    import gc

    from confluent_kafka import Consumer

    # Reconcile holds every message and record of the run (millions, none in a cycle): the
    # cyclic collector's passes over them only cost time (user CPU 216 -> 173 s on 1.48M
    # transactions without it) and pause the process for seconds at a time.
    gc.disable()

    from agents.reconcile import check, lag, read_topic
    from agents.store import bulk_reader, outbox_pending
    from paystream.bootstrap import reading_consumer
    from streams.accounts import read_hold_index, read_tx_records, scan_accounts
    from streams.codec import codec_for
    from streams.topics import topics as topic_specs

    settings = obj.settings
    names = topic_specs(settings.topic_prefix, settings.partitions)
    consumer = reading_consumer(settings, f"reconcile-{time.time_ns()}")
    # Joins nothing: only reads the committed offsets of the workers' group.
    group = Consumer({**kafka_client_config(settings),
                      "group.id": f"{settings.topic_prefix}{app_id}", "enable.auto.commit": False})

    async def pending_work() -> tuple[int, int]:
        redis = bulk_reader(settings.redis_url)
        try:
            behind = lag(consumer, group, [names.transactions.name, names.credits.name,
                                           names.reviews.name, names.payout_outcomes.name])
            if with_sinks:
                from paystream.sinks_cli import sinks_behind

                behind += await sinks_behind(settings, consumer)
            return behind, await outbox_pending(redis, settings.topic_prefix)
        finally:
            await redis.aclose()

    deadline = time.monotonic() + wait_s
    behind, outboxes = asyncio.run(pending_work())
    while (behind or outboxes) and time.monotonic() < deadline:
        time.sleep(1.0)
        behind, outboxes = asyncio.run(pending_work())
    codecs = {r: codec_for(r, getattr(names, t).name, settings.schema_registry_url)
              for r, t in (("transaction", "transactions"), ("decision", "decisions"),
                           ("posting", "postings"), ("payout_result", "payout_results"))}
    inputs = read_topic(consumer, names.transactions.name)
    dead = read_topic(consumer, names.dlq.name)
    decisions = read_topic(consumer, names.decisions.name)
    postings = read_topic(consumer, names.postings.name)
    payout_results = read_topic(consumer, names.payout_results.name) if with_sinks else []

    async def state() -> tuple[dict, dict, set]:
        redis = bulk_reader(settings.redis_url)
        try:
            accounts = await scan_accounts(redis, settings.topic_prefix)
            ids = sorted({codecs["decision"].decode(m.value())["tx_id"] for m in decisions})
            return (accounts, await read_tx_records(redis, settings.topic_prefix, ids),
                    await read_hold_index(redis, settings.topic_prefix))
        finally:
            await redis.aclose()

    accounts, records, hold_index = asyncio.run(state())
    consumer.close()
    group.close()
    findings = check(inputs, dead, decisions, postings, accounts, records, codecs, hold_index)
    if with_sinks:
        from paystream.sinks_cli import check_sinks

        findings.merge(check_sinks(settings, [codecs["decision"].decode(m.value()) for m in decisions],
                                   [codecs["posting"].decode(m.value()) for m in postings],
                                   {name: state.balances for name, state in accounts.items()},
                                   [codecs["payout_result"].decode(m.value()) for m in payout_results]))
    summary = findings.summary()
    summary["pending"] = {"lag": behind, "outbox_entries": outboxes}
    if behind or outboxes:
        summary["ok"] = False
    click.echo(json.dumps(summary, indent=2))
    sys.exit(0 if summary["ok"] else 1)


# --- review -----------------------------------------------------------------------------------


@cli.command()
@click.argument("action", type=click.Choice(["approve", "decline"]))
@click.argument("tx_id")
@click.option("--reviewer", default="cli", help="Who decides (recorded with the verdict).")
@click.pass_obj
def review(obj: _Context, action: str, tx_id: str, reviewer: str) -> None:
    """Approve or decline a transaction held for REVIEW.

    Publishes the verdict to the reviews topic, keyed by the held transaction's source account;
    the worker that owns that account posts the transaction (approve) or releases the hold
    (decline). Refused when the transaction is not held.
    """
    import asyncio

    from redis.asyncio import Redis

    from streams.accounts import HELD, TX_ACCOUNT, TX_STATUS, read_tx_records
    from streams.reviews import VerdictPublisher, verdict

    settings = obj.settings

    async def lookup() -> dict[str, str]:
        redis = Redis.from_url(settings.redis_url)
        try:
            return (await read_tx_records(redis, settings.topic_prefix, [tx_id])).get(tx_id, {})
        finally:
            await redis.aclose()

    record = asyncio.run(lookup())
    status = record.get(TX_STATUS)
    if status != HELD:
        raise PaystreamError(f"transaction {tx_id} is not held for review "
                             f"(status: {status or 'unknown'})")
    publisher = VerdictPublisher(settings)
    publisher.publish(verdict(tx_id, record[TX_ACCOUNT], action.upper(), reviewer,
                              time.time_ns() // 1_000_000))
    publisher.close()
    click.echo(f"{action} of {tx_id} (account {record[TX_ACCOUNT]}) published to {publisher.topic}")


# --- peek -------------------------------------------------------------------------------------

_RECORD_OF_ROLE = {"transactions": "transaction", "decisions": "decision", "postings": "posting",
                   "credits": "credit", "reviews": "review"}


@cli.command()
@click.argument("role", type=click.Choice(["transactions", "dlq", "decisions", "postings",
                                           "credits", "reviews"]))
@click.option("--max", "max_messages", type=click.IntRange(min=1), default=10,
              help="Stop after this many messages.")
@click.option("--timeout", "timeout_s", type=float, default=10.0,
              help="Stop after this many seconds without reaching --max.")
@click.pass_obj
def peek(obj: _Context, role: str, max_messages: int, timeout_s: float) -> None:
    """Print the first messages of a topic as JSON lines, decoded (DLQ: reason and raw bytes)."""
    from confluent_kafka import KafkaError as RdKafkaError

    from paystream.bootstrap import reading_consumer
    from streams.codec import codec_for
    from streams.topics import topics as topic_specs

    settings = obj.settings
    topic = getattr(topic_specs(settings.topic_prefix, settings.partitions), role).name
    codec = codec_for(_RECORD_OF_ROLE[role], topic, settings.schema_registry_url) \
        if role in _RECORD_OF_ROLE else None
    consumer = reading_consumer(settings, f"peek-{role}-{time.time_ns()}")
    consumer.subscribe([topic])
    shown, deadline = 0, time.monotonic() + timeout_s
    try:
        while shown < max_messages and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or (message.error() and
                                   message.error().code() == RdKafkaError._PARTITION_EOF):
                continue
            if message.error():
                raise PaystreamError(f"reading {topic}: {message.error().str()}")
            click.echo(json.dumps(_render(message, codec), default=str))
            shown += 1
    finally:
        consumer.close()


def _render(message: Any, codec: Any) -> dict[str, Any]:
    where = {"partition": message.partition(), "offset": message.offset(),
             "key": (message.key() or b"").decode("utf-8", "replace")}
    if codec is None:
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in message.headers() or []}
        return {**where, "headers": headers, "value_hex": (message.value() or b"").hex()}
    # Credits travel in batches (records back to back): show the batch as a list.
    records = codec.decode_all(message.value())
    return {**where, "value": records[0] if len(records) == 1 else records}


# --- schemas ----------------------------------------------------------------------------------


@cli.command()
def schemas() -> None:
    """List the Avro schemas paystream ships, with their single-object fingerprints."""
    from importlib import resources

    from streams.codec import load_versions

    records = sorted({e.name.split(".")[0] for e in resources.files("schemas").iterdir()
                      if e.name.endswith(".avsc")})
    for record in records:
        for version in load_versions(record):
            click.echo(f"{record:<14} v{version.version}  CRC-64-AVRO {version.fingerprint.hex()}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"paystream: configuration error: {exc}", err=True)
        sys.exit(2)
    except PaystreamError as exc:
        click.echo(f"paystream: error: {exc}", err=True)
        sys.exit(1)


# --- fraud model --------------------------------------------------------------------------------

from paystream.fraud_cli import evaluate, label, train, warm  # noqa: E402  (commands in their own module)

cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(label)
cli.add_command(warm)

from paystream.model_cli import model  # noqa: E402

cli.add_command(model)

# --- sinks --------------------------------------------------------------------------------------

from paystream.sinks_cli import (  # noqa: E402  (own module)
    db,
    ledger,
    notify,
    partner_sim,
    payout_watch,
    sink,
    webhook_receiver,
)

cli.add_command(webhook_receiver)
cli.add_command(partner_sim)
cli.add_command(payout_watch)

cli.add_command(notify)
cli.add_command(db)
cli.add_command(sink)
cli.add_command(ledger)

# --- analysts' API ------------------------------------------------------------------------------

from paystream.api_cli import api  # noqa: E402

cli.add_command(api)

# --- credentials and rights ---------------------------------------------------------------------

from paystream.access_cli import access  # noqa: E402

cli.add_command(access)
