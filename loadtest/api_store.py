"""A big reporting store for the API benchmark, loaded with COPY straight from the generator.

Not through the pipeline: the point is an analysts' store of realistic size (10M transactions,
~20M ledger rows, rollups, live account state) in minutes, to measure the API on it. Decisions
are synthetic but shaped like the pipeline's (labelled fraud mostly declined or held, ~1% of the
rest held or declined), ledger rows are real double entries chained with the ledger's own hash
(streams.ledgerchain), so statements verify. Secondary indexes are dropped for the load and
built after it (several times faster than maintaining them row by row); the rollups are summed
from the rows by SQL at the end. The schema is kept between runs: a run with the same size
finds it loaded and skips all this.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from redis.asyncio import Redis

from sinks.ledger import COLUMNS as LEDGER_COLUMNS
from sinks.reporting import COLUMNS as TX_COLUMNS
from streams.accounts import (
    HELD,
    TX_ACCOUNT,
    TX_STATUS,
    AccountState,
    account_key,
    holds_key,
    pack_account,
    tx_key,
)
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.ledgerchain import GENESIS, chain_hash, to_datetime
from streams.partitioning import partition_for
from streams.records import Transaction

CHUNK = 100_000
#: Held transactions (status HELD in account state, in the hold index) are the last REVIEW
#: decisions of the store, as many as a busy day's queue.
HELD_MAX = 5_000
REASONS = {"DECLINE": ["model:decline", "feature:new_device"], "REVIEW": ["model:review", "feature:log_amount"],
           "APPROVE": []}


@dataclass
class Samples:
    """Ids the Locust users ask for: drawn while loading, so every one exists."""

    tx_ids: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    merchants: list[str] = field(default_factory=list)
    start: str = ""
    end: str = ""


@dataclass
class _Chains:
    seq: dict[str, int] = field(default_factory=dict)
    tip: dict[str, str] = field(default_factory=dict)
    balance: dict[tuple[str, str], int] = field(default_factory=dict)

    def leg(self, tx: Transaction, account: str, direction: str, posted: datetime) -> tuple:
        seq = self.seq.get(account, 0) + 1
        key = (account, tx.currency)
        after = self.balance.get(key, 0) + (tx.amount if direction == "CREDIT" else -tx.amount)
        posting_id = f"{tx.tx_id}:{direction[0]}"
        prev = self.tip.get(account, GENESIS)
        digest = chain_hash(prev, posting_id, tx.tx_id, account, tx.currency, direction,
                            tx.amount, after, seq, tx.event_time)
        self.seq[account], self.tip[account], self.balance[key] = seq, digest, after
        return (posting_id, tx.tx_id, account, tx.currency, direction, tx.amount, after, seq,
                prev, digest, to_datetime(tx.event_time), posted)


def _decide(rng: random.Random, is_fraud: bool) -> tuple[str, float]:
    draw = rng.random()
    if is_fraud:
        return ("DECLINE" if draw < 0.6 else "REVIEW" if draw < 0.9 else "APPROVE"), 0.6 + 0.4 * rng.random()
    return ("APPROVE" if draw < 0.994 else "REVIEW" if draw < 0.997 else "DECLINE"), 0.05 * rng.random()


def _rows(transactions: Iterator[tuple[Transaction, Any]], rng: random.Random, chains: _Chains,
          samples: Samples, held: deque[tuple[str, str, int]]) -> Iterator[tuple[list, list]]:
    tx_rows: list[tuple] = []
    ledger_rows: list[tuple] = []
    for n, (tx, label) in enumerate(transactions, 1):
        outcome, score = _decide(rng, label.is_fraud)
        latency_ms = rng.randint(20, 400)
        event = to_datetime(tx.event_time)
        decided = event + timedelta(milliseconds=latency_ms)
        tx_rows.append((tx.tx_id, tx.type.value, tx.source_account, tx.destination_account,
                        tx.amount, tx.currency, event, tx.channel.value, tx.merchant_id,
                        tx.merchant_category, tx.country, outcome, score, REASONS[outcome],
                        "fraud-v0001", None, None, decided, event, latency_ms, tx.device_id))
        if outcome == "APPROVE":
            ledger_rows.append(chains.leg(tx, tx.source_account, "DEBIT", decided))
            ledger_rows.append(chains.leg(tx, tx.destination_account, "CREDIT", decided))
        elif outcome == "REVIEW":
            expires = decided + timedelta(days=1)
            held.append((tx.tx_id, tx.source_account, int(expires.timestamp() * 1000)))
        if n % 997 == 0:
            samples.tx_ids.append(tx.tx_id)
            if tx.source_account.startswith("acc-"):
                samples.accounts.append(tx.source_account)
            if tx.merchant_id:
                samples.merchants.append(tx.merchant_id)
        if len(tx_rows) >= CHUNK:
            yield tx_rows, ledger_rows
            tx_rows, ledger_rows = [], []
    if tx_rows:
        yield tx_rows, ledger_rows


async def load(database_url: str, schema: str, redis_url: str, namespace: str, transactions: int,
               log: Any = print) -> Samples:
    """Fill `schema` (migrated, empty) and the account state under `namespace`."""
    accounts = max(10_000, transactions // 100)
    days = transactions / (accounts * 3.0)  # the generator's 3 transactions per account per day
    now = datetime.now(UTC)
    start = now - timedelta(days=days, hours=1)
    config = GeneratorConfig(seed=11, accounts=accounts, fraud_share=0.01,
                             start_ms=int(start.timestamp() * 1000))
    samples, chains = Samples(start=start.isoformat(), end=now.isoformat()), _Chains()
    held: deque[tuple[str, str, int]] = deque(maxlen=HELD_MAX)
    rng = random.Random(11)
    connection = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        indexes = await _drop_secondary_indexes(connection, schema)
        started, done = time.monotonic(), 0
        for tx_rows, ledger_rows in _rows(TrafficGenerator(config).generate(transactions), rng,
                                          chains, samples, held):
            await connection.copy_records_to_table("report_transactions", records=tx_rows,
                                                   columns=TX_COLUMNS)
            await connection.copy_records_to_table("ledger", records=ledger_rows, columns=LEDGER_COLUMNS)
            done += len(tx_rows)
            if done % 1_000_000 < CHUNK:
                log(f"  loaded {done:,} transactions ({done / (time.monotonic() - started):,.0f}/s)")
        log(f"  building {len(indexes)} indexes and the rollups...")
        for statement in indexes:
            await connection.execute(statement)
        for table, unit in (("report_rollup_minute", "minute"), ("report_rollup_hour", "hour"),
                            ("report_rollup_day", "day")):
            await connection.execute(
                f"INSERT INTO {table} SELECT date_trunc('{unit}', event_time), currency, outcome, "
                f"country, coalesce(merchant_category, ''), count(*), sum(amount), sum(score), "
                f"sum(coalesce(latency_ms, 0)) FROM report_transactions GROUP BY 1, 2, 3, 4, 5")
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    await _account_state(redis_url, namespace, chains, held)
    log(f"  {len(chains.seq):,} accounts in Redis, {len(held):,} transactions held")
    return samples


async def _drop_secondary_indexes(connection: asyncpg.Connection, schema: str) -> list[str]:
    """Drop the indexes no constraint owns on the two big tables; return how to rebuild them."""
    rows = await connection.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = $1 "
        "AND i.tablename IN ('report_transactions', 'ledger') AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", schema)
    for row in rows:
        await connection.execute(f'DROP INDEX "{schema}"."{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def _account_state(redis_url: str, namespace: str, chains: _Chains,
                         held: deque[tuple[str, str, int]], partitions: int = 12) -> None:
    redis = Redis.from_url(redis_url)
    states: dict[str, AccountState] = {}
    for (account, currency), balance in chains.balance.items():
        state = states.setdefault(account, AccountState(seq=chains.seq[account]))
        state.balances[currency] = balance
    try:
        pipe = redis.pipeline(transaction=False)
        for n, (account, state) in enumerate(states.items(), 1):
            pipe.set(account_key(namespace, account), pack_account(1, state.encode()))
            if n % 10_000 == 0:
                await pipe.execute()
        for tx_id, account, expires_ms in held:
            pipe.hset(tx_key(namespace, tx_id), mapping={TX_STATUS: HELD, TX_ACCOUNT: account})
            pipe.zadd(holds_key(namespace, partition_for(account, partitions)),
                      {f"{account}|{tx_id}": expires_ms})
        await pipe.execute()
    finally:
        await redis.aclose()


def run(database_url: str, schema: str, redis_url: str, namespace: str, transactions: int) -> Samples:
    return asyncio.run(load(database_url, schema, redis_url, namespace, transactions))
