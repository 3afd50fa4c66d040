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
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agents.batch import BatchResult, InputEvent, StateView, claim
from agents.outputs import OutputEncoder
from agents.postings import CREDIT, CREDIT_LEG
from streams.accounts import TX_CREDITED
from streams.codec import Codec
from streams.errors import CodecError

ROLE = "credits"
#: A credit's replay position: its message's offset times this, plus its index in the message
#: (a message carries at most agents.authorizer.CREDITS_PER_MESSAGE). Positions of later
#: messages are always higher, including than a plain offset stored before credits were batched.
POSITIONS_PER_MESSAGE = 1 << 16


class Settler:
    def __init__(self, credit_codec: Codec, posting_codec: Codec,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self._credits = credit_codec
        self._postings = OutputEncoder(None, posting_codec)
        self._clock_ms = clock_ms

    def decode(self, events: list[InputEvent]) -> list[tuple[InputEvent, int, dict]]:
        """(event, replay position, credit) for every credit of every message, in order.

        Credits are our own output: one that does not decode is a bug, so it raises.
        """
        decoded: list[tuple[InputEvent, int, dict]] = []
        for event in events:
            try:
                records = self._credits.decode_all(event.value)
            except CodecError as exc:
                raise CodecError(f"credits p{event.partition}@{event.offset}: {exc}") from exc
            base = event.offset * POSITIONS_PER_MESSAGE
            decoded.extend((event, base + index, record) for index, record in enumerate(records))
        return decoded

    def apply(self, credits: list[tuple[InputEvent, int, dict]], view: StateView) -> BatchResult:
        now_ms = self._clock_ms()
        result = BatchResult()
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
