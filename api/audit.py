"""The audit trail: who did what, when, from where, in an append-only table (migration 0003).

Written in the same database transaction as the change it records, when there is one, so a
change without its audit row cannot exist. Actions: review.approve, review.decline,
export.transactions, key.create, key.revoke.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

_INSERT = ("INSERT INTO audit (actor, role, action, target, client_address, request_id, detail) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)")


async def record(db: asyncpg.Connection | asyncpg.Pool, actor: str, role: str, action: str,
                 target: str, client_address: str | None, request_id: str,
                 detail: dict[str, Any] | None = None) -> None:
    await db.execute(_INSERT, actor, role, action, target, client_address, request_id,
                     json.dumps(detail or {}, default=str))
