"""Deliver notification events to partner webhooks: signed, retried, dead-lettered, recorded.

Events are derived straight from the decisions and postings topics (streams.notifications), with
no copy in between: each partner is a sink of its own (sinks.runner, consumer group
`paystream-sink-notify-<partner>`) whose store is its webhook (`WebhookStore`). So a partner
that is slow or down stalls only its own group, which catches up when it is back, as a sink
does when its database is; the others are not held up.

Each partner (a TOML file, PAYSTREAM_PARTNERS_PATH) has a URL, a secret (read from the
environment variable the file names; never in the file) and the kinds it wants. A delivery is a
POST of the event as JSON with headers:

  Paystream-Timestamp: <unix seconds>
  Paystream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
  Idempotency-Key:     <notification_id>   (the same on every attempt and every re-delivery)

2xx is delivered; 5xx, 408, 429, timeouts and refused connections are retried with exponential
backoff and jitter, up to `max_attempts`; any other 4xx, or the last failed attempt, puts
the event on the dead-letter stream with the reason. The outcome of each (event, partner) is
recorded in a hash per partner (the notifications' Redis), so a batch read again after a crash
skips what already reached its partner; the batch's offsets are committed once every delivery
of it ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sinks import metrics
from sinks.http_post import Post, Poster, Reply
from sinks.runner import StoreUnavailable
from streams.notifications import for_partner, keys, notifications_of
from streams.partners import Partner, load_partners, sign, verify_signature  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

#: The topic roles each kind of event comes from: a partner reads only what it needs.
SOURCES = {"DECLINED": "decisions", "UNDER_REVIEW": "decisions", "DEBIT": "postings",
           "CREDIT_RECEIVED": "postings", "PAYOUT_INSTRUCTION": "decisions",
           "PAYOUT_RESULT": "payout_results"}
RETRY_STATUSES = frozenset({408, 429})


@dataclass
class Outcome:
    delivered: bool
    attempts: int
    detail: str


def partner_inputs(partner: Partner) -> tuple[str, ...]:
    """The topic roles a partner's deliveries are derived from."""
    return tuple(sorted({SOURCES[kind] for kind in partner.kinds}))


def sink_name(partner: Partner) -> str:
    """The partner's delivery as a sink (sinks.runner.group_id makes its consumer group)."""
    return f"notify-{partner.partner_id}"


class WebhookStore:
    """One partner's webhook as a sink store: a batch of decisions and postings in, the events
    the partner subscribed to delivered (or dead-lettered) and recorded, before the batch's
    offsets are committed."""

    def __init__(self, partner: Partner, redis_url: str, prefix: str,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 60.0,
                 in_flight_max: int = 256) -> None:
        assert in_flight_max > 0
        self.partner = partner
        self._redis_url = redis_url
        self._keys = keys(prefix)
        self._outcomes = self._keys["outcomes"] + partner.partner_id
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._in_flight_max = in_flight_max
        self._redis: Redis | None = None
        self._http: Poster | None = None
        # The partner's own thread for its POSTs (sinks.http_post): a partner that is slow
        # holds only this one, never a thread another partner's deliveries wait for.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"webhooks-{partner.partner_id}")
        self.counts: dict[str, int] = {"delivered": 0, "dead": 0, "attempts": 0, "skipped": 0}

    async def open(self) -> None:
        self._redis = Redis(connection_pool=BlockingConnectionPool.from_url(
            self._redis_url, max_connections=4, timeout=30, socket_timeout=10,
            socket_connect_timeout=5))
        # Keep-alive connections, as many as deliveries in flight: no TCP (or TLS) handshake
        # per event.
        self._http = Poster(self._in_flight_max, self.partner.timeout_s)

    async def close(self) -> None:
        redis, self._redis = self._redis, None
        http, self._http = self._http, None
        if http is not None:
            # In the partner's thread, after any POSTs a cancelled write left running there.
            await asyncio.get_running_loop().run_in_executor(self._thread, http.close)
        if redis is not None:
            await redis.aclose(close_connection_pool=True)

    async def write(self, batch: list[tuple[str, dict]]) -> int:
        """Deliver the batch's events for this partner; return how many ended (delivered or
        dead) now. Raises StoreUnavailable when the outcomes cannot be read or recorded."""
        assert self._redis is not None and self._http is not None, "open() first"
        partner_id, kinds = self.partner.partner_id, self.partner.kinds
        events = {e["notification_id"]: e for role, record in batch
                  for e in notifications_of(role, record) if for_partner(e, partner_id, kinds)}
        if not events:
            return 0
        try:
            done = await self._redis.hmget(self._outcomes, list(events))  # type: ignore[misc]  # redis-py types its asyncio commands as sync-or-async
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"notifications Redis: {exc}") from exc
        todo = [e for e, seen in zip(events.values(), done, strict=True) if seen is None]
        self.counts["skipped"] += len(events) - len(todo)
        outcomes = await self._deliver(todo)
        await self._record(outcomes)
        return len(outcomes)

    async def _deliver(self, events: list[dict]) -> list[tuple[dict, Outcome]]:
        """Every event's attempts until it is delivered, refused for good or out of attempts.

        The events still owed an attempt go out together, `in_flight_max` on the wire at once;
        between two attempts of an event its backoff: "equal jitter", at least half the
        exponential step so retries always back off, and a random other half so partners are
        not hit by every sender at once."""
        partner = self.partner
        bodies = {e["notification_id"]: json.dumps(e, separators=(",", ":"), sort_keys=True).encode()
                  for e in events}
        outcomes: list[tuple[dict, Outcome]] = []
        owed = events
        loop = asyncio.get_running_loop()
        for attempt in range(1, partner.max_attempts + 1):
            posts = [self._post(e, bodies[e["notification_id"]]) for e in owed]
            replies = await loop.run_in_executor(self._thread, self._poster().post_all, posts)
            again = []
            results: Counter[str] = Counter()
            for event, reply in zip(owed, replies, strict=True):
                outcome = self._outcome(reply, attempt)
                results[metrics.attempt_result(outcome.detail)] += 1
                if (outcome.delivered or outcome.detail.startswith("permanent")
                        or attempt == partner.max_attempts):
                    outcomes.append((event, outcome))
                else:
                    again.append(event)
            self.counts["attempts"] += len(owed)
            for result, count in results.items():  # per round, not per attempt: labels() costs
                metrics.ATTEMPT_RESULTS.labels(partner.partner_id, result).inc(count)
            if not again:
                break
            ceiling = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
            await asyncio.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))
            owed = again
        return outcomes

    def _poster(self) -> Poster:
        assert self._http is not None, "open() first"
        return self._http

    def _post(self, event: dict, body: bytes) -> Post:
        partner, timestamp = self.partner, int(time.time())
        return Post(partner.url_for(event["kind"]), body, [
            "Content-Type: application/json", f"Idempotency-Key: {event['notification_id']}",
            f"Paystream-Timestamp: {timestamp}",
            f"Paystream-Signature: {sign(partner.secret, timestamp, body)}"])

    def _outcome(self, reply: Reply, attempt: int) -> Outcome:
        status = reply.status
        if status is None:
            if reply.timed_out:
                return Outcome(False, attempt, f"timeout after {self.partner.timeout_s} s")
            return Outcome(False, attempt, f"unreachable: {reply.error}")
        if 200 <= status < 300:
            return Outcome(True, attempt, f"HTTP {status}")
        if status >= 500 or status in RETRY_STATUSES:
            return Outcome(False, attempt, f"HTTP {status}")
        return Outcome(False, attempt, f"permanent: HTTP {status}")

    async def _record(self, outcomes: list[tuple[dict, Outcome]]) -> None:
        """Every outcome of the batch and its dead letters, in one atomic step."""
        if not outcomes:
            return
        assert self._redis is not None
        partner, now_ms = self.partner.partner_id, int(time.time() * 1000)
        pipe = self._redis.pipeline(transaction=True)
        recorded = {}
        for event, outcome in outcomes:
            verdict = "delivered" if outcome.delivered else "dead"
            self.counts[verdict] += 1
            recorded[event["notification_id"]] = json.dumps(
                {"outcome": verdict, "attempts": outcome.attempts, "detail": outcome.detail,
                 "at": now_ms})
            if not outcome.delivered:
                pipe.xadd(self._keys["dead"], {"notification_id": event["notification_id"],
                                               "partner_id": partner, "reason": outcome.detail,
                                               "attempts": str(outcome.attempts),
                                               "event": json.dumps(event)})
                log.warning("notification %s to %s dead-lettered after %d attempts: %s",
                            event["notification_id"], partner, outcome.attempts, outcome.detail)
        pipe.hset(self._outcomes, mapping=recorded)  # one command for the whole batch
        try:
            await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # Delivered but not recorded: the batch is read again and re-delivered with the
            # same Idempotency-Key, which the partner drops.
            raise StoreUnavailable(f"notifications Redis: {exc}") from exc
        # Counted once recorded, as reconcile counts them.
        delivered = sum(1 for _, outcome in outcomes if outcome.delivered)
        metrics.DELIVERIES.labels(partner, "delivered").inc(delivered)
        metrics.DELIVERIES.labels(partner, "dead").inc(len(outcomes) - delivered)
        attempts = metrics.ATTEMPTS.labels(partner)
        for _, outcome in outcomes:
            attempts.observe(outcome.attempts)
