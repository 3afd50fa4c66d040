"""The reporting store read back as history: what `paystream train --from-reporting` learns from.

Every decided transaction of a period (its reporting row holds every field the feature code
reads, the device since Decision v3) and every label received for them. Read in event-time
order through a server-side cursor, so a month of traffic streams in rather than arriving as
one reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from streams.ledgerchain import to_datetime
from streams.records import Channel, Transaction, TransactionType

_TRANSACTIONS = """
SELECT tx_id, type, source_account, destination_account, amount, currency,
       (extract(epoch FROM event_time) * 1000)::bigint AS event_ms, channel, merchant_id,
       merchant_category, country, device_id
FROM report_transactions WHERE event_time >= $1 AND event_time < $2
ORDER BY event_time, tx_id
"""

_LABELS = """
SELECT l.tx_id, l.is_fraud, l.source, (extract(epoch FROM l.reported_at) * 1000)::bigint AS reported_ms
FROM labels l JOIN report_transactions r USING (tx_id)
WHERE r.event_time >= $1 AND r.event_time < $2
"""

CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class StoredLabel:
    tx_id: str
    is_fraud: bool
    source: str        # CHARGEBACK, ANALYST, CUSTOMER_REPORT or REVIEW
    reported_ms: int


async def read_history(connection: asyncpg.Connection, start_ms: int, end_ms: int,
                       progress: Callable[[int], None] | None = None
                       ) -> tuple[list[Transaction], list[StoredLabel]]:
    """The transactions decided with event time in [start_ms, end_ms), oldest first, and every
    label received for them (several per transaction when several sources reported)."""
    start, end = to_datetime(start_ms), to_datetime(end_ms)
    transactions: list[Transaction] = []
    async with connection.transaction():  # a cursor lives in a transaction
        async for r in connection.cursor(_TRANSACTIONS, start, end, prefetch=CHUNK):
            transactions.append(Transaction(
                r["tx_id"], TransactionType(r["type"]), r["source_account"],
                r["destination_account"], r["amount"], r["currency"], r["event_ms"],
                Channel(r["channel"]), r["country"], r["merchant_id"], r["merchant_category"],
                r["device_id"]))
            if progress is not None and len(transactions) % CHUNK == 0:
                progress(CHUNK)
    labels = [StoredLabel(r["tx_id"], r["is_fraud"], r["source"], r["reported_ms"])
              for r in await connection.fetch(_LABELS, start, end)]
    return transactions, labels
