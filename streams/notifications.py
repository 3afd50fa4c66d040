"""Notification events: what customers and partners hear of decisions and postings.

Kinds: DEBIT and CREDIT_RECEIVED (from postings on customer accounts), DECLINED and
UNDER_REVIEW (from decisions); for payouts (docs/send-money.md), PAYOUT_INSTRUCTION (from a
PENDING payout's decision, to its receive partner only) and PAYOUT_RESULT (from payout-results,
to its send partner only: an event whose partner_id is set goes to that partner alone). Each event has a deterministic id, `<tx_id>:<kind>:<account>`,
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

#: What a partner gets when its entry names no kinds: the customer events. Payout events go to
#: the partner a payout names, which must subscribe to them by name.
DEFAULT_KINDS = ("DEBIT", "CREDIT_RECEIVED", "DECLINED", "UNDER_REVIEW")
KINDS = (*DEFAULT_KINDS, "PAYOUT_INSTRUCTION", "PAYOUT_RESULT")


def for_partner(event: dict[str, Any], partner_id: str, kinds: frozenset[str]) -> bool:
    """Whether `partner_id`, subscribed to `kinds`, is to get `event`."""
    return event["kind"] in kinds and event["partner_id"] in (None, partner_id)


def notifications_of(role: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The events one decision, posting or payout result gives rise to (none for system
    accounts)."""
    if role == "payout_results":
        if record["status"] == "LATE_SUCCESS":  # an exception for operations, not an ending
            return []
        return [_event("PAYOUT_RESULT", record["tx_id"], record["source_account"],
                       record["payout_amount"], record["payout_currency"], record["decided_at"],
                       {"status": record["status"], "beneficiary": record["beneficiary"],
                        "receive_partner": record["receive_partner"],
                        "debited": f"{record['amount']} {record['currency']}",
                        "partner_reference": record.get("partner_reference") or "",
                        "reason": record.get("reason") or ""},
                       partner_id=record["send_partner"])]
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
    if outcome == "PENDING":  # a payout: the instruction to its receive partner
        payout = record.get("payout")
        if not payout:
            return []
        return [_event("PAYOUT_INSTRUCTION", record["tx_id"], payout["beneficiary"],
                       payout["payout_amount"], payout["payout_currency"], record["decided_at"],
                       {"send_partner": payout["send_partner"], "quote_id": payout["quote_id"],
                        "fx_rate": payout["fx_rate"]},
                       partner_id=payout["receive_partner"])]
    account = (record["destination_account"] if record["type"] == "DEPOSIT"
               else record["source_account"])
    kind = "DECLINED" if outcome == "DECLINE" else "UNDER_REVIEW"
    return [_event(kind, record["tx_id"], account, record["amount"], record["currency"],
                   record["decided_at"], {"reasons": ",".join(record["reasons"])})]


def _event(kind: str, tx_id: str, account: str, amount: int, currency: str, created_at: int,
           details: dict[str, str], partner_id: str | None = None) -> dict[str, Any]:
    return {"notification_id": f"{tx_id}:{kind}:{account}", "kind": kind, "tx_id": tx_id,
            "account": account, "partner_id": partner_id, "amount": amount, "currency": currency,
            "created_at": created_at, "details": details}


def keys(prefix: str) -> dict[str, str]:
    base = f"ps:{prefix}notify:"
    return {"dead": f"{base}dead", "outcomes": f"{base}outcomes:"}
