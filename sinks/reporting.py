"""The reporting sink: a row per decided transaction, and per-minute and per-hour rollups.

Rollups count only the rows this batch really inserted (the INSERT's RETURNING feeds them, in
the same statement), so a replayed decision never counts twice. Buckets are by event time in
UTC, keyed by currency x decision x country x merchant category ('' when there is none).
Which queries the indexes serve is written next to them in migration 0002.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from sinks.ledger import to_datetime

COLUMNS = ("tx_id", "type", "source_account", "destination_account", "amount", "currency",
           "event_time", "channel", "merchant_id", "merchant_category", "country", "outcome",
           "score", "reasons", "model_version", "shadow_score", "shadow_model_version",
           "decided_at", "produced_at", "latency_ms")


def _rollup(table: str, unit: str) -> str:
    return f"""
    {table}_up AS (
        INSERT INTO {table} AS r
        SELECT date_trunc('{unit}', event_time), currency, outcome, country, mcc,
               count(*), sum(amount), sum(score), sum(latency)
        FROM inserted GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (bucket, currency, outcome, country, merchant_category) DO UPDATE SET
            tx_count = r.tx_count + EXCLUDED.tx_count,
            amount_sum = r.amount_sum + EXCLUDED.amount_sum,
            score_sum = r.score_sum + EXCLUDED.score_sum,
            latency_ms_sum = r.latency_ms_sum + EXCLUDED.latency_ms_sum
    )"""


_INSERT = f"""
WITH inserted AS (
    INSERT INTO report_transactions ({', '.join(COLUMNS)})
    SELECT {', '.join(COLUMNS)} FROM report_stage
    ON CONFLICT (tx_id) DO NOTHING
    RETURNING event_time, currency, outcome, country, coalesce(merchant_category, '') AS mcc,
              amount, score, coalesce(latency_ms, 0) AS latency
),{_rollup("report_rollup_minute", "minute")},{_rollup("report_rollup_hour", "hour")}
SELECT count(*) FROM inserted
"""


def row(decision: dict[str, Any]) -> tuple:
    produced = decision.get("produced_at")
    latency = decision["decided_at"] - produced if produced is not None else None
    return (decision["tx_id"], decision["type"], decision["source_account"],
            decision["destination_account"], decision["amount"], decision["currency"],
            to_datetime(decision["event_time"]), decision["channel"], decision["merchant_id"],
            decision["merchant_category"], decision["country"], decision["outcome"],
            decision["score"], decision["reasons"], decision["model_version"],
            decision.get("shadow_score"), decision.get("shadow_model_version"),
            to_datetime(decision["decided_at"]),
            to_datetime(produced) if produced is not None else None, latency)


class ReportingWriter:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._db = connection
        self._staged = False

    async def write(self, decisions: list[dict[str, Any]]) -> int:
        """Insert the batch's new decisions and add exactly those to the rollups."""
        unique = {d["tx_id"]: d for d in decisions}  # a re-sent decision may repeat in a batch
        async with self._db.transaction():
            if not self._staged:
                await self._db.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS report_stage "
                    "(LIKE report_transactions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
                self._staged = True
            await self._db.copy_records_to_table(
                "report_stage", records=[row(d) for d in unique.values()], columns=COLUMNS)
            return int(await self._db.fetchval(_INSERT))
