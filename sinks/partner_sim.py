"""A receive partner, simulated (`paystream partner-sim`): takes payout instructions, answers late,
twice, out of order, or never (docs/send-money.md).

POST /payouts takes a PAYOUT_INSTRUCTION as `paystream notify` delivers it (signature checked
with the partner's secret: 401 otherwise; a repeated Idempotency-Key is acknowledged and not paid
twice). The payout is then "made": after `latency_s` (uniform 0.5x-1.5x), the simulator calls
back `POST {api}/v1/partners/{partner}/callbacks`, signed, with SUCCESS or, for `fail_share` of
them, FAILURE. Of the answers, `duplicate_share` are sent twice, `contradict_share` are followed
by the opposite answer (which paystream must ignore: the first one stands), `never_share` of
the payouts get no answer at all (paystream must expire them), and `lost_share` are paid but
their callback is lost: GET /status?tx_id= (signed, answered signed) says SUCCESS, which
`paystream payout-watch` finds before the deadline. A callback the API does not
accept (5xx, unreachable) is retried with backoff, as a partner would. GET /stats counts it all;
GET /answers lists each payout's first answer (what the e2e test compares with paystream).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from streams.partners import sign, verify_signature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Behaviour:
    latency_s: float = 0.5
    fail_share: float = 0.2
    duplicate_share: float = 0.1
    contradict_share: float = 0.05
    never_share: float = 0.02
    #: Paid, but the callback is lost: only a status query (GET /status) tells.
    lost_share: float = 0.0
    seed: int = 7


class PartnerSim:
    def __init__(self, partner_id: str, secret: str, api_url: str, behaviour: Behaviour) -> None:
        self.partner_id = partner_id
        self._secret = secret
        self._callback_url = f"{api_url.rstrip('/')}/v1/partners/{partner_id}/callbacks"
        self._behaviour = behaviour
        self._random = random.Random(behaviour.seed)
        self.counts: Counter[str] = Counter()
        self.answers: dict[str, str] = {}  # tx_id -> the first status sent ("NONE": never, "LOST": paid, callback lost)
        self._status: dict[str, str] = {}  # tx_id -> how the payout stands, for status queries
        self._seen: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/payouts", self._instruction)
        app.router.add_get("/status", self._status_query)
        app.router.add_get("/stats", self._stats)
        app.router.add_get("/answers", self._answers)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, _: web.Application) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def _close(self, _: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()

    async def _instruction(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(self._secret, request.headers.get("Paystream-Signature", ""), body):
            self.counts["bad_signature"] += 1
            return web.Response(status=401, text="bad or stale signature")
        key = request.headers.get("Idempotency-Key", "")
        if key in self._seen:
            self.counts["repeated_instruction"] += 1
            return web.Response(status=200, text="already taken")
        event = json.loads(body)
        if event.get("kind") != "PAYOUT_INSTRUCTION":
            self.counts[f"ignored:{event.get('kind')}"] += 1
            return web.Response(status=200)
        self._seen.add(key)
        self.counts["instructions"] += 1
        task = asyncio.create_task(self._pay(event["tx_id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _pay(self, tx_id: str) -> None:
        b, rnd = self._behaviour, self._random
        if rnd.random() < b.never_share:
            self.answers[tx_id] = "NONE"
            self.counts["never_answered"] += 1
            return
        if rnd.random() < b.lost_share:
            self.answers[tx_id], self._status[tx_id] = "LOST", "SUCCESS"
            self.counts["callbacks_lost"] += 1
            return
        status = "FAILURE" if rnd.random() < b.fail_share else "SUCCESS"
        self.answers[tx_id] = status
        duplicate, contradict = rnd.random() < b.duplicate_share, rnd.random() < b.contradict_share
        await asyncio.sleep(b.latency_s * rnd.uniform(0.5, 1.5))
        self._status[tx_id] = status
        await self._call_back(tx_id, status, f"{tx_id}:1")
        if duplicate:
            await self._call_back(tx_id, status, f"{tx_id}:1")  # the same callback again
            self.counts["duplicates_sent"] += 1
        if contradict:
            await asyncio.sleep(b.latency_s * rnd.uniform(0.1, 0.5))
            other = "SUCCESS" if status == "FAILURE" else "FAILURE"
            await self._call_back(tx_id, other, f"{tx_id}:2")
            self.counts["contradictions_sent"] += 1

    async def _call_back(self, tx_id: str, status: str, callback_id: str) -> None:
        assert self._http is not None
        body = json.dumps({"callback_id": callback_id, "tx_id": tx_id, "status": status,
                           "partner_reference": f"{self.partner_id}-{tx_id}",
                           "reason": "beneficiary account closed" if status == "FAILURE" else None},
                          separators=(",", ":")).encode()
        delay = 0.2
        for _ in range(20):
            headers = {"Content-Type": "application/json",
                       "Paystream-Signature": sign(self._secret, int(time.time()), body)}
            try:
                async with self._http.post(self._callback_url, data=body, headers=headers) as reply:
                    if reply.status < 500:
                        self.counts[f"callback_{reply.status}"] += 1
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.counts["callback_retried"] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        self.counts["callback_given_up"] += 1
        log.warning("gave up calling back about %s", tx_id)

    async def _status_query(self, request: web.Request) -> web.Response:
        tx_id = request.query.get("tx_id", "")
        signed = f"tx_id={tx_id}".encode()
        if not verify_signature(self._secret, request.headers.get("Paystream-Signature", ""), signed):
            self.counts["status_bad_signature"] += 1
            return web.Response(status=401, text="bad or stale signature")
        self.counts["status_queries"] += 1
        body = json.dumps({"tx_id": tx_id, "status": self._status.get(tx_id, "UNKNOWN"),
                           "partner_reference": f"{self.partner_id}-{tx_id}"}).encode()
        return web.Response(body=body, content_type="application/json", headers={
            "Paystream-Signature": sign(self._secret, int(time.time()), body)})

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response({**self.counts, "in_flight": len(self._tasks)})

    async def _answers(self, _: web.Request) -> web.Response:
        return web.json_response(self.answers)


def run(partner_id: str, secret: str, api_url: str, port: int, behaviour: Behaviour) -> None:
    sim = PartnerSim(partner_id, secret, api_url, behaviour)
    log.info("partner %s simulated on http://127.0.0.1:%d/payouts, calling back %s", partner_id,
             port, api_url)
    web.run_app(sim.app(), host="127.0.0.1", port=port, print=None)
