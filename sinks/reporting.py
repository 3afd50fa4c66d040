"""The reporting sink: a row per decided transaction, and per-minute, -hour and -day rollups.

Rollups count only the rows this batch really inserted, so a replayed decision never counts
twice. A batch is nearly always all new: its rows are COPYed straight into the table
(sinks.db.copy_new_rows), its sums per minute are made in memory, and one statement upserts them
into the three rollup tables. A batch that repeats a row goes through a staging table, and the
INSERT's RETURNING feeds the same rollup upserts in its statement. Buckets are by event time in
UTC, keyed by currency x decision x country x merchant category ('' when there is none). Which
queries the indexes serve is written next to them in migration 0002.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg

from sinks.db import copy_into_stage, copy_new_rows

MINUTE_MS = 60_000

COLUMNS = ("tx_id", "type", "source_account", "destination_account", "amount", "currency",
           "event_time", "channel", "merchant_id", "merchant_category", "country", "outcome",
           "score", "reasons", "model_version", "shadow_score", "shadow_model_version",
           "decided_at", "produced_at", "latency_ms", "device_id")


#: Both paths add a batch's sums to a rollup row the same way.
_ADD_TO_ROLLUP = """
        ON CONFLICT (bucket, currency, outcome, country, merchant_category) DO UPDATE SET
            tx_count = r.tx_count + EXCLUDED.tx_count,
            amount_sum = r.amount_sum + EXCLUDED.amount_sum,
            score_sum = r.score_sum + EXCLUDED.score_sum,
            latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum"""


def _rollups() -> str:
    """The three rollups' upserts as CTEs, each grouping `m` (bucket, currency, outcome,
    country, mcc, n, amount, score, latency) by its own unit: the same SQL for a batch's rows
    (the staged path) and for its sums per minute (the usual one)."""
    return ",".join(f"""
    {table}_up AS (
        INSERT INTO {table} AS r
        SELECT date_trunc('{unit}', bucket), currency, outcome, country, mcc, sum(n),
               sum(amount), sum(score), sum(latency)
        FROM m GROUP BY 1, 2, 3, 4, 5{_ADD_TO_ROLLUP}
    )""" for table, unit in (("report_rollup_minute", "minute"), ("report_rollup_hour", "hour"),
                              ("report_rollup_day", "day")))


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

#: The usual path: the batch's sums per minute come in as one array of the minute rollup's own
#: row type (`minute_sums` makes its rows) and the three rollups group them in one statement.
#: Three upserts of their own took a round trip each and asyncpg encoded ~1,300 groups' nine
#: columns for each (~10 ms of the sink's CPU per 5,000-decision batch for the minute arrays
#: alone, measured 2026-12-02). Nine arrays of one column each cost asyncpg an abstract-base-class
#: check per value (is it a nested array?); one array of rows checks each row once: 2.8 -> 1.6 µs
#: of the sink's CPU per decision and 1.0 -> 0.65 of PostgreSQL's for 4,900 groups (2026-12-02).
_UPSERT_ROLLUPS = f"""
WITH m (bucket, currency, outcome, country, mcc, n, amount, score, latency) AS (
    SELECT * FROM unnest($1::report_rollup_minute[])
),{_rollups()}
SELECT count(*) FROM m
"""


def minute_sums(decisions: list[dict[str, Any]]) -> list[tuple]:
    """The batch's sums per minute x currency x outcome x country x merchant category, as rows
    of the minute rollup (what the staged path's GROUP BY computes in SQL); times in epoch ms."""
    sums: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0, 0])
    for d in decisions:
        produced = d.get("produced_at")
        total = sums[(d["event_time"] - d["event_time"] % MINUTE_MS, d["currency"], d["outcome"],
                      d["country"], d["merchant_category"] or "")]
        total[0] += 1
        total[1] += d["amount"]
        total[2] += d["score"]
        total[3] += d["decided_at"] - produced if produced is not None else 0
    return [(*group, *totals) for group, totals in sums.items()]


def row(decision: dict[str, Any]) -> tuple:
    produced = decision.get("produced_at")
    latency = decision["decided_at"] - produced if produced is not None else None
    return (decision["tx_id"], decision["type"], decision["source_account"],
            decision["destination_account"], decision["amount"], decision["currency"],
            decision["event_time"], decision["channel"], decision["merchant_id"],
            decision["merchant_category"], decision["country"], decision["outcome"],
            decision["score"], decision["reasons"], decision["model_version"],
            decision.get("shadow_score"), decision.get("shadow_model_version"),
            decision["decided_at"], produced, latency,
            decision.get("device_id"))


class ReportingWriter:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._db = connection

    async def write(self, decisions: list[dict[str, Any]]) -> int:
        """Insert the batch's new decisions and add exactly those to the rollups."""
        # A re-sent decision may repeat in a batch.
        unique = list({d["tx_id"]: d for d in decisions}.values())
        rows = [row(d) for d in unique]
        async with self._db.transaction():
            if await copy_new_rows(self._db, "report_transactions", COLUMNS, rows):
                await self._db.execute(_UPSERT_ROLLUPS, minute_sums(unique))
                return len(rows)
            await copy_into_stage(self._db, "report_stage", "report_transactions", COLUMNS, rows)
            return int(await self._db.fetchval(_INSERT))
