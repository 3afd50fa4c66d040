"""`paystream db`, `paystream sink` and `paystream ledger`: the sinks' commands (logic in sinks/)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any, cast

import click

from streams.errors import ConfigError
from streams.gctuning import tune_for_batches

log = logging.getLogger("paystream")


@click.group()
def db() -> None:
    """The sinks' PostgreSQL schema."""


@db.command("migrate")
@click.pass_obj
def db_migrate(obj: Any) -> None:
    """Apply the migrations not applied yet to PAYSTREAM_DB_SCHEMA, then grant it to paystream's
    roles that exist (sinks/roles.py). Idempotent; run as the schema's owner."""
    from sinks.db import grant, migrate

    settings = obj.settings
    applied = migrate(settings.database_url, settings.db_schema)
    if applied:
        click.echo(f"schema {settings.db_schema}: applied {', '.join(applied)}")
    else:
        granted = grant(settings.database_url, settings.db_schema)
        click.echo(f"schema {settings.db_schema}: up to date ({len(granted)} grants)")


SINKS = ("ledger", "reporting", "labels")  # sinks.runner.SINK_INPUTS, without importing it


def stop_event() -> asyncio.Event:
    """Set on SIGTERM or Ctrl-C, so a long-running command ends after the work in hand."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


@click.command()
@click.argument("name", type=click.Choice([*SINKS, "all"]))
@click.option("--idle-exit-s", type=click.FloatRange(min=1), default=None,
              help="Exit after this long without new messages (for batch runs and tests).")
@click.pass_obj
def sink(obj: Any, name: str, idle_exit_s: float | None) -> None:
    """Run a sink: ledger (postings -> ledger table), reporting (decisions -> reporting tables)
    or labels (fraud-labels -> labels table). Notifications are delivered by `paystream
    notify`, straight from the topics.

    Each sink is its own consumer group, so a slow or dead database stalls only that sink;
    `all` runs them all in this process. They apply missing migrations first. Stops on SIGTERM or
    Ctrl-C after the batch in hand is written.
    """
    from paystream.wiring import build_runner
    from sinks.db import migrate
    from streams.metrics import start as start_metrics

    settings = obj.settings
    chosen = SINKS if name == "all" else (name,)
    migrate(settings.database_url, settings.db_schema)
    runners = [build_runner(n, settings) for n in chosen]
    start_metrics(settings, f"sink {name}", {r.group: r.topics for r in runners})

    async def run() -> None:
        stop = stop_event()
        await asyncio.gather(*(r.run(stop, idle_exit_s) for r in runners))

    tune_for_batches()
    asyncio.run(run())


@click.group()
def ledger() -> None:
    """Check the ledger."""


@ledger.command("verify")
@click.pass_obj
def ledger_verify(obj: Any) -> None:
    """Walk every account's hash chain and balance; exit 1 at the first break, naming the row."""
    from sinks.db import connected
    from sinks.ledger import verify

    settings = obj.settings

    async def run() -> Any:
        async with connected(settings.database_url, settings.db_schema) as connection:
            return await verify(connection)

    report = asyncio.run(run())
    click.echo(json.dumps({"ok": report.ok, "rows": report.rows, "accounts": report.accounts,
                           "broken_at": report.broken_at, "problem": report.problem}, indent=2))
    sys.exit(0 if report.ok else 1)


@click.command()
@click.option("--backoff-base-s", type=click.FloatRange(min=0.01), default=0.5,
              help="First retry waits up to this long; each next one up to twice as long.")
@click.option("--idle-exit-s", type=click.FloatRange(min=1), default=None,
              help="Exit after this long with nothing to deliver (for batch runs and tests).")
@click.pass_obj
def notify(obj: Any, backoff_base_s: float, idle_exit_s: float | None) -> None:
    """Deliver notification events to the partner webhooks in PAYSTREAM_PARTNERS_PATH.

    Events are derived from the decisions and postings topics as they come; each partner is
    its own consumer group (paystream-sink-notify-<partner>), so a partner that is slow or down
    holds up only its own deliveries. Signed (HMAC-SHA256, Paystream-Signature), with an
    Idempotency-Key per event, retried with exponential backoff and jitter, dead-lettered
    after the partner's max_attempts; outcomes are recorded in the notifications' Redis. Start
    several to share the work (the partitions are shared out).
    """
    from pathlib import Path

    from paystream.wiring import build_notify_runner
    from sinks.webhooks import WebhookStore, load_partners
    from streams.errors import ConfigError
    from streams.metrics import start as start_metrics

    settings = obj.settings
    if not settings.partners_path:
        raise ConfigError("PAYSTREAM_PARTNERS_PATH is not set: point it at the partners' TOML "
                          "file ([partners.<id>] url, secret_env, kinds)")
    partners = load_partners(Path(settings.partners_path))
    runners = [build_notify_runner(p, settings, backoff_base_s) for p in partners]
    start_metrics(settings, "notify", {r.group: r.topics for r in runners})

    async def run() -> dict[str, dict[str, int]]:
        stop = stop_event()
        await asyncio.gather(*(r.run(stop, idle_exit_s) for r in runners))
        return {r.name: cast(WebhookStore, r.store).counts for r in runners}

    tune_for_batches()
    click.echo(json.dumps(asyncio.run(run())))


@click.command("webhook-receiver")
@click.option("--port", type=click.IntRange(1, 65535), default=18080)
@click.option("--secret-env", default="PARTNER_WEBHOOK_SECRET",
              help="Environment variable holding the shared secret.")
def webhook_receiver(port: int, secret_env: str) -> None:
    """Run a sample partner endpoint on 127.0.0.1 (POST /hooks, GET /stats): verifies signatures,
    drops repeated Idempotency-Keys. For trying `paystream notify` out, and to copy from."""
    import os

    from aiohttp import web

    from sinks.receiver import receiver_app
    from streams.errors import ConfigError

    secret = os.environ.get(secret_env)
    if not secret:
        raise ConfigError(f"set {secret_env} to the webhook secret shared with paystream")
    web.run_app(receiver_app(secret), host="127.0.0.1", port=port, print=None)


@click.command("partner-sim")
@click.option("--partner", "partner_id", default="mpesa-ke", show_default=True,
              help="The receive partner simulated (its id in PAYSTREAM_PARTNERS_PATH).")
@click.option("--port", type=click.IntRange(1, 65535), default=18090, show_default=True)
@click.option("--secret-env", default="PARTNER_WEBHOOK_SECRET", show_default=True,
              help="Environment variable holding the partner's secret (the partners file's).")
@click.option("--api-url", default="http://127.0.0.1:8000", show_default=True,
              help="Where paystream's API takes the callbacks.")
@click.option("--latency-s", type=click.FloatRange(0, 3600), default=0.5, show_default=True,
              help="Mean time from instruction to callback (uniform 0.5x-1.5x).")
@click.option("--fail-share", type=click.FloatRange(0, 1), default=0.2, show_default=True)
@click.option("--duplicate-share", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Answers sent twice.")
@click.option("--contradict-share", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Answers followed by the opposite one (the first must stand).")
@click.option("--never-share", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="Payouts never answered (they must expire).")
@click.option("--lost-share", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Payouts paid whose callback is lost (only a status query tells).")
@click.option("--seed", type=int, default=7, show_default=True)
def partner_sim(partner_id: str, port: int, secret_env: str, api_url: str, latency_s: float,
                fail_share: float, duplicate_share: float, contradict_share: float,
                never_share: float, lost_share: float, seed: int) -> None:
    """Run a simulated receive partner on 127.0.0.1 (POST /payouts, GET /status, /stats, /answers):
    it takes payout instructions from `paystream notify` and calls the API back, late, twice,
    contradicting itself, or never, as configured (docs/send-money.md)."""
    import os

    from sinks.partner_sim import Behaviour, run
    from streams.errors import ConfigError

    secret = os.environ.get(secret_env)
    if not secret:
        raise ConfigError(f"set {secret_env} to the secret paystream shares with {partner_id}")
    run(partner_id, secret, api_url, port, Behaviour(latency_s, fail_share, duplicate_share,
                                                     contradict_share, never_share, lost_share,
                                                     seed))


@click.command("payout-watch")
@click.option("--every-s", type=click.FloatRange(0.2, 3600), default=5.0, show_default=True,
              help="How often to look for payouts close to their deadline.")
@click.option("--lead-s", type=click.FloatRange(1, 86400), default=60.0, show_default=True,
              help="Ask about a payout this long before its deadline (and not again sooner).")
@click.pass_obj
def payout_watch(obj: Any, every_s: float, lead_s: float) -> None:
    """Ask receive partners that offer a status query (status_url in PAYSTREAM_PARTNERS_PATH)
    how a payout stands when its deadline nears and no callback came; publish a SUCCESS or
    FAILURE they give as their callback would have been (docs/send-money.md)."""
    from paystream.wiring import state_redis
    from sinks.payout_watch import PayoutWatch, run
    from streams.partners import load_partners
    from streams.producer import AckedPublisher

    settings = obj.settings
    if not settings.partners_path:
        raise ConfigError("PAYSTREAM_PARTNERS_PATH is not set: the partners file names each "
                          "receive partner's status_url and secret")
    partners = {p.partner_id: p for p in load_partners(Path(settings.partners_path),
                                                        kind="PAYOUT_INSTRUCTION")}
    asking = sorted(p for p, partner in partners.items() if partner.status_url)
    from streams.metrics import start as start_metrics

    publisher = AckedPublisher(settings, "payout_outcomes", "payout_outcome")
    start_metrics(settings, "payout-watch")
    watch = PayoutWatch(settings.topic_prefix, settings.partitions, partners, publisher, lead_s)
    log.info("payout watch: asking %s %.0f s before a payout's deadline, every %.1f s",
             ", ".join(asking) or "nobody (no partner has a status_url)", lead_s, every_s)

    async def main() -> None:
        await run(watch, state_redis(settings, socket_timeout=10), every_s, stop_event())

    try:
        asyncio.run(main())
    finally:
        publisher.close()
        log.info("payout watch stopped: %s", dict(watch.counts))
