"""API keys over HTTP (admins): list, create (the key is in the answer, once), revoke. Audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request

from api import audit
from api.errors import NotFound
from api.keys import Principal
from api.models import Key, KeyBody, Me, NewKey
from api.security import admin, analyst, client_address, services

router = APIRouter(tags=["keys"])
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


@router.get("/me", response_model=Me)
async def me(who: Principal = Depends(analyst)) -> dict[str, Any]:
    """Whose key this is and its role (the console asks at log-in)."""
    return {"key_id": who.key_id, "name": who.name, "role": who.role}


@router.get("/keys", response_model=list[Key])
async def list_keys(request: Request, _: Principal = Depends(admin)) -> list[dict[str, Any]]:
    return [k.model_dump() for k in await services(request).keys.list()]


@router.post("/keys", response_model=NewKey, status_code=201)
async def create_key(body: Annotated[KeyBody, Body()], request: Request,
                     who: Principal = Depends(admin)) -> dict[str, Any]:
    svc = services(request)
    async with svc.db.acquire() as connection, connection.transaction():
        row, key = await svc.keys.create(body.name, body.role, who.key_id, connection)
        await audit.record(connection, who.key_id, who.role, "key.create", row.key_id,
                           client_address(request), request.state.request_id,
                           {"name": row.name, "role": row.role})
    return {**row.model_dump(), "key": key}


@router.delete("/keys/{key_id}", response_model=Key)
async def revoke_key(key_id: KeyId, request: Request, who: Principal = Depends(admin)) -> dict[str, Any]:
    """Revoke a key; it stops working at once. Revoking twice changes nothing."""
    svc = services(request)
    async with svc.db.acquire() as connection, connection.transaction():
        row = await svc.keys.revoke(key_id, connection)
        if row is None:
            raise NotFound(f"no key {key_id!r}")
        await audit.record(connection, who.key_id, who.role, "key.revoke", key_id,
                           client_address(request), request.state.request_id, {"name": row.name})
    svc.keys.forget(key_id)  # other processes hear of it from PostgreSQL (api.keys)
    return row.model_dump()
