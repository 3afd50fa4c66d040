"""The notification sink: decisions and postings become customer/partner events on a Redis Stream.

Kinds: DEBIT and CREDIT_RECEIVED (from postings on customer accounts), DECLINED and
UNDER_REVIEW (from decisions). Each event has a deterministic id, `<tx_id>:<kind>:<account>`,
which is also the webhook idempotency key, and content that only depends on its inputs, so a
replay produces the same event. The store adds an event to the stream only the first time it
sees its id (SET NX next to the XADD, in one script), so replays add nothing. `paystream notify`
(sinks.webhooks) delivers the stream to partners.

Keys, under `ps:<topic prefix>notify:`
  events        the stream of events (fields: the Notification record, details as JSON)
  seen:<id>     an event already added (expires after SEEN_TTL_S)
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sinks.runner import StoreUnavailable
from streams.records import is_system_account

KINDS = ("DEBIT", "CREDIT_RECEIVED", "DECLINED", "UNDER_REVIEW")
#: How long an event id is remembered against replays: far beyond any replay of a sink's input.
SEEN_TTL_S = 7 * 86_400

_ADD = """
-- KEYS[1]: the stream; then one seen-key per event. ARGV: ttl, then per event its JSON fields.
local added = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    local fields = cjson.decode(ARGV[i])
    local flat = {}
    for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = v end
    redis.call('XADD', KEYS[1], '*', unpack(flat))
    added = added + 1
  end
end
return added
"""


def notifications_of(role: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The events one decision or posting gives rise to (none for system accounts)."""
    if role == "postings":
        if is_system_account(record["account"]):
            return []
        kind = "DEBIT" if record["direction"] == "DEBIT" else "CREDIT_RECEIVED"
        return [_event(kind, record["tx_id"], record["account"], record["amount"],
                       record["currency"], record["posted_at"],
                       {"balance_after": str(record["balance_after"]),
                        "posting_id": record["posting_id"]})]
    outcome = record["outcome"]
    if outcome == "APPROVE":
        return []
    account = (record["destination_account"] if record["type"] == "DEPOSIT"
               else record["source_account"])
    kind = "DECLINED" if outcome == "DECLINE" else "UNDER_REVIEW"
    return [_event(kind, record["tx_id"], account, record["amount"], record["currency"],
                   record["decided_at"], {"reasons": ",".join(record["reasons"])})]


def _event(kind: str, tx_id: str, account: str, amount: int, currency: str, created_at: int,
           details: dict[str, str]) -> dict[str, Any]:
    return {"notification_id": f"{tx_id}:{kind}:{account}", "kind": kind, "tx_id": tx_id,
            "account": account, "partner_id": None, "amount": amount, "currency": currency,
            "created_at": created_at, "details": details}


def stream_fields(event: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) if k == "details" else ("" if v is None else str(v))
            for k, v in event.items()}


def event_from_fields(fields: dict[bytes, bytes]) -> dict[str, Any]:
    raw = {k.decode(): v.decode() for k, v in fields.items()}
    return {"notification_id": raw["notification_id"], "kind": raw["kind"], "tx_id": raw["tx_id"],
            "account": raw["account"], "partner_id": raw.get("partner_id") or None,
            "amount": int(raw["amount"]), "currency": raw["currency"],
            "created_at": int(raw["created_at"]), "details": json.loads(raw["details"])}


def keys(prefix: str) -> dict[str, str]:
    base = f"ps:{prefix}notify:"
    return {"events": f"{base}events", "seen": f"{base}seen:", "dead": f"{base}dead",
            "outcomes": f"{base}outcomes:"}


class NotificationStore:
    """A sink store on Redis Streams (a Redis of its own in production: see the README)."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._url = redis_url
        self._keys = keys(prefix)
        self._redis: Redis | None = None
        self._script: Any = None

    async def open(self) -> None:
        self._redis = Redis.from_url(self._url, socket_timeout=10, socket_connect_timeout=5)
        self._script = self._redis.register_script(_ADD)

    async def write(self, batch: list[tuple[str, dict[str, Any]]]) -> int:
        events = {e["notification_id"]: e for role, record in batch
                  for e in notifications_of(role, record)}
        if not events:
            return 0
        keys_ = [self._keys["events"]] + [self._keys["seen"] + i for i in events]
        args = [SEEN_TTL_S] + [json.dumps(stream_fields(e)) for e in events.values()]
        try:
            return int(await self._script(keys=keys_, args=args))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"Redis (notifications) write failed: {exc}") from exc

    async def close(self) -> None:
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose(close_connection_pool=True)
