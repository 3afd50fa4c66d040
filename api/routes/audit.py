"""The audit trail over HTTP (admins), newest first."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api import cursor, reads
from api.keys import Principal
from api.models import AuditPage, AuditQuery
from api.security import admin, services

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditPage)
async def audit_trail(query: Annotated[AuditQuery, Query()], request: Request,
                      _: Principal = Depends(admin)) -> dict[str, Any]:
    after = cursor.decode(query.cursor, (int,))
    rows = await reads.audit(services(request).db, query.action, after[0] if after else None,
                             query.limit + 1)
    more = len(rows) > query.limit
    items = [{**dict(r), "detail": json.loads(r["detail"])} for r in rows[:query.limit]]
    return {"items": items, "next_cursor": cursor.encode(items[-1]["audit_id"]) if more else None}
