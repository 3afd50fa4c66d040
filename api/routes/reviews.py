"""The review queue and its verdicts.

A verdict is published to the reviews topic (streams.reviews), then recorded with its audit row
in one database transaction. Idempotent: the same verdict again is answered from the record
(and published again while the hold is still there, which changes nothing); a contradicting
verdict, or one on a transaction that is not held, is a 409.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from api import audit, cursor, reads
from api.errors import Conflict, Unavailable
from api.keys import Principal
from api.models import Ident, Page, ReviewPage, VerdictBody, VerdictResult
from api.security import analyst, client_address, reviewer, services
from api.services import Services
from streams.accounts import (
    HELD,
    REVIEW_APPROVED,
    REVIEW_DECLINED,
    TX_ACCOUNT,
    TX_STATUS,
    read_holds_page,
    read_tx_records,
)
from streams.errors import KafkaError
from streams.partitioning import partition_for
from streams.reviews import verdict

router = APIRouter(tags=["reviews"])
#: Index pages read at most to fill one page (holds decided a moment ago are skipped).
LOOKS_MAX = 5
_ENDED_BY = {"APPROVE": REVIEW_APPROVED, "DECLINE": REVIEW_DECLINED}


@router.get("/reviews", response_model=ReviewPage)
async def queue(page: Annotated[Page, Query()], request: Request,
                _: Principal = Depends(analyst)) -> dict[str, Any]:
    """Transactions held for review, oldest first, with their reasons.

    Read from the workers' hold index (every open hold, by expiry, so by decision time), then
    the decisions of the page from the reporting store; a hold decided a moment ago, or one
    with a verdict published and not yet applied, is left out."""
    svc = services(request)
    namespace, partitions = svc.settings.topic_prefix, svc.settings.partitions
    last = cursor.decode(page.cursor, (int, str))
    items: list[tuple[tuple[int, str], dict[str, Any]]] = []
    for _look in range(LOOKS_MAX):
        holds = await read_holds_page(svc.state, namespace, partitions, last, page.limit + 1)
        if not holds:
            break
        # a held transaction's record lies under its source account's partition
        status = await read_tx_records(svc.state, namespace, [tx_id for _, _, tx_id in holds],
                                       partitions=partitions,
                                       hints={t: partition_for(a, partitions) for _, a, t in holds})
        held = [h for h in holds if status.get(h[2], {}).get(TX_STATUS) == HELD]
        details = await reads.held_transactions(svc.db, [tx_id for _, _, tx_id in held])
        for expires_ms, account, tx_id in held:
            if tx_id in details:
                items.append(((expires_ms, f"{account}|{tx_id}"), details[tx_id]))
        expires_ms, account, tx_id = holds[-1]
        last = (expires_ms, f"{account}|{tx_id}")
        if len(items) > page.limit or len(holds) <= page.limit:
            break
    more = len(items) > page.limit
    items = items[:page.limit]
    next_key = items[-1][0] if more else None
    return {"items": [item for _, item in items],
            "next_cursor": cursor.encode(*next_key) if next_key else None}


@router.post("/reviews/{tx_id}/approve", response_model=VerdictResult)
async def approve(tx_id: Annotated[Ident, Path()], body: Annotated[VerdictBody, Body()],
                  request: Request, who: Principal = Depends(reviewer)) -> dict[str, Any]:
    """Approve a held transaction: the worker that owns its payer posts it."""
    return await _decide(request, who, tx_id, "APPROVE", body.note)


@router.post("/reviews/{tx_id}/decline", response_model=VerdictResult)
async def decline(tx_id: Annotated[Ident, Path()], body: Annotated[VerdictBody, Body()],
                  request: Request, who: Principal = Depends(reviewer)) -> dict[str, Any]:
    """Decline a held transaction: the hold is released, no money moves."""
    return await _decide(request, who, tx_id, "DECLINE", body.note)


async def _decide(request: Request, who: Principal, tx_id: str, action: str, note: str) -> dict[str, Any]:
    svc = services(request)
    recorded = await _recorded(svc, tx_id)
    if recorded is not None and (recorded["action"], recorded["note"]) != (action, note):
        raise Conflict(f"transaction {tx_id} already has a verdict: {recorded['action']} "
                       f"by {recorded['reviewer']}")
    record = (await read_tx_records(svc.state, svc.settings.topic_prefix, [tx_id],
                                     partitions=svc.settings.partitions)).get(tx_id, {})
    status = record.get(TX_STATUS)
    if recorded is not None:
        if status == HELD:  # recorded, maybe not yet applied: make sure the worker hears it
            await _publish(svc, tx_id, record[TX_ACCOUNT], action, who, recorded["decided_at"])
        return recorded
    if status != HELD and status != _ENDED_BY[action]:
        raise Conflict(f"transaction {tx_id} is not held for review (status: {status or 'unknown'})")
    if await svc.db.fetchval("SELECT type FROM report_transactions WHERE tx_id = $1", tx_id) == "PAYOUT":
        raise Conflict(f"transaction {tx_id} is a payout: its receive partner decides it, not a reviewer")
    decided_at = datetime.now(UTC)
    account = record.get(TX_ACCOUNT) or await svc.db.fetchval(
        "SELECT source_account FROM report_transactions WHERE tx_id = $1", tx_id)
    if account is None:
        raise Conflict(f"transaction {tx_id} is not held for review (no record of it)")
    if status == HELD:
        await _publish(svc, tx_id, account, action, who, decided_at)
    async with svc.db.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            "INSERT INTO review_verdicts (tx_id, action, note, reviewer, account, decided_at, request_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tx_id) DO NOTHING "
            "RETURNING tx_id, action, note, reviewer, account, decided_at",
            tx_id, action, note, who.key_id, account, decided_at, request.state.request_id)
        if row is not None:
            await audit.record(connection, who.key_id, who.role, f"review.{action.lower()}", tx_id,
                               client_address(request), request.state.request_id,
                               {"note": note, "account": account,
                                "published": status == HELD})
    if row is None:  # a concurrent request recorded first: answer as a repeat would
        return await _decide(request, who, tx_id, action, note)
    return dict(row)


async def _recorded(svc: Services, tx_id: str) -> dict[str, Any] | None:
    row = await svc.db.fetchrow("SELECT tx_id, action, note, reviewer, account, decided_at "
                                "FROM review_verdicts WHERE tx_id = $1", tx_id)
    return dict(row) if row else None


async def _publish(svc: Services, tx_id: str, account: str, action: str, who: Principal,
                   decided_at: datetime) -> None:
    record = verdict(tx_id, account, action, f"api:{who.key_id}", int(decided_at.timestamp() * 1000))
    try:
        await asyncio.to_thread(svc.publisher.publish, record)
    except KafkaError as exc:
        raise Unavailable(f"the verdict could not be published: {exc}") from exc
