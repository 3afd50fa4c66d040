"""The `paystream` command: a thin face over streams/, agents/, sinks/ and api/."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from streams.errors import ConfigError, PaystreamError
from streams.gctuning import tune_for_batches
from streams.settings import Settings, load_settings

if TYPE_CHECKING:
    pass

log = logging.getLogger("paystream")


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
    from paystream.wiring import admin_client
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
    from paystream.wiring import admin_client, reading_consumer
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


# --- worker -----------------------------------------------------------------------------------


#: A worker's --batch-size. One worker and its Redis draining a backlog alone spent 19-22% less
#: per transaction at 16,000 than at 4,000 (57.1 / 55.5 against 73.1 / 68.5 µs, alternated
#: pairs, loadtest/results/stall-2026-12-07/; ~9% the session before, batch-2026-12-07/), most
#: of it Redis's: a batch reads and writes each account and fan-in set once. It was the default
#: once before and reverted when an e2e test stalled after a rebalance in CI: a partition with
#: no committed offset left past its dropped records, now sought back (streams/faustbatch.py
#: perform_seek), a fault batches of 4,000 had too, in a narrower window.
DEFAULT_BATCH_SIZE = 16_000


@cli.command()
@click.option("--batch-size", type=click.IntRange(1, 20_000), default=DEFAULT_BATCH_SIZE,
              show_default=True,
              help="Most events an agent takes per batch. A batch takes what was fetched, so "
                   "this only binds in a backlog, where bigger batches cost less per event "
                   "(docs/benchmarks.md), each event waits for its whole batch, and the state "
                   "store is busy with one batch's read or commit for longer at a time.")
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

    `kill -USR2 <pid>` logs where its delivery stands (queues, offsets, the fetcher). A
    partition with records at the broker that gets none for 30 s, though nothing holds it
    back, is logged the same way and sought to its committed offsets; if it wedges again the
    worker exits with status 1, so its partitions move to another worker.
    """
    import asyncio
    import signal

    import faust

    from agents import metrics
    from agents.workers import register
    from paystream.wiring import build_pipeline, check_state_layout
    from streams.app import create_app
    from streams.faustbatch import BatchConsumer
    from streams.metrics import start as start_metrics
    from streams.topics import topics as topic_specs

    settings = obj.settings
    commit_with = check_state_layout(settings)
    # Loads and checks the rules before anything starts.
    pipeline = build_pipeline(settings, observer=metrics.record_batch)
    app = create_app(settings)
    names = topic_specs(settings.topic_prefix, settings.partitions)
    register(app, pipeline, names, batch_size, hold_sweep_s,
             per_partition=settings.redis_cluster, reseeks=metrics.record_reseeks)
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

    @app.task
    async def describe_on_signal() -> None:
        # `kill -USR2 <pid>`: where delivery stands (streams/faustbatch.py describe), for a
        # worker that has input and does nothing. SIGUSR1 is Faust's: every task's stack.
        def describe() -> None:
            consumer = app.consumer
            lines = consumer.describe() if isinstance(consumer, BatchConsumer) else []
            log.warning("delivery, on SIGUSR2:\n%s", "\n".join(lines))

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, describe)

    log.info("worker starting: kafka %s, redis %s (batches commit by %s), topics prefix %r, "
             "rules %s, fraud model %s", settings.kafka_bootstrap_servers, settings.redis_url,
             "paystream's Redis module" if commit_with == "module" else "agents/commit.lua",
             settings.topic_prefix, pipeline.rules_source, pipeline.models_in_use())
    runner = faust.Worker(app, loglevel=logging.getLevelName(log.getEffectiveLevel()).lower(),
                          quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG at --log-level warning and above
    # (faust/worker.py _setup_spinner_handler): every library debug call would then build a
    # record, ~6-50 us per event. We never want it.
    runner.spinner = None
    tune_for_batches()
    runner.execute_from_commandline()


@cli.command("state-migrate")
@click.pass_obj
def state_migrate(obj: _Context) -> None:
    """Convert the account state to this build's layout (one packed value per account).

    Run it once, with every worker stopped, when a worker refuses to start because the state is
    in the layout before 2026-12-01 (a hash per account). Balances, holds and versions move as
    they are; safe to run again if interrupted; prints progress and what it moved.
    """
    import asyncio

    from paystream.wiring import state_redis
    from streams import state_layout

    settings = obj.settings

    def progress(moved: int) -> None:
        if moved % 100_000 < 1000:
            click.echo(f"  {moved:,} accounts moved...", err=True)

    async def run() -> int:
        redis = state_redis(settings, socket_timeout=60)
        try:
            return await state_layout.migrate(redis, settings.topic_prefix, progress=progress)
        finally:
            await redis.aclose()

    moved = asyncio.run(run())
    click.echo(f"account state of {settings.topic_prefix!r}: {moved:,} accounts moved to the "
               f"packed layout; the namespace is marked, workers of this build may start")


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
    from paystream.reconciling import reconcile as run_checks

    summary = run_checks(obj.settings, app_id, wait_s, with_sinks)
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

    from paystream.wiring import state_redis
    from streams.accounts import HELD, TX_ACCOUNT, TX_STATUS, read_tx_records
    from streams.reviews import VerdictPublisher, verdict

    settings = obj.settings

    async def lookup() -> dict[str, str]:
        redis = state_redis(settings)
        try:
            return (await read_tx_records(redis, settings.topic_prefix, [tx_id],
                                          partitions=settings.partitions)).get(tx_id, {})
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

    from paystream.wiring import reading_consumer
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

from paystream.fraud_cli import evaluate, label, warm  # noqa: E402  (commands in their own module)
from paystream.train_cli import train  # noqa: E402

cli.add_command(train)
cli.add_command(evaluate)
cli.add_command(label)
cli.add_command(warm)

from paystream.model_cli import model  # noqa: E402

cli.add_command(model)

# --- produce ------------------------------------------------------------------------------------

from paystream.produce_cli import produce  # noqa: E402

cli.add_command(produce)

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
