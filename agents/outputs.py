"""The decisions and postings the authorize and settle agents emit, as framed Avro values.

With the single-object codecs (no schema registry configured: the usual case) they are made in
compiled code straight from the Transaction and the posting's values
(native/avro/src/outputs.rs): no dict per record and no dict walked to encode it, where a dict
and its encoding took 1.3 µs a decision and 0.7 a posting (2026-12-06). With any other codec
(a registry's) the dicts below are made and the codec encodes them. Either way the bytes are
the same (tests/unit/test_outputs_native.py).
"""

from __future__ import annotations

from typing import Any

import paystream_avro

from agents.batch import BatchResult, InputEvent, OutputMessage
from agents.fraud.assess import Assessment
from agents.postings import book, posting_record
from agents.rules import APPROVE
from streams.accounts import AccountState
from streams.codec import Codec, SingleObjectCodec
from streams.records import Transaction

#: Deposits are not scored: their decision carries no score or model.
UNSCORED = Assessment(APPROVE, [])


def decision_record(tx: Transaction, event: InputEvent, outcome: str, reasons: list[str],
                    assessment: Assessment | None, now_ms: int) -> dict[str, Any]:
    scored = assessment or UNSCORED
    return {
        "tx_id": tx.tx_id, "type": tx.type.value, "source_account": tx.source_account,
        "destination_account": tx.destination_account, "amount": tx.amount,
        "currency": tx.currency, "event_time": tx.event_time, "channel": tx.channel.value,
        "merchant_id": tx.merchant_id, "merchant_category": tx.merchant_category,
        "country": tx.country, "outcome": outcome, "score": scored.score, "reasons": reasons,
        "model_version": scored.model_version, "shadow_score": scored.shadow_score,
        "shadow_model_version": scored.shadow_model_version, "decided_at": now_ms,
        "produced_at": event.timestamp_ms, "device_id": tx.device_id,
        "payout": tx.payout.to_record() if tx.payout is not None else None,
    }


class OutputEncoder:
    """Decisions and postings encoded by `decision` and `posting` (their codecs); an encoder
    without a decision codec encodes postings only (settle's)."""

    def __init__(self, decision: Codec | None, posting: Codec) -> None:
        self._decision = decision
        self._posting = posting
        self._native_decision = (
            paystream_avro.DecisionEncoder(decision.writer.native, decision.writer_header)
            if isinstance(decision, SingleObjectCodec) else None)
        self._native_posting = (
            paystream_avro.PostingEncoder(posting.writer.native, posting.writer_header)
            if isinstance(posting, SingleObjectCodec) else None)

    @property
    def native_posting(self) -> paystream_avro.PostingEncoder | None:
        """The compiled posting encoder, where the posting codec is single-object."""
        return self._native_posting

    def decision(self, tx: Transaction, event: InputEvent, outcome: str, reasons: list[str],
                 assessment: Assessment | None, now_ms: int) -> bytes:
        if self._native_decision is None:
            if self._decision is None:
                raise TypeError("this encoder encodes postings only")
            return self._decision.encode(decision_record(tx, event, outcome, reasons,
                                                         assessment, now_ms))
        scored = assessment or UNSCORED
        return self._native_decision.encode(tx, event.timestamp_ms, outcome, reasons,
                                            scored.score, scored.model_version,
                                            scored.shadow_score, scored.shadow_model_version,
                                            now_ms)

    def posting(self, state: AccountState, account: str, tx_id: str, amount: int,
                currency: str, event_time: int, now_ms: int, *, direction: str,
                leg: str) -> bytes:
        """Book one leg on `state` (agents/postings.py) and encode its posting."""
        if self._native_posting is None:
            return self._posting.encode(posting_record(
                state, leg=leg, tx_id=tx_id, account=account, currency=currency,
                direction=direction, amount=amount, event_time=event_time, now_ms=now_ms))
        balance = book(state, tx_id, currency, direction, amount)
        return self._native_posting.encode(leg, tx_id, account, currency, direction, amount,
                                           balance, state.seq, event_time, now_ms)

    def post(self, result: BatchResult, partition: int, state: AccountState, account: str,
             tx_id: str, amount: int, currency: str, event_time: int, now_ms: int, *,
             direction: str, leg: str) -> None:
        """Book one leg on `state` and emit its posting from `partition`, keyed by `account`."""
        value = self.posting(state, account, tx_id, amount, currency, event_time, now_ms,
                             direction=direction, leg=leg)
        result.emit(partition, OutputMessage("postings", account.encode(), value))
