"""`paystream reconcile`'s work: wait until the pipeline (and the sinks) caught up, read the run
back from Kafka, Redis and PostgreSQL, and check it (agents/reconcile.py, sinks/reconcile.py).
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass
from typing import Any

from streams.partitioning import partition_for
from streams.settings import Settings, notify_redis_url
from streams.topics import topics

#: Every topic role a worker consumes: their lag is work the workers still have.
WORKER_INPUTS = ("transactions", "credits", "reviews", "payout_outcomes")


@dataclass
class Pending:
    lag: int  # messages the workers' (and with sinks, the sinks') groups have still to read
    outbox_entries: int  # batches committed whose outputs are not yet confirmed sent

    @property
    def none(self) -> bool:
        return not (self.lag or self.outbox_entries)


def reconcile(settings: Settings, app_id: str, wait_s: float, with_sinks: bool) -> dict[str, Any]:
    """The checks' JSON summary; "ok" only when every check holds and nothing is pending."""
    from agents.reconcile import check
    from paystream.wiring import offsets_reader, reading_consumer

    # Reconcile holds every message and record of the run (millions, none in a cycle): the
    # cyclic collector's passes over them only cost time (user CPU 216 -> 173 s on 1.48M
    # transactions without it) and pause the process for seconds at a time.
    gc.disable()
    consumer = reading_consumer(settings, f"reconcile-{time.time_ns()}")
    workers = offsets_reader(settings, f"{settings.topic_prefix}{app_id}")
    try:
        pending = wait_for_pending(settings, consumer, workers, with_sinks, wait_s)
        run = read_run(settings, consumer, with_sinks)
    finally:
        consumer.close()
        workers.close()
    findings = check(run.inputs, run.dead, run.decisions, run.postings, run.accounts,
                     run.records, run.codecs, run.hold_index)
    if with_sinks:
        findings.merge(check_sinks(settings, run.decoded("decision", run.decisions),
                                   run.decoded("posting", run.postings),
                                   {name: state.balances for name, state in run.accounts.items()},
                                   run.decoded("payout_result", run.payout_results)))
    summary = findings.summary()
    summary["pending"] = {"lag": pending.lag, "outbox_entries": pending.outbox_entries}
    if not pending.none:
        summary["ok"] = False
    return summary


def wait_for_pending(settings: Settings, consumer: Any, workers: Any, with_sinks: bool,
                     wait_s: float) -> Pending:
    """What is still pending, looked at every second for up to `wait_s` until nothing is."""
    deadline = time.monotonic() + wait_s
    pending = asyncio.run(_pending(settings, consumer, workers, with_sinks))
    while not pending.none and time.monotonic() < deadline:
        time.sleep(1.0)
        pending = asyncio.run(_pending(settings, consumer, workers, with_sinks))
    return pending


async def _pending(settings: Settings, consumer: Any, workers: Any, with_sinks: bool) -> Pending:
    from agents.reconcile import lag
    from agents.store import bulk_reader, outbox_pending

    names = topics(settings.topic_prefix, settings.partitions)
    redis = bulk_reader(settings.redis_url, settings.redis_cluster)
    try:
        behind = lag(consumer, workers, [getattr(names, role).name for role in WORKER_INPUTS])
        if with_sinks:
            behind += sinks_behind(settings, consumer)
        return Pending(behind, await outbox_pending(redis, settings.topic_prefix))
    finally:
        await redis.aclose()


@dataclass
class Run:
    """Everything a run left: its topics' messages, and the account state and records."""

    codecs: dict[str, Any]
    inputs: list[Any]
    dead: list[Any]
    decisions: list[Any]
    postings: list[Any]
    payout_results: list[Any]
    accounts: dict[str, Any]
    records: dict[str, Any]
    hold_index: set[Any]

    def decoded(self, record: str, messages: list[Any]) -> list[dict]:
        return [self.codecs[record].decode(m.value()) for m in messages]


def read_run(settings: Settings, consumer: Any, with_sinks: bool) -> Run:
    from agents.reconcile import read_topic
    from streams.codec import codec_for

    names = topics(settings.topic_prefix, settings.partitions)
    codecs = {r: codec_for(r, getattr(names, t).name, settings.schema_registry_url)
              for r, t in (("transaction", "transactions"), ("decision", "decisions"),
                           ("posting", "postings"), ("payout_result", "payout_results"))}
    # The topics first, then the state their messages led to.
    inputs = read_topic(consumer, names.transactions.name)
    dead = read_topic(consumer, names.dlq.name)
    decisions = read_topic(consumer, names.decisions.name)
    postings = read_topic(consumer, names.postings.name)
    payout_results = read_topic(consumer, names.payout_results.name) if with_sinks else []
    # A decision is keyed by its transaction's partition key: where a cluster keeps its record.
    where = {codecs["decision"].decode(m.value())["tx_id"]: partition_for(m.key(), settings.partitions)
             for m in decisions}
    accounts, records, hold_index = asyncio.run(_state(settings, where))
    return Run(codecs, inputs, dead, decisions, postings, payout_results, accounts, records,
               hold_index)


async def _state(settings: Settings, where: dict[str, int]) -> tuple[dict, dict, set]:
    from agents.store import bulk_reader
    from streams.accounts import read_hold_index, read_tx_records, scan_accounts

    redis = bulk_reader(settings.redis_url, settings.redis_cluster)
    try:
        return (await scan_accounts(redis, settings.topic_prefix),
                await read_tx_records(redis, settings.topic_prefix, sorted(where),
                                      partitions=settings.partitions, hints=where),
                await read_hold_index(redis, settings.topic_prefix))
    finally:
        await redis.aclose()


def sinks_behind(settings: Settings, consumer: Any) -> int:
    """What the sinks and the partners' deliveries have still to read: their groups' lag."""
    from agents.reconcile import lag
    from paystream.wiring import offsets_reader, partners_without_secrets
    from sinks.runner import SINK_INPUTS, group_id
    from sinks.webhooks import partner_inputs, sink_name

    names = topics(settings.topic_prefix, settings.partitions)
    groups = dict(SINK_INPUTS)
    groups |= {sink_name(p): partner_inputs(p) for p in partners_without_secrets(settings)}
    behind = 0
    for name, roles in groups.items():
        group = offsets_reader(settings, group_id(settings.topic_prefix, name))
        try:
            behind += lag(consumer, group, [getattr(names, role).name for role in roles])
        finally:
            group.close()
    return behind


def check_sinks(settings: Settings, decisions: list[dict], postings: list[dict],
                balances: dict[str, dict[str, int]], payout_results: list[dict]) -> Any:
    """The ledger, reporting and notification checks (sinks/reconcile.py) of a run."""
    from agents.store import bulk_reader
    from paystream.wiring import partners_without_secrets
    from sinks.db import connected
    from sinks.reconcile import check_ledger, check_notifications, check_reporting

    partners = partners_without_secrets(settings)

    async def run() -> Any:
        redis = bulk_reader(notify_redis_url(settings))
        try:
            async with connected(settings.database_url, settings.db_schema) as db:
                found = await check_ledger(db, postings, balances)
                found.merge(await check_reporting(db, decisions))
            found.merge(await check_notifications(redis, settings.topic_prefix, decisions,
                                                  postings, partners, payout_results))
            if not partners:
                found.counts["notification_delivery_unchecked"] = 1  # no PAYSTREAM_PARTNERS_PATH
            return found
        finally:
            await redis.aclose()

    return asyncio.run(run())
