"""Transactions: one with everything known about it, a search, and the search as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from api import audit, cursor, reads
from api.errors import NotFound
from api.keys import Principal
from api.models import (
    Ident,
    SearchFilters,
    SearchQuery,
    TransactionDetail,
    TransactionPage,
)
from api.routes.common import check_range
from api.security import analyst, client_address, services
from api.services import Services
from streams.accounts import TX_STATUS, read_tx_records
from streams.ledgerchain import to_ms
from streams.notifications import keys as notification_keys
from streams.notifications import notifications_of

router = APIRouter(tags=["transactions"])
#: Rows an export fetches per round trip.
EXPORT_CHUNK_ROWS = 2000


@router.get("/transactions/{tx_id}", response_model=TransactionDetail)
async def get_transaction(tx_id: Annotated[Ident, Path()], request: Request,
                          _: Principal = Depends(analyst)) -> dict[str, Any]:
    """The transaction, its decision, its postings, its notifications' delivery state and the
    fraud labels received for it."""
    svc = services(request)
    row, postings = await reads.transaction(svc.db, tx_id)
    if row is None:
        raise NotFound(f"no decided transaction {tx_id!r} in the reporting store")
    tx = dict(row)
    review = None
    if tx["outcome"] == "REVIEW":
        status = (await read_tx_records(svc.state, svc.settings.topic_prefix, [tx_id],
                                         partitions=svc.settings.partitions)).get(tx_id, {})
        verdict = await svc.db.fetchrow(
            "SELECT action, note, reviewer, decided_at FROM review_verdicts WHERE tx_id = $1", tx_id)
        review = {"status": status.get(TX_STATUS), "verdict": dict(verdict) if verdict else None}
    labels = await svc.db.fetch("SELECT source, is_fraud, reported_at, note FROM labels "
                                "WHERE tx_id = $1 ORDER BY reported_at, source", tx_id)
    return {"transaction": tx, "postings": [dict(p) for p in postings],
            "notifications": await _deliveries(svc, tx, postings), "review": review,
            "labels": [dict(label) for label in labels]}


async def _deliveries(svc: Services, tx: dict[str, Any], postings: list[Any]) -> list[dict[str, Any]]:
    """Each notification the transaction gave rise to, per partner that records deliveries."""
    events = notifications_of("decisions", {**tx, "decided_at": to_ms(tx["decided_at"])})
    for p in postings:
        events += notifications_of("postings", {**dict(p), "posted_at": to_ms(p["posted_at"])})
    if not events:
        return []
    prefix = notification_keys(svc.settings.topic_prefix)["outcomes"]
    partners = [key.decode()[len(prefix):] async for key in svc.notify.scan_iter(match=f"{prefix}*")]
    ids = [e["notification_id"] for e in events]
    deliveries = []
    for partner in sorted(partners):
        # redis-py types its asyncio hash commands as sync-or-async.
        recorded = await svc.notify.hmget(prefix + partner, ids)  # type: ignore[misc]
        for event, raw in zip(events, recorded, strict=True):
            recorded = _json(raw) if raw else {"outcome": "pending"}
            deliveries.append({"notification_id": event["notification_id"], "kind": event["kind"],
                               "account": event["account"], "partner_id": partner,
                               "outcome": recorded.get("outcome", "unknown"),
                               "attempts": recorded.get("attempts"),
                               "detail": recorded.get("detail")})
    return deliveries


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"outcome": "unknown"}
    return value if isinstance(value, dict) else {"outcome": "unknown"}


@router.get("/transactions", response_model=TransactionPage)
async def search(query: Annotated[SearchQuery, Query()], request: Request,
                 _: Principal = Depends(analyst)) -> dict[str, Any]:
    """Transactions by event-time range (required) and filters, newest first, a page at a time."""
    svc = services(request)
    check_range(query, svc.settings.api_max_range_days)
    after = cursor.decode(query.cursor, (datetime, str))
    sql, args = reads.search_sql(query, after, query.limit + 1)
    rows = await svc.db.fetch(sql, *args)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return {"items": [dict(r) for r in rows],
            "next_cursor": cursor.encode(rows[-1]["event_time"], rows[-1]["tx_id"]) if more else None}


@router.get("/exports/transactions.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "The rows, as CSV."}})
async def export_csv(query: Annotated[SearchFilters, Query()], request: Request,
                     who: Principal = Depends(analyst)) -> StreamingResponse:
    """The search, every matching row, streamed as CSV (never built in memory). Audited."""
    svc = services(request)
    check_range(query, svc.settings.api_max_range_days)
    await audit.record(svc.db, who.key_id, who.role, "export.transactions",
                       "report_transactions", client_address(request), request.state.request_id,
                       query.model_dump(mode="json", by_alias=True, exclude_none=True))
    sql, args = reads.search_sql(query, None, None)
    return StreamingResponse(_csv_rows(svc, sql, args), media_type="text/csv",
                             headers={"Content-Disposition": 'attachment; filename="transactions.csv"'})


async def _csv_rows(svc: Services, sql: str, args: list[Any]) -> AsyncIterator[str]:
    columns = [c.strip() for c in reads.TX_COLUMNS.split(",")]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    async with svc.db.acquire() as connection, connection.transaction(readonly=True):
        async for batch in _chunks(connection.cursor(sql, *args, prefetch=EXPORT_CHUNK_ROWS)):
            for row in batch:
                writer.writerow(["|".join(v) if isinstance(v, list) else v for v in row.values()])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _chunks(rows: Any) -> AsyncIterator[list[Any]]:
    batch = []
    async for row in rows:
        batch.append(row)
        if len(batch) >= EXPORT_CHUNK_ROWS:
            yield batch
            batch = []
    yield batch
