"""What the API reads from PostgreSQL: the reporting store, the ledger and the audit trail.

Parameterised SQL only. Each query says which index or rollup serves it (migrations 0001-0003);
`make bench-api` checks them with EXPLAIN on a 10M-row store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from api.models import Bucket, Dimension, SearchFilters

TX_COLUMNS = ("tx_id, type, source_account, destination_account, amount, currency, event_time, "
              "channel, merchant_id, merchant_category, country, outcome, score, reasons, "
              "model_version, shadow_score, shadow_model_version, decided_at, produced_at, "
              "latency_ms, device_id")
POSTING_COLUMNS = ("posting_id, tx_id, account, currency, direction, amount, balance_after, "
                   "account_seq, prev_hash, hash, event_time, posted_at")


def search_sql(filters: SearchFilters, after: tuple[datetime, str] | None,
               limit: int | None) -> tuple[str, list[Any]]:
    """Transactions matching `filters`, newest first; served by report_tx_event_time (or the
    flagged or merchant index), or when an account is given by the payer and payee indexes."""
    where = ["event_time >= $1", "event_time < $2"]
    args: list[Any] = [filters.start, filters.end]

    def add(condition: str, value: Any) -> None:
        args.append(value)
        where.append(condition.replace("?", f"${len(args)}"))

    for column in ("merchant_id", "merchant_category", "country", "currency"):
        if getattr(filters, column) is not None:
            add(f"{column} = ?", getattr(filters, column))
    if filters.outcome is not None:
        add("outcome = ?", filters.outcome.value)
    for column, bound in (("amount", "amount_min"), ("score", "score_min")):
        if getattr(filters, bound) is not None:
            add(f"{column} >= ?", getattr(filters, bound))
    for column, bound in (("amount", "amount_max"), ("score", "score_max")):
        if getattr(filters, bound) is not None:
            add(f"{column} <= ?", getattr(filters, bound))
    if after is not None:
        args += list(after)
        where.append(f"(event_time, tx_id) < (${len(args) - 1}, ${len(args)})")
    order = "ORDER BY event_time DESC, tx_id DESC"
    cut = ""
    if limit is not None:
        args.append(limit)
        cut = f" LIMIT ${len(args)}"
    if filters.account is None:
        return f"SELECT {TX_COLUMNS} FROM report_transactions WHERE {' AND '.join(where)} {order}{cut}", args
    # What the account paid and what it received, each read newest first from its own index and
    # cut at the limit, then merged: a BitmapOr of the two read every row of the account in the
    # window before sorting (~1,500 rows, 9.5 ms of PostgreSQL a page on the bench store).
    args.append(filters.account)
    account = f"${len(args)}"
    paid = f"source_account = {account}"
    received = f"destination_account = {account} AND source_account <> {account}"
    branches = " UNION ALL ".join(
        f"(SELECT {TX_COLUMNS} FROM report_transactions WHERE {side} AND {' AND '.join(where)} "
        f"{order}{cut})" for side in (paid, received))
    return f"SELECT * FROM ({branches}) history {order}{cut}", args


TRANSACTION_SQL = f"SELECT {TX_COLUMNS} FROM report_transactions WHERE tx_id = $1"
POSTINGS_SQL = f"SELECT {POSTING_COLUMNS} FROM ledger WHERE tx_id = $1 ORDER BY posting_id"  # ledger_tx_id
#: The ledger's UNIQUE (account, account_seq) serves both.
STATEMENT_SQL = (f"SELECT {POSTING_COLUMNS} FROM ledger WHERE account = $1 AND account_seq > $2 "
                 f"ORDER BY account_seq LIMIT $3")
CHAIN_RANGE_SQL = (f"SELECT {POSTING_COLUMNS} FROM ledger WHERE account = $1 AND account_seq > $2 "
                   f"AND account_seq <= $3 ORDER BY account_seq")


async def transaction(db: asyncpg.Pool, tx_id: str) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
    async with db.acquire() as connection:
        row = await connection.fetchrow(TRANSACTION_SQL, tx_id)
        postings = await connection.fetch(POSTINGS_SQL, tx_id)
    return row, postings


async def statement(db: asyncpg.Pool, account: str, after_seq: int, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(STATEMENT_SQL, account, after_seq, limit)


async def has_ledger(db: asyncpg.Pool, account: str) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM ledger WHERE account = $1)", account))


#: The rollup table of each bucket width (never the rows).
_ROLLUP = {Bucket.minute: "report_rollup_minute", Bucket.hour: "report_rollup_hour",
           Bucket.day: "report_rollup_day"}


def report_sql(bucket: Bucket, by: Dimension) -> str:
    table = _ROLLUP[bucket]
    key = by.value  # an Enum member's value: a column name, never client text
    group = f"bucket, {key}" + ("" if by is Dimension.currency else ", currency")
    return (
        f"SELECT bucket, {key}::text AS key, currency::text AS currency, "
        f"sum(tx_count)::bigint AS count, sum(amount_sum)::bigint AS amount, "
        f"coalesce(sum(tx_count) FILTER (WHERE outcome = 'DECLINE'), 0)::bigint AS declined, "
        f"coalesce(sum(tx_count) FILTER (WHERE outcome = 'REVIEW'), 0)::bigint AS reviewed, "
        f"sum(score_sum) / nullif(sum(tx_count), 0) AS avg_score, "
        f"sum(latency_ms_sum)::float8 / nullif(sum(tx_count), 0) AS avg_latency_ms "
        f"FROM {table} WHERE bucket >= $1 AND bucket < $2 "
        f"GROUP BY {group} ORDER BY 1, 2, 3")


async def report_fragments(db: asyncpg.Pool, bucket: Bucket, by: Dimension, start: datetime,
                           end: datetime) -> dict[int, str]:
    """The report's rows per bucket (epoch ms), each bucket's as JSON objects joined by commas,
    made by PostgreSQL: a week by hour and country is ~15,000 rows, and turning them into Python
    objects and validating them took the API ~0.4 s of its one event loop per request (py-spy,
    `make bench-api`), against ~15 ms here."""
    rows = await db.fetch(
        f"SELECT (extract(epoch FROM r.bucket) * 1000)::bigint AS at, "
        f"string_agg(row_to_json(r)::text, ',' ORDER BY r.key, r.currency) AS rows "
        f"FROM ({report_sql(bucket, by)}) r GROUP BY r.bucket", start, end)
    return {r["at"]: r["rows"] for r in rows}


async def held_transactions(db: asyncpg.Pool, tx_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The decisions of held transactions, by tx_id, leaving out those with a verdict from the
    API not yet applied (primary-key lookups)."""
    rows = await db.fetch(HELD_SQL, tx_ids)
    return {r["tx_id"]: dict(r) for r in rows}


HELD_SQL = (
    "SELECT r.tx_id, r.source_account AS account, r.amount, r.currency, r.score, r.reasons, "
    "r.event_time, r.decided_at FROM report_transactions r WHERE r.tx_id = ANY($1::text[]) "
    "AND r.outcome = 'REVIEW' "  # a PENDING payout's hold waits for its partner, not a reviewer
    "AND NOT EXISTS (SELECT 1 FROM review_verdicts v WHERE v.tx_id = r.tx_id)")


async def audit(db: asyncpg.Pool, action: str | None, after_id: int | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT audit_id, at, actor, role, action, target, client_address, request_id, detail::text "
        "FROM audit WHERE ($1::text IS NULL OR action = $1) AND audit_id < $2 "
        "ORDER BY audit_id DESC LIMIT $3", action, after_id or 2**63 - 1, limit)


async def latency(db: asyncpg.Pool, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """Decision latency percentiles per minute (report_tx_event_time; the range is kept short)."""
    return await db.fetch(LATENCY_SQL, start, end)


LATENCY_SQL = (
        "SELECT date_trunc('minute', event_time) AS bucket, count(*) AS count, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95, "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99 "
        "FROM report_transactions WHERE event_time >= $1 AND event_time < $2 "
        "AND latency_ms IS NOT NULL GROUP BY 1 ORDER BY 1")


async def top_merchants(db: asyncpg.Pool, outcome: str, start: datetime, end: datetime,
                        limit: int) -> list[asyncpg.Record]:
    """Merchants with the most decisions of `outcome` (report_tx_flagged: non-approved rows only)."""
    return await db.fetch(TOP_MERCHANTS_SQL, outcome, start, end, limit)


TOP_MERCHANTS_SQL = (
        "SELECT merchant_id, count(*) AS count, sum(amount)::bigint AS amount, "
        "min(currency)::text AS currency FROM report_transactions "
        "WHERE outcome = $1 AND event_time >= $2 AND event_time < $3 AND merchant_id IS NOT NULL "
        "GROUP BY merchant_id ORDER BY count(*) DESC, merchant_id LIMIT $4")
