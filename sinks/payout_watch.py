"""Ask receive partners how an unanswered payout stands before its deadline (docs/send-money.md).

`paystream payout-watch` looks every `every_s` at the payouts whose deadline falls within the
next `lead_s` (the workers' hold index, read-only), and asks each one's receive partner, if the
partner offers a status query (`status_url` in the partners file) and was not asked about it in
the last `lead_s`: `GET <status_url>?tx_id=<id>`, signed over `tx_id=<id>` with the partner's
secret. An answer of SUCCESS or FAILURE, signed by the partner over its body, is published to
payout-outcomes exactly as the partner's callback would have been, and the worker that holds the
money applies it if the payout is still held (the first answer stands, whichever path it came
by). PENDING, UNKNOWN, no answer or a bad signature change nothing: the payout expires at its
deadline. Like the API, this process acts only by publishing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from sinks import metrics
from streams.accounts import (
    HELD,
    TX_ACCOUNT,
    TX_STATUS,
    StateClient,
    holds_key,
    is_cluster,
    payout_details,
    read_tx_records,
)
from streams.partners import Partner, sign, verify_signature
from streams.producer import AckedPublisher

log = logging.getLogger(__name__)
ANSWERS = ("SUCCESS", "FAILURE")
#: Questions (a status query, then the answer's acknowledged publish) in flight at once. One at a
#: time, a burst of 3,600 due payouts on a busy 2-core machine took ~45 s, longer than a 40 s
#: lead: payouts whose callback was lost expired before their turn (tests/e2e/test_payouts.py).
CONCURRENT_QUESTIONS = 16


class PayoutWatch:
    def __init__(self, namespace: str, partitions: int, partners: dict[str, Partner],
                 publisher: AckedPublisher, lead_s: float) -> None:
        self._namespace = namespace
        self._partitions = partitions
        self._partners = partners
        self._publisher = publisher
        self._lead_ms = int(lead_s * 1000)
        self._asked: dict[str, int] = {}  # tx_id -> when last asked (ms)
        self.counts: Counter[str] = Counter()

    async def once(self, redis: StateClient, http: aiohttp.ClientSession) -> None:
        """One look at the payouts due soon, and the questions their partners take."""
        now_ms = time.time_ns() // 1_000_000
        due: list[tuple[float, str]] = []  # (deadline ms, tx_id)
        where: dict[str, int] = {}  # tx_id -> its partition (where a cluster keeps its record)
        for partition in range(self._partitions):
            key = holds_key(self._namespace, partition, is_cluster(redis))
            members = await redis.zrangebyscore(key, now_ms, now_ms + self._lead_ms,
                                                withscores=True)
            for member, deadline in members:
                tx_id = member.decode().split("|", 1)[1]
                due.append((deadline, tx_id))
                where[tx_id] = partition
        # The nearest deadline first, across partitions: a burst of due payouts (a backlog,
        # a partner slow to call back) must not leave the most urgent for last.
        due.sort()
        fresh = [t for _, t in due if now_ms - self._asked.get(t, 0) >= self._lead_ms]
        records = await read_tx_records(redis, self._namespace, fresh,
                                        partitions=self._partitions, hints=where)
        asking = asyncio.Semaphore(CONCURRENT_QUESTIONS)
        answered: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

        async def question(tx_id: str, record: dict[str, str], partner: Partner) -> None:
            async with asking:
                answer = await self._ask(http, partner, tx_id)
            self.counts[f"answer:{answer.get('status', 'none')}"] += 1
            metrics.STATUS_ANSWERS.labels(partner.partner_id, answer.get("status", "none")).inc()
            if answer.get("status") in ANSWERS:
                answered.put_nowait((tx_id, {
                    "callback_id": f"{tx_id}:status-query", "tx_id": tx_id,
                    "source_account": record[TX_ACCOUNT], "partner": partner.partner_id,
                    "status": answer["status"], "partner_reference": answer.get("partner_reference"),
                    "reason": answer.get("reason"), "received_at": time.time_ns() // 1_000_000}))

        questions = []
        for tx_id in fresh:
            record = records.get(tx_id, {})
            details = payout_details(record)
            if details is None or record.get(TX_STATUS) != HELD:
                continue
            partner = self._partners.get(details["receive_partner"])
            if partner is None or not partner.status_url:
                continue
            self._asked[tx_id] = now_ms
            questions.append(question(tx_id, record, partner))

        async def asked_all() -> None:
            await asyncio.gather(*questions)  # started in deadline order, a few at a time
            answered.put_nowait(None)

        await asyncio.gather(asked_all(), self._publish_answers(answered))
        self._asked = {t: at for t, at in self._asked.items() if now_ms - at < 10 * self._lead_ms}

    async def _publish_answers(self, answered: asyncio.Queue[tuple[str, dict[str, Any]] | None]
                               ) -> None:
        """Publish the answers as they come, whatever has arrived in one go: one wait for Kafka's
        acknowledgements per group, not per answer (a burst of due payouts on a busy machine
        expired waiting for one acknowledged publish each, tests/e2e/test_payouts.py)."""
        last = False
        while not last:
            arrived = [await answered.get()]
            while not answered.empty():
                arrived.append(answered.get_nowait())
            last = arrived[-1] is None
            ready = [item for item in arrived if item is not None]
            if not ready:
                continue
            failures = await asyncio.to_thread(self._publisher.publish_all,
                                               [callback for _, callback in ready])
            for (tx_id, callback), failure in zip(ready, failures, strict=True):
                if failure is not None:
                    self._asked.pop(tx_id, None)  # ask again next time
                    log.warning("payout %s: the partner's answer could not be published: %s",
                                tx_id, failure)
                else:
                    log.info("payout %s: %s from %s's status query", tx_id, callback["status"],
                             callback["partner"])

    async def _ask(self, http: aiohttp.ClientSession, partner: Partner, tx_id: str) -> dict[str, Any]:
        query = f"tx_id={tx_id}".encode()
        headers = {"Paystream-Signature": sign(partner.secret, int(time.time()), query)}
        try:
            async with http.get(partner.status_url, params={"tx_id": tx_id}, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=partner.timeout_s)) as reply:
                body = await reply.read()
                signature = reply.headers.get("Paystream-Signature", "")
                if reply.status != 200:
                    return {"status": f"http-{reply.status}"}
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("status query of %s to %s failed: %s", tx_id, partner.partner_id, exc)
            return {}
        if not verify_signature(partner.secret, signature, body):
            log.warning("status answer about %s from %s is not signed by it: ignored", tx_id,
                        partner.partner_id)
            return {"status": "bad-signature"}
        answer = json.loads(body)
        return answer if answer.get("tx_id") == tx_id else {"status": "other-payout"}


async def run(watch: PayoutWatch, redis: StateClient, every_s: float, stop: asyncio.Event) -> None:
    """Watch until `stop`; the client (of the account state) is closed at the end."""
    try:
        async with aiohttp.ClientSession() as http:
            while not stop.is_set():
                try:
                    await watch.once(redis, http)
                except (RedisError, OSError) as exc:  # Redis away: look again next time
                    log.warning("payout watch: %s", exc)
                try:
                    await asyncio.wait_for(stop.wait(), every_s)
                except TimeoutError:
                    pass
    finally:
        await redis.aclose()
