"""Deliver notification events to partner webhooks: signed, retried, dead-lettered, recorded.

Each partner (a TOML file, PAYSTREAM_PARTNERS_PATH) has a URL, a secret (read from the
environment variable the file names; never in the file) and the kinds it wants. A delivery is a
POST of the event as JSON with headers:

  Paystream-Timestamp: <unix seconds>
  Paystream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
  Idempotency-Key:     <notification_id>   (the same on every attempt and every re-delivery)

2xx is delivered; 5xx, 408, 429, timeouts and refused connections are retried with exponential
backoff and jitter, up to `max_attempts`; any other 4xx, or the last failed attempt, puts
the event on the dead-letter stream with the reason. The outcome of each (event, partner) is
recorded in a hash per partner, so a re-delivery after a crash skips what already reached its
partner. Events are read with a Redis consumer group and acknowledged once every partner's
delivery ended; what a crash left unacknowledged is read again at start.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sinks.notifications import KINDS, event_from_fields, keys
from streams.errors import ConfigError

log = logging.getLogger(__name__)

GROUP = "webhooks"
RETRY_STATUSES = frozenset({408, 429})
SIGNATURE_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, now_s: float | None = None,
                     tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """For receivers: the signature matches the body and is recent (replay protection)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    now = time.time() if now_s is None else now_s
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).split("v1=")[1], parts.get("v1", ""))


@dataclass(frozen=True)
class Partner:
    partner_id: str
    url: str
    secret: str
    kinds: frozenset[str]
    timeout_s: float = 5.0
    max_attempts: int = 6


def load_partners(path: Path, environ: dict[str, str] | None = None) -> list[Partner]:
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"partners file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"partners file {path}: not valid TOML: {exc}") from None
    partners = []
    for partner_id, entry in data.get("partners", {}).items():
        where = f"{path}: partners.{partner_id}"
        unknown = set(entry) - {"url", "secret_env", "kinds", "timeout_s", "max_attempts"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}")
        url = entry.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.url must be http(s)://..., got {url!r}")
        secret_env = entry.get("secret_env")
        if not secret_env or not env.get(secret_env):
            raise ConfigError(f"{where}.secret_env: set the environment variable "
                              f"{secret_env or '<name>'} to the partner's webhook secret")
        kinds = frozenset(entry.get("kinds", KINDS))
        if not kinds <= set(KINDS):
            raise ConfigError(f"{where}.kinds: unknown {sorted(kinds - set(KINDS))}; known {KINDS}")
        partners.append(Partner(partner_id, url, env[secret_env], kinds,
                                float(entry.get("timeout_s", 5.0)), int(entry.get("max_attempts", 6))))
    if not partners:
        raise ConfigError(f"{path}: no [partners.<id>] table")
    return partners


@dataclass
class Outcome:
    delivered: bool
    attempts: int
    detail: str


class Deliverer:
    def __init__(self, redis: Redis, prefix: str, partners: list[Partner], consumer: str,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 60.0,
                 in_flight_max: int = 500) -> None:
        self._redis = redis
        self._keys = keys(prefix)
        self._partners = partners
        self._consumer = consumer
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._slots = asyncio.Semaphore(in_flight_max)
        self.counts: dict[str, int] = {"delivered": 0, "dead": 0, "attempts": 0, "skipped": 0}

    async def run(self, stop: asyncio.Event, idle_exit_s: float | None = None) -> dict[str, int]:
        try:
            await self._redis.xgroup_create(self._keys["events"], GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        tasks: set[asyncio.Task] = set()
        last = time.monotonic()
        async with aiohttp.ClientSession() as http:
            start_id = "0"  # first what this consumer left unacknowledged, then new events
            backoff_s = 0.5
            while not stop.is_set():
                try:
                    reply = await self._redis.xreadgroup(GROUP, self._consumer,
                                                         {self._keys["events"]: start_id},
                                                         count=100, block=500)
                    backoff_s = 0.5
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    log.warning("notifications Redis unavailable (%s); retrying in %.1f s",
                                exc, backoff_s)
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, 30.0)
                    start_id = "0"  # then re-read what failed meanwhile (still unacknowledged)
                    continue
                entries = reply[0][1] if reply else []
                if start_id != ">":
                    # Re-reading this consumer's unacknowledged entries: move past each page.
                    if not entries:
                        start_id = ">"
                        continue
                    start_id = entries[-1][0]
                for entry_id, fields in entries:
                    await self._slots.acquire()
                    task = asyncio.create_task(self._entry(http, entry_id, fields))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if entries:
                    last = time.monotonic()
                elif not tasks and idle_exit_s is not None and time.monotonic() - last >= idle_exit_s:
                    break
            await asyncio.gather(*tasks)
        return self.counts

    async def _entry(self, http: aiohttp.ClientSession, entry_id: bytes, fields: dict) -> None:
        try:
            event = event_from_fields(fields)
            wanted = [p for p in self._partners if event["kind"] in p.kinds]
            done = await self._already(event["notification_id"], wanted)
            await asyncio.gather(*(self._deliver(http, p, event) for p in wanted
                                   if p.partner_id not in done))
            await self._redis.xack(self._keys["events"], GROUP, entry_id)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Left unacknowledged: read again once Redis answers (or at the next start).
            log.warning("event %s left for later: notifications Redis unavailable (%s)",
                        entry_id.decode(), exc)
        finally:
            self._slots.release()

    async def _already(self, notification_id: str, partners: list[Partner]) -> set[str]:
        pipe = self._redis.pipeline(transaction=False)
        for partner in partners:
            pipe.hexists(self._keys["outcomes"] + partner.partner_id, notification_id)
        found = {p.partner_id for p, hit in zip(partners, await pipe.execute(), strict=True) if hit}
        self.counts["skipped"] += len(found)
        return found

    async def _deliver(self, http: aiohttp.ClientSession, partner: Partner, event: dict) -> None:
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        outcome = Outcome(False, 0, "")
        for attempt in range(1, partner.max_attempts + 1):
            outcome = await self._attempt(http, partner, event["notification_id"], body, attempt)
            self.counts["attempts"] += 1
            if outcome.delivered or outcome.detail.startswith("permanent"):
                break
            if attempt < partner.max_attempts:
                ceiling = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
                # "Equal jitter": at least half the exponential step, so retries always back
                # off, and a random other half, so partners are not hit by every sender at once.
                await asyncio.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))
        await self._record(partner, event, outcome)

    async def _attempt(self, http: aiohttp.ClientSession, partner: Partner, notification_id: str,
                       body: bytes, attempt: int) -> Outcome:
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "Idempotency-Key": notification_id,
                   "Paystream-Timestamp": str(timestamp),
                   "Paystream-Signature": sign(partner.secret, timestamp, body)}
        try:
            async with http.post(partner.url, data=body, headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=partner.timeout_s)) as response:
                status = response.status
        except asyncio.TimeoutError:
            return Outcome(False, attempt, f"timeout after {partner.timeout_s} s")
        except aiohttp.ClientError as exc:
            return Outcome(False, attempt, f"unreachable: {exc}")
        if 200 <= status < 300:
            return Outcome(True, attempt, f"HTTP {status}")
        if status >= 500 or status in RETRY_STATUSES:
            return Outcome(False, attempt, f"HTTP {status}")
        return Outcome(False, attempt, f"permanent: HTTP {status}")

    async def _record(self, partner: Partner, event: dict, outcome: Outcome) -> None:
        verdict = "delivered" if outcome.delivered else "dead"
        self.counts[verdict] += 1
        pipe = self._redis.pipeline(transaction=True)
        if not outcome.delivered:
            pipe.xadd(self._keys["dead"], {"notification_id": event["notification_id"],
                                           "partner_id": partner.partner_id,
                                           "reason": outcome.detail,
                                           "attempts": str(outcome.attempts),
                                           "event": json.dumps(event)})
            log.warning("notification %s to %s dead-lettered after %d attempts: %s",
                        event["notification_id"], partner.partner_id, outcome.attempts,
                        outcome.detail)
        pipe.hset(self._keys["outcomes"] + partner.partner_id, event["notification_id"],
                  json.dumps({"outcome": verdict, "attempts": outcome.attempts,
                              "detail": outcome.detail, "at": int(time.time() * 1000)}))
        await pipe.execute()
