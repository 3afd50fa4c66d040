"""The ledger sink's chaining (sinks.ledger.chain) without PostgreSQL: each account's postings
are hashed onto its tip in sequence, a replay adds nothing, a gap is refused, and what it writes
passes the same check `paystream ledger verify` and the API run (streams.ledgerchain)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from sinks.ledger import LedgerGapError, chain
from streams.ledgerchain import GENESIS, Tip, check_row, to_datetime, to_ms

COLUMNS = ("posting_id", "tx_id", "account", "currency", "direction", "amount", "balance_after",
           "account_seq", "prev_hash", "hash", "event_time", "posted_at")
T0 = 1_767_225_600_000


def posting(seq: int, amount: int, balance_after: int, account: str = "acc-1",
            direction: str = "CREDIT") -> dict:
    return {"posting_id": f"t{seq}:{direction[0]}", "tx_id": f"t{seq}", "account": account,
            "currency": "EUR", "direction": direction, "amount": amount,
            "balance_after": balance_after, "account_seq": seq, "event_time": T0 + seq,
            "posted_at": T0 + seq + 5}


def test_rows_chain_onto_the_tip_and_each_checks_against_the_one_before() -> None:
    tips: dict[str, Tip] = {}
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in chain(
        [posting(1, 500, 500), posting(2, 200, 300, direction="DEBIT"),
         posting(1, 70, 70, account="acc-2")], tips)]
    assert [r["prev_hash"] for r in rows] == [GENESIS, rows[0]["hash"], GENESIS]
    assert rows[1]["event_time"] == T0 + 2  # epoch ms: the sink's connection takes them so
    read = [{**r, "event_time": to_datetime(r["event_time"])} for r in rows]  # as read back
    assert check_row(read[0], Tip(0, GENESIS), {}) is None
    assert check_row(read[1], Tip(1, rows[0]["hash"]), {"EUR": 500}) is None
    assert tips == {"acc-1": Tip(2, rows[1]["hash"]), "acc-2": Tip(1, rows[2]["hash"])}


def test_a_replayed_posting_adds_no_row_and_a_gap_is_refused() -> None:
    tips: dict[str, Tip] = {}
    chain([posting(1, 500, 500)], tips)
    assert chain([posting(1, 500, 500)], tips) == []  # already in the table
    with pytest.raises(LedgerGapError, match="t3:C"):
        chain([posting(3, 10, 510)], tips)  # sequence 2 never arrived
    assert tips["acc-1"].seq == 1


def test_a_row_changed_after_chaining_no_longer_checks() -> None:
    [row] = [dict(zip(COLUMNS, r, strict=True)) for r in chain([posting(1, 500, 500)], {})]
    tampered = {**row, "amount": 5_000, "balance_after": 5_000,
                "event_time": to_datetime(row["event_time"])}
    assert "does not match its hash" in (check_row(tampered, Tip(0, GENESIS), {}) or "")


def test_times_convert_to_the_exact_millisecond_and_back() -> None:
    """Every row's event time goes through to_datetime: off by a microsecond, a ledger row's
    time would not match its hash's event_time_ms when read back (to_ms)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    edge = 2**32 * 1000
    samples = ([rng.randrange(-edge, 2 * edge) for _ in range(20_000)]
               + [0, 1, -1, 999, edge - 1, edge, -edge, -edge + 1, 253_402_300_799_999])
    for ms in samples:
        moment = to_datetime(ms)
        assert moment == epoch + timedelta(milliseconds=ms), ms
        assert to_ms(moment) == ms
