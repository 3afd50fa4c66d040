"""The labels sink: fraud labels (topic fraud-labels) into the `labels` table.

One row per (tx_id, source), the latest report winning (migration 0006): a replayed batch, or
the same file sent twice by `paystream label`, changes nothing. Labels are few (a chargeback
per thousand payments or so), so one INSERT ... ON CONFLICT per batch is plenty.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from streams.ledgerchain import to_datetime

COLUMNS = ("tx_id", "source", "is_fraud", "reported_at", "note")

_UPSERT = f"""
INSERT INTO labels AS l ({', '.join(COLUMNS)})
SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[])
ON CONFLICT (tx_id, source) DO UPDATE SET
    is_fraud = EXCLUDED.is_fraud, reported_at = EXCLUDED.reported_at, note = EXCLUDED.note,
    received_at = now()
WHERE EXCLUDED.reported_at > l.reported_at
"""


class LabelsWriter:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._db = connection

    async def write(self, labels: list[dict[str, Any]]) -> int:
        """Insert or update the batch's labels; return the rows that changed."""
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for item in labels:  # a batch may hold several reports of one (tx_id, source)
            key = (item["tx_id"], item["source"])
            if key not in latest or item["reported_at"] > latest[key]["reported_at"]:
                latest[key] = item
        rows = list(latest.values())
        status = await self._db.execute(
            _UPSERT, [r["tx_id"] for r in rows], [r["source"] for r in rows],
            [r["is_fraud"] for r in rows], [to_datetime(r["reported_at"]) for r in rows],
            [r.get("note") for r in rows])
        return int(status.rsplit(" ", 1)[1])
