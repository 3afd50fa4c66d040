"""Settle payouts on their receive partner's word, in the sender's partition. Pure.

A held PAYOUT (agents/authorizer.py) waits for its partner's callback, which the API verified
and published to `payout-outcomes` keyed by the sender (docs/send-money.md). Here, per outcome:
- SUCCESS, hold present: the hold is posted. Same currency: the sender's debit and the receive
  partner's settlement account's credit (D, C). Across currencies, four legs so that each
  currency balances by itself: the sender's debit and the FX account's credit in the debited
  currency (D, C), the FX account's debit and the partner's credit in the payout currency (XD,
  XC). Every system account is this partition's shard (agents.postings.system_shard): nothing
  waits for another partition.
- FAILURE, hold present: the hold is released; no money moves.
- hold gone (answered before, or expired): nothing changes, except that the first SUCCESS after
  the payout EXPIRED is a reconciliation exception: the beneficiary was paid while the sender's
  money was released. It is recorded (the transaction record's mark, a LATE_SUCCESS result, a
  counter to alert on), never posted.
- an outcome from another partner than the payout's, or for a transaction that is no payout:
  ignored and counted (the API checks signatures; this is the second line).
Each ending is a PayoutResult on `payout-results` (the send partner's callback); expiry emits
one too (agents/reviewer.py calls `ended`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agents.batch import (
    BatchResult,
    HoldChange,
    InputEvent,
    OutputMessage,
    StateView,
    claim,
    decode_each,
)
from agents.outputs import OutputEncoder
from agents.postings import (
    CREDIT,
    CREDIT_LEG,
    DEBIT,
    DEBIT_LEG,
    FX_CREDIT_LEG,
    FX_DEBIT_LEG,
    system_shard,
)
from streams.accounts import (
    EXPIRED,
    PAYOUT_FAILED,
    PAYOUT_SUCCEEDED,
    TX_LATE_SUCCESS,
    TX_STATUS,
    Hold,
    payout_details,
)
from streams.codec import Codec
from streams.records import SYSTEM_ACCOUNT_PREFIX, partner_account

ROLE = "payout_outcomes"
SUCCESS, FAILURE, LATE_SUCCESS = "SUCCESS", "FAILURE", "LATE_SUCCESS"


def fx_account(currency: str) -> str:
    """The platform's FX position in `currency`: where a payout's currencies meet."""
    return f"{SYSTEM_ACCOUNT_PREFIX}fx:{currency}"


def accounts_to_post(hold_currency: str, details: dict[str, Any], partition: int) -> list[str]:
    """The system shards a SUCCESS posts to: what the batch must read beside the senders."""
    partner = system_shard(partner_account(details["receive_partner"]), partition)
    if details["payout_currency"] == hold_currency:
        return [partner]
    return [system_shard(fx_account(hold_currency), partition),
            system_shard(fx_account(details["payout_currency"]), partition), partner]


def ended(result: BatchResult, codec: Codec, partition: int, sender: str, tx_id: str,
          hold: Hold | None, details: dict[str, Any], status: str, now_ms: int,
          outcome: dict[str, Any] | None = None, reason: str | None = None) -> None:
    """Emit the PayoutResult of one ending."""
    record = {
        "tx_id": tx_id, "source_account": sender, "send_partner": details["send_partner"],
        "receive_partner": details["receive_partner"], "beneficiary": details["beneficiary"],
        "status": status, "amount": hold.amount if hold else 0,
        "currency": hold.currency if hold else "", "payout_amount": details["payout_amount"],
        "payout_currency": details["payout_currency"],
        "partner_reference": (outcome or {}).get("partner_reference"),
        "reason": reason if reason is not None else (outcome or {}).get("reason"),
        "decided_at": now_ms,
    }
    result.emit(partition, OutputMessage("payout_results", sender.encode(), codec.encode(record)))


class PayoutSettler:
    def __init__(self, outcome_codec: Codec, result_codec: Codec, posting_codec: Codec,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self._outcomes = outcome_codec
        self._results = result_codec
        self._postings = OutputEncoder(None, posting_codec)
        self._clock_ms = clock_ms

    @property
    def result_codec(self) -> Codec:
        return self._results

    def decode(self, events: list[InputEvent]) -> tuple[list[tuple[InputEvent, dict]], int]:
        """Outcomes that decode; one that does not is dropped and counted (the API wrote it
        with this very schema, so it is not a partner's input gone wrong)."""
        return decode_each(self._outcomes, events)

    def apply(self, outcomes: list[tuple[InputEvent, dict]], view: StateView) -> BatchResult:
        now_ms = self._clock_ms()
        result = BatchResult()
        for event, outcome in outcomes:
            sender, tx_id = outcome["source_account"], outcome["tx_id"]
            state = claim(view, result, sender, ROLE, event.offset)
            if state is None:
                continue
            record = view.tx_records.get(tx_id, {})
            details = payout_details(record)
            hold = state.holds.get(tx_id)
            if details is None or (hold is not None and hold.tx_type != "PAYOUT"):
                result.counters["payout_outcome_unknown_payout"] += 1
                continue
            if outcome["partner"] != details["receive_partner"]:
                result.counters["payout_outcome_wrong_partner"] += 1
                continue
            if hold is None:
                self._after_the_end(result, event.partition, sender, tx_id, record, details,
                                    outcome, now_ms)
                continue
            del state.holds[tx_id]
            result.holds.append(HoldChange(tx_id, sender, event.partition, None))
            if outcome["status"] == SUCCESS:
                self._post(result, view, event.partition, sender, state, hold, details, now_ms)
                result.set_tx(tx_id, **{TX_STATUS: PAYOUT_SUCCEEDED})
                result.counters["payout_succeeded"] += 1
            else:
                result.set_tx(tx_id, **{TX_STATUS: PAYOUT_FAILED})
                result.counters["payout_failed"] += 1
            ended(result, self._results, event.partition, sender, tx_id, hold, details,
                  outcome["status"], now_ms, outcome)
        return result

    def _after_the_end(self, result: BatchResult, partition: int, sender: str, tx_id: str,
                       record: dict[str, str], details: dict[str, Any], outcome: dict[str, Any],
                       now_ms: int) -> None:
        if outcome["status"] == SUCCESS and record.get(TX_STATUS) == EXPIRED \
                and not record.get(TX_LATE_SUCCESS):
            result.set_tx(tx_id, **{TX_LATE_SUCCESS: "1"})
            record[TX_LATE_SUCCESS] = "1"  # a second late SUCCESS in this batch is a repeat
            result.counters["payout_late_success"] += 1
            ended(result, self._results, partition, sender, tx_id, None, details, LATE_SUCCESS,
                  now_ms, outcome, "the partner paid after the payout expired: settle by hand")
        else:
            result.counters["payout_outcome_after_end"] += 1

    def _post(self, result: BatchResult, view: StateView, partition: int, sender: str,
              state: Any, hold: Hold, details: dict[str, Any], now_ms: int) -> None:
        tx_id, at = hold.tx_id, hold.event_time
        partner = system_shard(partner_account(details["receive_partner"]), partition)
        post = self._postings.post
        post(result, partition, state, sender, tx_id, hold.amount, hold.currency, at, now_ms,
             direction=DEBIT, leg=DEBIT_LEG)
        if details["payout_currency"] == hold.currency:
            post(result, partition, view.account(partner), partner, tx_id, hold.amount,
                 hold.currency, at, now_ms, direction=CREDIT, leg=CREDIT_LEG)
            result.dirty.add(partner)
        else:
            sold = system_shard(fx_account(hold.currency), partition)
            bought = system_shard(fx_account(details["payout_currency"]), partition)
            paid, currency = details["payout_amount"], details["payout_currency"]
            post(result, partition, view.account(sold), sold, tx_id, hold.amount, hold.currency,
                 at, now_ms, direction=CREDIT, leg=CREDIT_LEG)
            post(result, partition, view.account(bought), bought, tx_id, paid, currency, at,
                 now_ms, direction=DEBIT, leg=FX_DEBIT_LEG)
            post(result, partition, view.account(partner), partner, tx_id, paid, currency, at,
                 now_ms, direction=CREDIT, leg=FX_CREDIT_LEG)
            result.dirty.update((sold, bought, partner))
