"""Liveness (the process answers) and readiness (PostgreSQL and Kafka answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.security import services
from streams.settings import KafkaConfig, kafka_client_config

router = APIRouter(tags=["health"])
PROBE_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A store is unreachable."}})
async def readyz(request: Request) -> Any:
    svc = services(request)
    checks = {"postgresql": await _check(svc.db.fetchval("SELECT 1")),
              "kafka": await _check(asyncio.to_thread(_kafka, kafka_client_config(svc.settings)))}
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001  (any failure means not ready; say which)
        return f"failed: {type(exc).__name__}: {exc}"[:200]
    return "ok"


def _kafka(config: KafkaConfig) -> None:
    AdminClient(config).list_topics(timeout=PROBE_TIMEOUT_S)
