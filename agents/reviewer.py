"""Resolve holds: a reviewer's verdict, or expiry when nobody decided in time. Pure.

APPROVE posts the held transaction (debit here, credit via `credits` or the withdrawal's shard);
DECLINE and expiry release the hold and move no money. A verdict for a hold that is already gone
(decided before, or expired) changes nothing and is counted. A verdict applied is also a fraud
label (source REVIEW: declined is fraud, approved is legitimate), emitted to fraud-labels in the
same batch as the state change, so every applied verdict is labelled once and no other is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agents.authorizer import Authorizer
from agents.batch import (
    BatchResult,
    HoldChange,
    InputEvent,
    OutputMessage,
    StateView,
    claim,
    decode_each,
)
from agents.payouts import ended
from streams.accounts import EXPIRED, REVIEW_APPROVED, REVIEW_DECLINED, TX_STATUS, payout_details
from streams.codec import Codec
from streams.labels import label

ROLE = "reviews"


class Reviewer:
    def __init__(self, review_codec: Codec, authorizer: Authorizer, label_codec: Codec,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 payout_results: Codec | None = None) -> None:
        self._reviews = review_codec
        self._payout_results = payout_results
        self._labels = label_codec
        self._authorizer = authorizer
        self._clock_ms = clock_ms

    def decode(self, events: list[InputEvent]) -> tuple[list[tuple[InputEvent, dict]], int]:
        """Verdicts that decode; a malformed one is dropped and counted (nothing to undo)."""
        return decode_each(self._reviews, events)

    def apply(self, reviews: list[tuple[InputEvent, dict]], view: StateView) -> BatchResult:
        now_ms = self._clock_ms()
        result = BatchResult()
        for event, review in reviews:
            name = review["source_account"]
            state = claim(view, result, name, ROLE, event.offset)
            if state is None:
                continue
            hold = state.holds.get(review["tx_id"])
            if hold is None:
                result.counters["review_without_hold"] += 1
                continue
            if hold.tx_type == "PAYOUT":  # its receive partner decides it, never a reviewer
                result.counters["review_of_payout_refused"] += 1
                continue
            del state.holds[review["tx_id"]]
            result.holds.append(HoldChange(hold.tx_id, name, event.partition, None))
            if review["action"] == "APPROVE":
                self._authorizer.move(result, view, event.partition, state, hold.tx_id, name,
                                      hold.destination, hold.amount, hold.currency,
                                      hold.event_time, hold.tx_type, now_ms,
                                      origin=(f"r{event.partition}", event.offset))
                result.set_tx(hold.tx_id, **{TX_STATUS: REVIEW_APPROVED})
                result.counters["review_approved"] += 1
            else:
                result.set_tx(hold.tx_id, **{TX_STATUS: REVIEW_DECLINED})
                result.counters["review_declined"] += 1
            verdict = label(hold.tx_id, review["action"] == "DECLINE", "REVIEW",
                            review["decided_at"], f"review {review['review_id']} by {review['reviewer']}")
            result.emit(event.partition, OutputMessage("labels", hold.tx_id.encode(),
                                                       self._labels.encode(verdict)))
        self._authorizer.seal_credits(result)
        return result

    def expire(self, partition: int, expired: list[tuple[str, str]], view: StateView) -> BatchResult:
        """Release holds whose time ran out; `expired` is (account, tx_id) from the hold index.
        A payout's expiry is its ending: its send partner is told (agents.payouts)."""
        now_ms = self._clock_ms()
        result = BatchResult()
        for name, tx_id in expired:
            state = view.account(name)
            hold = state.holds.get(tx_id)
            if hold is not None and hold.expires_at_ms > now_ms:
                continue  # not due yet (the index said otherwise): keep it and its entry
            result.holds.append(HoldChange(tx_id, name, partition, None))
            if hold is None:
                continue  # decided meanwhile; only the index entry was left
            del state.holds[tx_id]
            result.dirty.add(name)
            result.set_tx(tx_id, **{TX_STATUS: EXPIRED})
            result.counters["hold_expired"] += 1
            details = payout_details(view.tx_records.get(tx_id, {}))
            if hold.tx_type == "PAYOUT" and details and self._payout_results is not None:
                ended(result, self._payout_results, partition, name, tx_id, hold, details,
                      EXPIRED, now_ms, reason="the receive partner did not answer in time")
        return result
