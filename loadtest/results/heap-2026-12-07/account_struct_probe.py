"""An account state's decode and encode before 9f5894d (a slotted dataclass, a generic unpack
and the fields handed over in Python) against streams.accounts.AccountState now (a msgspec
Struct decoded and encoded in compiled code), on one typical state: `.venv/bin/python
loadtest/results/heap-2026-12-07/account_struct_probe.py` from the checkout."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from streams.accounts import AccountState, Hold
from streams.msgpacking import pack, unpack


@dataclass(slots=True)
class OldHold:
    tx_id: str
    destination: str
    amount: int
    currency: str
    event_time: int
    expires_at_ms: int
    tx_type: str


@dataclass(slots=True)
class OldState:
    balances: dict = field(default_factory=dict)
    holds: dict = field(default_factory=dict)
    seq: int = 0
    applied: dict = field(default_factory=dict)
    profile: bytes = b""
    credit_marks: dict = field(default_factory=dict)

    def encode(self) -> bytes:
        return pack([3, self.balances, [[h.tx_id, h.destination, h.amount, h.currency,
                                         h.event_time, h.expires_at_ms, h.tx_type]
                                        for h in self.holds.values()],
                     self.seq, self.applied, self.profile, self.credit_marks])

    @classmethod
    def decode(cls, data: bytes) -> OldState:
        fmt, balances, holds, seq, applied, profile, *rest = unpack(data)
        if not 1 <= fmt <= 3:
            raise ValueError(fmt)
        marks = rest[0] if fmt >= 3 else {}
        return cls(balances, {h[0]: OldHold(*h) for h in holds}, seq, applied, profile, marks)


profile = os.urandom(232)  # the fraud profile's 58 words
marks = {f"t{i}": 100_000 + i for i in range(6)}
new = AccountState({"EUR": 123_456}, {}, 57, {"authorize": 123_456, "credits": 98_765 << 16},
                   profile, marks)
old = OldState({"EUR": 123_456}, {}, 57, {"authorize": 123_456, "credits": 98_765 << 16},
               profile, marks)
blob = new.encode()
assert blob == old.encode() and AccountState.decode(blob) == new
held = AccountState({"EUR": 1}, {"t1": Hold("t1", "a", 5, "EUR", 1, 2, "PAYMENT")})
assert OldState.decode(held.encode()).holds["t1"].amount == 5

N = 200_000
for name, call in (("decode, before", lambda: OldState.decode(blob)),
                   ("decode, now", lambda: AccountState.decode(blob)),
                   ("encode, before", old.encode), ("encode, now", new.encode)):
    started = time.perf_counter()
    for _ in range(N):
        call()
    print(f"{name:16} {(time.perf_counter() - started) / N * 1e6:.3f} µs")
