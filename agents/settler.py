"""Settle a batch of credits: credit each destination once, in its own partition. Pure.

A credit can arrive twice (authorize's outbox re-sent after a crash, at a new offset), so the
offset of the credits topic alone cannot tell. Each credit carries its origin (the input
partition that debited, and that input's offset): for one destination and one origin, new
credits arrive in increasing origin offset (an origin partition is processed in order, and a
crashed batch's outputs are re-sent before the next batch's), so a copy is one at or below the
destination's mark for that origin. The mark lives in the destination's own state, so it holds
however late the copy comes, and such a credit needs no transaction record at all (none is read
or written: three Redis commands per transfer fewer). Credits written before origins existed
still use the transaction record's `credited` mark, which the event-time window prunes.

With the single-object codecs (the usual case) a batch of credits that all name their origin
is decoded and applied in compiled code (native/avro/src/settle.rs): no dict per credit, ~4.5
-> ~1 µs a credit. Any other batch goes the Python way below, to the same outputs and states
(tests/unit/test_settle_native.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import paystream_avro

from agents.batch import BatchResult, InputEvent, OutputMessage, StateView, claim
from agents.outputs import OutputEncoder
from agents.postings import CREDIT, CREDIT_LEG
from streams.accounts import TX_CREDITED
from streams.codec import Codec, SingleObjectCodec
from streams.errors import CodecError

ROLE = "credits"
#: A credit's replay position: its message's offset times this, plus its index in the message
#: (a message carries at most agents.authorizer.CREDITS_PER_MESSAGE). Positions of later
#: messages are always higher, including than a plain offset stored before credits were batched.
POSITIONS_PER_MESSAGE = 1 << 16


class DecodedCredits(list[tuple[InputEvent, int, dict]]):
    """(event, replay position, credit) for every credit of a batch, decoded in Python."""

    def accounts(self) -> set[str]:
        """The destination accounts, each once."""
        return {record["destination_account"] for _, _, record in self}

    def legacy_tx_ids(self) -> set[str]:
        """The tx_ids whose transaction record the batch needs: a credit that names its origin
        is deduplicated by the origin mark in the destination's own state; only older credits
        without one need the record."""
        return {record["tx_id"] for _, _, record in self if record.get("origin") is None}


Credits = DecodedCredits | paystream_avro.Credits


class Settler:
    def __init__(self, credit_codec: Codec, posting_codec: Codec,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self._credits = credit_codec
        self._postings = OutputEncoder(None, posting_codec)
        self._clock_ms = clock_ms
        posting = self._postings.native_posting
        self._native = (
            paystream_avro.Settle(credit_codec.reader.native, credit_codec.reader_header, posting,
                                  OutputMessage, ROLE, POSITIONS_PER_MESSAGE)
            if isinstance(credit_codec, SingleObjectCodec) and posting is not None else None)

    def decode(self, events: list[InputEvent]) -> Credits:
        """Every credit of every message, in order: compiled where it can be, else
        (event, replay position, credit) tuples.

        Credits are our own output: one that does not decode is a bug, so it raises.
        """
        if self._native is not None:
            native = self._native.decode(events)
            if native is not None:
                return native
        decoded = DecodedCredits()
        for event in events:
            try:
                records = self._credits.decode_all(event.value)
            except CodecError as exc:
                raise CodecError(f"credits p{event.partition}@{event.offset}: {exc}") from exc
            base = event.offset * POSITIONS_PER_MESSAGE
            decoded.extend((event, base + index, record) for index, record in enumerate(records))
        return decoded

    def apply(self, credits: Credits, view: StateView) -> BatchResult:
        now_ms = self._clock_ms()
        result = BatchResult()
        if isinstance(credits, paystream_avro.Credits):
            assert self._native is not None  # only it makes them
            self._native.apply(credits, view, result, now_ms)
            return result
        for event, position, record in credits:
            name = record["destination_account"]
            state = claim(view, result, name, ROLE, position)
            if state is None:
                continue
            tx_id = record["tx_id"]
            origin = record.get("origin")
            if origin is not None:  # written together with its offset
                origin_offset: int = record["origin_offset"]
                if origin_offset <= state.credit_marks.get(origin, -1):
                    result.counters["duplicate_credit"] += 1
                    continue
                state.credit_marks[origin] = origin_offset
            else:  # a credit from before origins: the tx record's mark (read for these only)
                if view.tx_records.get(tx_id, {}).get(TX_CREDITED):
                    result.counters["duplicate_credit"] += 1
                    continue
                view.tx_records.setdefault(tx_id, {})[TX_CREDITED] = "1"
                result.set_tx(tx_id, **{TX_CREDITED: "1"})
            self._postings.post(result, event.partition, state, name, tx_id, record["amount"],
                                record["currency"], record["event_time"], now_ms,
                                direction=CREDIT, leg=CREDIT_LEG)
            result.counters["credited"] += 1
        return result
