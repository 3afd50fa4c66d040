"""The reporting sink: a row per decided transaction, and per-minute, -hour and -day rollups.

Rollups count only the rows this batch really inserted, so a replayed decision never counts
twice. A batch is nearly always all new: its rows are COPYed straight into the table
(sinks.db.copy_new_rows), and its sums per minute, hour and day are made in compiled code and
COPYed into the three rollup tables. A batch that repeats a row goes through a staging table, and
the INSERT's RETURNING feeds rollup inserts that group the rows inserted in its statement.
Buckets are by event time in UTC, keyed by currency x decision x country x merchant category (''
when there is none). Which queries the indexes serve is written next to them in migration 0002.

The rollup tables hold partial sums (migration 0011): a batch appends a row per group and table
instead of upserting it, and every few seconds the writer compacts the buckets whose partial rows
collapse (at least two per key), each table in one statement that deletes those rows and adds
their sums into each key's one compacted row. Readers sum per key, so they see the same totals
before and after. An upsert per group and table cost PostgreSQL more than the decision's own
row with its six indexes (docs/benchmarks.md, 2026-12-03); an append costs a row and a bucket
index entry.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import asyncpg
from paystream_avro import DecisionRows

from sinks.db import copy_data, copy_into_stage, copy_new_rows

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: How often the writer looks for buckets worth compacting.
COMPACT_EVERY_S = 10.0
#: A minute bucket is compacted once its partial rows are at least this many times its distinct
#: keys: with event times near the wall clock the open minute gets the same keys from every
#: batch and they collapse many to one; a replay of old traffic spreads a batch over many
#: minutes whose keys rarely meet again, and compacting those would only rewrite them. An hour
#: or a day holds the same keys minute after minute: compacted once two batches appended to it.
COLLAPSE_MIN = 2
#: Buckets tracked per table; past this the oldest are forgotten (their partial rows stay, read
#: correctly, just not merged).
PENDING_BUCKETS_MAX = 2_000
#: Each rollup table and the bucket width it sums by.
ROLLUPS = (("report_rollup_minute", "minute", MINUTE_MS), ("report_rollup_hour", "hour", HOUR_MS),
           ("report_rollup_day", "day", DAY_MS))

COLUMNS = ("tx_id", "type", "source_account", "destination_account", "amount", "currency",
           "event_time", "channel", "merchant_id", "merchant_category", "country", "outcome",
           "score", "reasons", "model_version", "shadow_score", "shadow_model_version",
           "decided_at", "produced_at", "latency_ms", "device_id")


def _rollups() -> str:
    """The three rollups' appends as CTEs, each grouping `m` (bucket, currency, outcome,
    country, mcc, n, amount, score, latency), the rows the staged path inserted, by its own
    unit."""
    return ",".join(f"""
    {table}_add AS (
        INSERT INTO {table} ({_KEY}, {_SUMS})
        SELECT date_trunc('{unit}', bucket), currency, outcome, country, mcc, sum(n),
               sum(amount), sum(score), sum(latency)
        FROM m GROUP BY 1, 2, 3, 4, 5
    )""" for table, unit, _ in ROLLUPS)


_KEY = "bucket, currency, outcome, country, merchant_category"
_SUMS = "tx_count, amount_sum, score_sum, latency_ms_sum"
#: A rollup's partial rows in the given buckets, deleted and added per key into the key's one
#: compacted row, atomically: one upsert per key and interval rather than per key and batch.
_COMPACT = f"""
WITH gone AS (
    DELETE FROM {{table}} WHERE bucket = ANY($1::timestamptz[]) AND NOT compacted
    RETURNING {_KEY}, {_SUMS}
)
INSERT INTO {{table}} AS r ({_KEY}, {_SUMS}, compacted)
SELECT {_KEY}, sum(tx_count), sum(amount_sum), sum(score_sum), sum(latency_ms_sum), true
FROM gone GROUP BY {_KEY}
ON CONFLICT ({_KEY}) WHERE compacted DO UPDATE SET
    tx_count = r.tx_count + EXCLUDED.tx_count,
    amount_sum = r.amount_sum + EXCLUDED.amount_sum,
    score_sum = r.score_sum + EXCLUDED.score_sum,
    latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum"""


_INSERT = f"""
WITH m AS (
    INSERT INTO report_transactions ({', '.join(COLUMNS)})
    SELECT {', '.join(COLUMNS)} FROM report_stage
    ON CONFLICT (tx_id) DO NOTHING
    RETURNING event_time AS bucket, currency, outcome, country,
              coalesce(merchant_category, '') AS mcc, 1 AS n, amount, score,
              coalesce(latency_ms, 0) AS latency
),{_rollups()}
SELECT count(*) FROM m
"""

#: The usual path's rollup columns: the batch's sums per bucket come as binary COPY data made in
#: compiled code (DecisionRows.rollup_copies), one COPY per rollup table. One statement that
#: unnested the minute sums and grouped them by minute, hour and day cost PostgreSQL ~3 µs a
#: decision more (a sink_bench pair: 15.2 -> 12.1 µs per decision in all; docs/benchmarks.md,
#: 2026-12-07 evening); before that, nine arrays or three statements cost the sink more again
#: (2026-12-02).
_ROLLUP_COLUMNS = (*_KEY.split(", "), *_SUMS.split(", "))
_WIDTHS_MS = [width for _, _, width in ROLLUPS]


@dataclass(slots=True)
class _Pending:
    """A bucket's appends since it was last compacted: partial rows, batches, and for a minute
    its distinct keys (kept per minute only: a key set per hour and day cost the sink ~5 µs per
    decision in a replay, where nearly every group of a batch is a key of its own)."""

    rows: int = 0
    batches: int = 0
    keys: set[tuple] = field(default_factory=set)

    def collapses(self) -> bool:
        # Only a minute's entry has keys (and one key at least per row it counts).
        return (self.rows >= COLLAPSE_MIN * len(self.keys) if self.keys
                else self.batches >= COLLAPSE_MIN)


class ReportingWriter:
    def __init__(self, connection: asyncpg.Connection,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db = connection
        self._clock = clock
        self._compacted_at = clock()
        #: Per rollup table, the buckets (epoch ms) appended to since they were last compacted:
        #: the partial rows appended and their distinct keys.
        self._pending: dict[str, defaultdict[int, _Pending]] = {
            table: defaultdict(_Pending) for table, _, _ in ROLLUPS}

    async def write(self, decisions: DecisionRows | list[dict[str, Any]]) -> int:
        """Insert the batch's new decisions and add exactly those to the rollups; compact the
        rollups every COMPACT_EVERY_S (an empty batch, the runner's idle sweep, too)."""
        batch = (decisions if isinstance(decisions, DecisionRows)
                 else DecisionRows.from_records(decisions))
        inserted = await self._insert(batch) if len(batch) else 0
        if self._clock() - self._compacted_at >= COMPACT_EVERY_S:
            await self.compact()
        return inserted

    async def _insert(self, batch: DecisionRows) -> int:
        # The batch holds each tx_id once (a re-sent decision may repeat in a batch); its rows
        # and its sums per minute come from compiled code (sinks/rows.py).
        data = batch.copy()
        async with self._db.transaction():
            if await copy_new_rows(self._db, "report_transactions", COLUMNS, data):
                copies = batch.rollup_copies(_WIDTHS_MS)
                for (table, _, _), rows in zip(ROLLUPS, copies, strict=True):
                    await copy_data(self._db, table, _ROLLUP_COLUMNS, rows)
                self._appended(batch.minute_sums())
                return len(batch)
            await copy_into_stage(self._db, "report_stage", "report_transactions", COLUMNS, data)
            inserted = int(await self._db.fetchval(_INSERT))
        if inserted:  # the groups of the rows offered: those inserted are among them
            self._appended(batch.minute_sums())
        return inserted

    def _appended(self, sums: list[tuple]) -> None:
        """Count a batch's appends by bucket: its minute sums are the minute table's partial
        rows; the hour and day tables are counted by batch."""
        minutes = self._pending[ROLLUPS[0][0]]
        for group in sums:
            entry = minutes[group[0]]
            entry.rows += 1
            entry.keys.add(group[:5])
        touched = {group[0] for group in sums}
        for table, _, width in ROLLUPS[1:]:
            pending = self._pending[table]
            for bucket in {m - m % width for m in touched}:
                pending[bucket].batches += 1
        for pending in self._pending.values():
            excess = len(pending) - PENDING_BUCKETS_MAX
            if excess > 0:
                # The oldest (insertion order), found in one pass: one `next(iter(pending))` per
                # deletion rescans the holes the earlier deletions left at the dict's front, a
                # quadratic cost that was ~6% of the sink's CPU in a replay (py-spy, 2026-12-03).
                for bucket in list(islice(pending, excess)):
                    del pending[bucket]

    async def compact(self) -> int:
        """Merge the partial rows of the buckets where they collapse (COLLAPSE_MIN) into one row
        per key; return the buckets merged. One statement per table: a crash, or another writer
        compacting the same buckets, leaves partial rows, never a sum counted twice or lost."""
        self._compacted_at = self._clock()
        merged = 0
        for table, pending in self._pending.items():
            buckets = [b for b, entry in pending.items() if entry.collapses()]
            if not buckets:
                continue
            await self._db.execute(_COMPACT.format(table=table), buckets)
            for bucket in buckets:
                del pending[bucket]
            merged += len(buckets)
        return merged
