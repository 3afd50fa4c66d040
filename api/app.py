"""The API as an ASGI app: `create_app(settings)`; `paystream api` serves it with uvicorn.

Everything under /v1 needs a key (api.security). /healthz, /readyz, /openapi.json, /docs and
the console's files (/) do not: the console asks for a key and keeps it in the browser's
session storage only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import errors
from api.middleware import RequestGuard
from api.routes import accounts, audit, health, keys, partners, reports, reviews, transactions
from api.services import Services
from streams.settings import Settings

log = logging.getLogger("paystream.api")
CONSOLE = resources.files("api").joinpath("console")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = await Services.start(settings)
        log.info("API ready: PostgreSQL schema %s, topic prefix %r", settings.db_schema,
                 settings.topic_prefix)
        try:
            yield
        finally:
            await app.state.services.close()

    app = FastAPI(title="paystream API", version="1",
                  description="Transactions, accounts, reports and the review queue of paystream. "
                              "Send `Authorization: Bearer <key>` (`paystream api keys create`).",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    errors.install(app)
    v1 = APIRouter(prefix="/v1")
    for module in (transactions, accounts, reports, reviews, keys, audit, partners):
        v1.include_router(module.router)
    app.include_router(v1)
    app.include_router(health.router)
    _static(app)
    if settings.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api_cors_origins.split(","),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(RequestGuard, max_body_bytes=settings.api_max_body_bytes)
    return app


def _static(app: FastAPI) -> None:
    """The console and the interactive docs, from files in the package (nothing from a CDN)."""
    app.mount("/static", StaticFiles(directory=str(CONSOLE)), name="console")
    app.mount("/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.get("/", include_in_schema=False)
    async def console() -> Any:
        return FileResponse(str(CONSOLE.joinpath("index.html")))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_DOCS)


_DOCS = """<!doctype html><html><head><meta charset="utf-8"><title>paystream API</title>
<link rel="stylesheet" href="/swagger/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/swagger/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script>
</body></html>"""
