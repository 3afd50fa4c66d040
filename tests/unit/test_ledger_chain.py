"""The ledger sink's chaining (sinks.ledger.chain, compiled) without PostgreSQL: each account's
postings are hashed onto its tip in sequence, byte for byte as streams.ledgerchain's
`chain_hash`, a replay adds nothing, a gap is refused, and what it writes passes the same check
`paystream ledger verify` and the API run (streams.ledgerchain)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from paystream_avro import PostingRows

from sinks.ledger import COLUMNS, LedgerGapError, chain
from sinks.rows import postings as posting_rows
from streams.codec import codec_for
from streams.ledgerchain import GENESIS, Tip, chain_hash, check_row, to_datetime, to_ms
from tests.unit.copydata import read_copy

KINDS = "tttttiiittmm"  # COLUMNS: texts, bigints, the hashes, timestamptz
T0 = 1_767_225_600_000


def posting(seq: int, amount: int, balance_after: int, account: str = "acc-1",
            direction: str = "CREDIT") -> dict:
    return {"posting_id": f"t{seq}:{direction[0]}", "tx_id": f"t{seq}", "account": account,
            "currency": "EUR", "direction": direction, "amount": amount,
            "balance_after": balance_after, "account_seq": seq, "event_time": T0 + seq,
            "posted_at": T0 + seq + 5}


def chained(postings: list[dict], tips: dict[str, tuple[int, str]]) -> list[dict[str, Any]]:
    data, rows = chain(PostingRows.from_records(postings), tips)
    read = read_copy(data, COLUMNS, KINDS)
    assert len(read) == rows
    return read


def test_rows_chain_onto_the_tip_and_each_checks_against_the_one_before() -> None:
    tips: dict[str, tuple[int, str]] = {}
    rows = chained([posting(1, 500, 500), posting(2, 200, 300, direction="DEBIT"),
                    posting(1, 70, 70, account="acc-2")], tips)
    assert [r["prev_hash"] for r in rows] == [GENESIS, rows[0]["hash"], GENESIS]
    assert rows[1]["event_time"] == T0 + 2 and rows[1]["posted_at"] == T0 + 7
    read = [{**r, "event_time": to_datetime(r["event_time"])} for r in rows]  # as read back
    assert check_row(read[0], Tip(0, GENESIS), {}) is None
    assert check_row(read[1], Tip(1, rows[0]["hash"]), {"EUR": 500}) is None
    assert tips == {"acc-1": (2, rows[1]["hash"]), "acc-2": (1, rows[2]["hash"])}


def test_each_field_is_written_as_it_came_and_hashed_as_chain_hash_does() -> None:
    rng = random.Random(11)
    postings, seqs = [], {}
    for i in range(2_000):
        account = rng.choice(["acc-1", "acc-ü", "shop/7", "x" * 40])
        seqs[account] = seqs.get(account, 0) + 1
        postings.append({"posting_id": f"tx-{i}:D", "tx_id": f"tx-{i}", "account": account,
                         "currency": rng.choice(["EUR", "USD"]), "direction": "DEBIT",
                         "amount": rng.randrange(1, 2**40), "balance_after": rng.randrange(-2**50, 2**50),
                         "account_seq": seqs[account], "event_time": rng.randrange(-2**41, 2**42),
                         "posted_at": T0 + i})
    rows = chained(postings, {})
    tips: dict[str, str] = {}
    for p, row in zip(postings, rows, strict=True):
        prev = tips.get(p["account"], GENESIS)
        assert row == {**p, "prev_hash": prev, "hash": chain_hash(
            prev, p["posting_id"], p["tx_id"], p["account"], p["currency"], p["direction"],
            p["amount"], p["balance_after"], p["account_seq"], p["event_time"])}
        tips[p["account"]] = row["hash"]


def test_a_replayed_posting_adds_no_row_and_a_gap_is_refused() -> None:
    tips: dict[str, tuple[int, str]] = {}
    chained([posting(1, 500, 500)], tips)
    assert chained([posting(1, 500, 500)], tips) == []  # already in the table
    with pytest.raises(LedgerGapError, match="t3:C"):
        chained([posting(3, 10, 510)], tips)  # sequence 2 never arrived
    assert tips["acc-1"][0] == 1


def test_a_time_past_64_bit_microseconds_is_refused_not_wrapped() -> None:
    # Wrapped, the row would keep a time its hash does not cover, in an append-only table.
    for ms in (2**63 - 1, -(2**63)):
        with pytest.raises(OverflowError):
            chain(PostingRows.from_records([{**posting(1, 500, 500), "event_time": ms}]), {})


def test_a_batch_decodes_from_its_messages_as_from_its_records() -> None:
    codec = codec_for("posting", "postings", None)
    batch = [posting(1, 500, 500), posting(2, 200, 300, direction="DEBIT")]
    decoded = posting_rows(codec, [codec.encode(p) for p in batch])
    assert decoded is not None and decoded.accounts() == ["acc-1"]
    assert chain(decoded, {}) == chain(PostingRows.from_records(batch), {})
    # Another framing (here a cut body) is left to the codec, which says what is wrong.
    assert posting_rows(codec, [codec.encode(batch[0])[:-1]]) is None
    assert posting_rows(codec, [b"\x00\x00\x00\x00\x01" + codec.encode(batch[0])[10:]]) is None


def test_a_row_changed_after_chaining_no_longer_checks() -> None:
    [row] = chained([posting(1, 500, 500)], {})
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
