"""The labels sink: fraud labels (topic fraud-labels) into the `labels` table, and into the
label-risk sets the workers' features read (agents/fraud/labelrisk.py).

One row per (tx_id, source), the latest report winning (migration 0006): a replayed batch, or
the same file sent twice by `paystream label`, changes nothing. Labels are few (a chargeback
per thousand payments or so), so one INSERT ... ON CONFLICT per batch is plenty.

Then every transaction with a label not yet applied, and already in the reporting store (which
knows its payer, destination and event time) or labelled with them (a label of history from
before paystream ran: FraudLabel v2, v3 with the device), gets its label-risk entries set (also every
LABELS_SWEEP_S while no label comes, for labels that arrived before their transaction): a fraud if any
source's latest report says so, known from the earliest such report; otherwise its entries are
removed (a chargeback reversed). Redis is written inside the PostgreSQL transaction that marks
the labels applied, so a failure of either leaves them unapplied and the batch is retried.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from agents.fraud.labelrisk import LABEL_RISK_CAP, LABEL_RISK_TTL_MS, entries_of
from agents.store import label_risk_key
from sinks.runner import StoreUnavailable

#: How often an idle labels sink looks for labels whose transaction has reached the reporting
#: store since (one indexed query on the unapplied labels).
LABELS_SWEEP_S = 2.0

COLUMNS = ("tx_id", "source", "is_fraud", "reported_at", "note", "source_account",
           "destination_account", "event_time", "device_id")

_UPSERT = f"""
INSERT INTO labels AS l ({', '.join(COLUMNS)})
SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[],
                     $6::text[], $7::text[], $8::timestamptz[], $9::text[])
ON CONFLICT (tx_id, source) DO UPDATE SET
    is_fraud = EXCLUDED.is_fraud, reported_at = EXCLUDED.reported_at, note = EXCLUDED.note,
    source_account = coalesce(EXCLUDED.source_account, l.source_account),
    destination_account = coalesce(EXCLUDED.destination_account, l.destination_account),
    event_time = coalesce(EXCLUDED.event_time, l.event_time),
    device_id = coalesce(EXCLUDED.device_id, l.device_id),
    received_at = now(), applied = false
WHERE EXCLUDED.reported_at > l.reported_at
"""

# The transaction's payer, destination, time and device: the reporting store's row when the
# workers decided it, else what a label brought (the history's).
_TO_APPLY = """
SELECT l.tx_id, bool_or(l.is_fraud) AS fraud,
       (extract(epoch FROM min(l.reported_at) FILTER (WHERE l.is_fraud)) * 1000)::bigint AS reported_ms,
       coalesce(r.source_account, max(l.source_account)) AS source_account,
       coalesce(r.destination_account, max(l.destination_account)) AS destination_account,
       (extract(epoch FROM coalesce(r.event_time, max(l.event_time))) * 1000)::bigint AS event_ms,
       coalesce(r.device_id, max(l.device_id)) AS device_id
FROM labels l LEFT JOIN report_transactions r USING (tx_id)
WHERE l.tx_id IN (
    -- only what can be applied, so labels still waiting for their transaction (or for ever:
    -- one paystream never decided, sent without it) never fill the batch's window
    SELECT u.tx_id FROM labels u
    WHERE NOT u.applied AND (u.source_account IS NOT NULL
                             OR EXISTS (SELECT 1 FROM report_transactions k WHERE k.tx_id = u.tx_id))
    LIMIT 10000)
GROUP BY l.tx_id, r.source_account, r.destination_account, r.event_time, r.device_id
"""


class LabelsWriter:
    def __init__(self, connection: asyncpg.Connection, redis: Redis, namespace: str) -> None:
        self._db = connection
        self._redis = redis
        self._namespace = namespace

    async def write(self, labels: list[dict[str, Any]]) -> int:
        """Insert or update the batch's labels, apply what can be; return the rows that changed."""
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for item in labels:  # a batch may hold several reports of one (tx_id, source)
            key = (item["tx_id"], item["source"])
            if key not in latest or item["reported_at"] > latest[key]["reported_at"]:
                latest[key] = item
        rows = list(latest.values())
        async with self._db.transaction():
            status = "INSERT 0 0"  # an empty batch is the runner's sweep: only apply what can be
            if rows:
                status = await self._db.execute(
                    _UPSERT, [r["tx_id"] for r in rows], [r["source"] for r in rows],
                    [r["is_fraud"] for r in rows], [r["reported_at"] for r in rows],
                    [r.get("note") for r in rows], [r.get("source_account") for r in rows],
                    [r.get("destination_account") for r in rows],
                    [r.get("event_time") for r in rows], [r.get("device_id") for r in rows])
            applied = await self._apply(await self._db.fetch(_TO_APPLY))
            if applied:
                await self._db.execute("UPDATE labels SET applied = true WHERE tx_id = ANY($1)",
                                       applied)
        return int(status.rsplit(" ", 1)[1])

    async def _apply(self, found: list[Any]) -> list[str]:
        """Set each transaction's entries in its payer's, destination's and device's sets."""
        if not found:
            return []
        writes = {}  # (key, tx_id) -> (score, member) or None to remove
        for row in found:
            for account, entry in entries_of(row["tx_id"], row["source_account"],
                                             row["destination_account"], row["event_ms"],
                                             row["reported_ms"] or 0, row["device_id"]):
                key = label_risk_key(self._namespace, account)
                writes[(key, row["tx_id"], entry.role)] = ((entry.event_ms, entry.member)
                                                           if row["fraud"] else None)
        keys = sorted({key for key, _, _ in writes})
        try:
            reading = self._redis.pipeline(transaction=False)
            for key in keys:
                reading.zrange(key, 0, -1)
            held = dict(zip(keys, await reading.execute(), strict=True))
            pipe = self._redis.pipeline(transaction=False)
            for (key, tx_id, role), write in writes.items():
                stale = [m for m in held[key] if m.decode().startswith(f"{role}|{tx_id}|")]
                if stale:
                    pipe.zrem(key, *stale)
                if write is not None:
                    pipe.zadd(key, {write[1]: write[0]})
            for key in keys:
                pipe.zremrangebyrank(key, 0, -LABEL_RISK_CAP - 1)
                pipe.pexpire(key, LABEL_RISK_TTL_MS)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"label-risk sets in Redis: {exc}") from exc
        return [row["tx_id"] for row in found]
