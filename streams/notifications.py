"""Notification events: what customers and partners hear of decisions and postings.

Kinds: DEBIT and CREDIT_RECEIVED (from postings on customer accounts), DECLINED and
UNDER_REVIEW (from decisions). Each event has a deterministic id, `<tx_id>:<kind>:<account>`,
which is also the webhook idempotency key, and content that only depends on its inputs, so a
replay produces the same event. Events are derived where they are delivered, straight from the
topics (`paystream notify`, sinks.webhooks): no copy of them is stored on the way.

Part of the public contract (partners see the ids as Idempotency-Key); the API reads the
delivery records. Keys of the delivery records, under `ps:<topic prefix>notify:` (the notifications' Redis)
  outcomes:<partner>  hash: event id -> outcome (delivered or dead), attempts, detail, time
  dead                stream of dead-lettered deliveries, with the reason and the event
"""

from __future__ import annotations

from typing import Any

from streams.records import is_system_account

KINDS = ("DEBIT", "CREDIT_RECEIVED", "DECLINED", "UNDER_REVIEW")


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


def keys(prefix: str) -> dict[str, str]:
    base = f"ps:{prefix}notify:"
    return {"dead": f"{base}dead", "outcomes": f"{base}outcomes:"}
