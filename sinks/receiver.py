"""A partner's side of the webhooks, for partners to copy and for the demo: verify, dedupe, 2xx.

Checks the signature with the partner's secret (401 if it does not match or is stale), drops a
repeat of an Idempotency-Key it has already processed (still 200, so the sender stops), and
counts what it got. Keys are kept in memory here; a real receiver keeps them in its database,
in the same transaction as the effect of the event.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from aiohttp import web

from sinks.webhooks import verify_signature

log = logging.getLogger(__name__)


def receiver_app(secret: str) -> web.Application:
    seen: set[str] = set()
    counts: Counter[str] = Counter()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(secret, request.headers.get("Paystream-Signature", ""), body):
            counts["bad_signature"] += 1
            return web.Response(status=401, text="bad or stale signature")
        key = request.headers.get("Idempotency-Key", "")
        if key in seen:
            counts["repeat"] += 1
            return web.Response(status=200, text="already processed")
        seen.add(key)
        counts[json.loads(body)["kind"]] += 1
        if sum(counts.values()) % 10_000 == 0:
            log.info("received so far: %s", dict(counts))
        return web.Response(status=200)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(dict(counts))

    app = web.Application()
    app.router.add_post("/hooks", hook)
    app.router.add_get("/stats", stats)
    return app
