"""The ledger's hash chain: how a row's hash is made and how a row is checked against its predecessor.

Each account's rows form a chain: row n stores the SHA-256 of row n-1 (`prev_hash`) and its own
hash over that and its fields, so changing, removing or inserting a row anywhere breaks every
later link. Part of the public contract: the ledger sink writes the chain, `paystream ledger
verify` and the analysts' API check it, and anyone holding the rows can check it with this file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

GENESIS = "0" * 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def chain_hash(prev_hash: str, posting_id: str, tx_id: str, account: str, currency: str,
               direction: str, amount: int, balance_after: int, account_seq: int,
               event_time_ms: int) -> str:
    body = "|".join((prev_hash, posting_id, tx_id, account, currency, direction, str(amount),
                     str(balance_after), str(account_seq), str(event_time_ms)))
    return hashlib.sha256(body.encode()).hexdigest()


#: Below 2**32 s (year 2106) `ms / 1000` is within a quarter microsecond of the exact instant,
#: so fromtimestamp's rounding to the microsecond gives it exactly.
_FLOAT_EXACT_MS = 2**32 * 1000


def to_datetime(ms: int) -> datetime:
    """The UTC instant `ms` milliseconds from the epoch. The sinks convert every event time of
    every row: fromtimestamp costs half of adding a timedelta (0.49 against 0.93 µs here)."""
    if -_FLOAT_EXACT_MS < ms < _FLOAT_EXACT_MS:
        return datetime.fromtimestamp(ms / 1000, UTC)
    return EPOCH + timedelta(milliseconds=ms)


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@dataclass
class Tip:
    seq: int
    hash: str


def check_row(row: Any, tip: Tip, balances: dict[str, int]) -> str | None:
    """What is wrong with a ledger row that follows `tip` (None: it holds); `balances` are the
    account's balances before it, per currency. `row` maps the ledger's column names."""
    if row["account_seq"] != tip.seq + 1:
        return f"account {row['account']}: sequence {row['account_seq']} follows {tip.seq}"
    if row["prev_hash"] != tip.hash:
        return f"account {row['account']}: prev_hash does not match the previous row's hash"
    expected = chain_hash(tip.hash, row["posting_id"], row["tx_id"], row["account"],
                          row["currency"], row["direction"], row["amount"], row["balance_after"],
                          row["account_seq"], to_ms(row["event_time"]))
    if row["hash"] != expected:
        return f"account {row['account']}: the row's content does not match its hash"
    signed = row["amount"] if row["direction"] == "CREDIT" else -row["amount"]
    before = balances.get(row["currency"], 0)
    if row["balance_after"] != before + signed:
        return (f"account {row['account']}: balance_after {row['balance_after']} is not "
                f"{before} {'+' if signed > 0 else '-'} {abs(signed)}")
    return None
