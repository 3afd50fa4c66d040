"""The reporting sink's rows and rollup sums (compiled: sinks/rows.py) without PostgreSQL: every
column as the decision says, each tx_id once, latency_ms = decided_at - produced_at, and the sums
per minute, hour and day x currency x outcome x country x category the rollups add."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from paystream_avro import DecisionRows

from sinks.reporting import COLUMNS
from sinks.rows import decisions as decision_rows
from streams.codec import codec_for
from tests.unit.copydata import read_copy

KINDS = "ttttitmtttttfatftmmnt"  # COLUMNS' types, in order
T0 = 1_767_225_600_000


def decision(i: int, rng: random.Random) -> dict[str, Any]:
    produced = rng.choice([None, T0 + i * 700])
    return {"tx_id": f"tx-{i}", "type": "PAYMENT", "source_account": f"acc-{i % 7}",
            "destination_account": "shop-1", "amount": rng.randrange(1, 10**9),
            "currency": rng.choice(["EUR", "USD"]), "event_time": T0 + i * 700,
            "channel": "WEB", "merchant_id": rng.choice([None, "shop-1"]),
            "merchant_category": rng.choice([None, "5411", "5812"]),
            "country": rng.choice(["DE", "FR"]), "outcome": rng.choice(["APPROVE", "DECLINE"]),
            "score": rng.random(), "reasons": rng.choice([[], ["velocity"], ["a", "ü b"]]),
            "model_version": rng.choice([None, "fraud-v0001"]),
            "shadow_score": rng.choice([None, 0.5]), "shadow_model_version": None,
            "decided_at": T0 + i * 700 + rng.randrange(0, 900), "produced_at": produced,
            "device_id": rng.choice([None, "d-1"]), "payout": None}


def sums_per_minute(decisions: list[dict[str, Any]]) -> list[tuple]:
    """What the rollups add, written plainly (the compiled code must agree)."""
    sums: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0, 0])
    for d in decisions:
        total = sums[(d["event_time"] - d["event_time"] % 60_000, d["currency"], d["outcome"],
                      d["country"], d["merchant_category"] or "")]
        total[0] += 1
        total[1] += d["amount"]
        total[2] += d["score"]
        total[3] += d["decided_at"] - d["produced_at"] if d["produced_at"] is not None else 0
    return [(*group, *totals, False) for group, totals in sums.items()]


def test_rows_hold_each_decision_once_as_it_came() -> None:
    rng = random.Random(5)
    batch = [decision(i, rng) for i in range(3_000)]
    resent = {**batch[10], "outcome": "REVIEW"}  # a re-sent decision: the later one is kept
    rows = DecisionRows.from_records([*batch, resent])
    assert len(rows) == len(batch)
    unique = [*batch[:10], resent, *batch[11:]]
    read = read_copy(rows.copy(), COLUMNS, KINDS)
    expected = [{**{c: d.get(c) for c in COLUMNS}, "latency_ms": (
        d["decided_at"] - d["produced_at"] if d["produced_at"] is not None else None)}
        for d in unique]
    assert read == expected
    assert rows.minute_sums() == sums_per_minute(unique)


def regrouped(minute_sums: list[tuple], width_ms: int) -> list[tuple]:
    """The minute sums per bucket `width_ms` wide, in the order the groups first came."""
    sums: dict[tuple, list] = {}
    for bucket, *key, n, amount, score, latency, _ in minute_sums:
        total = sums.setdefault((bucket - bucket % width_ms, *key), [0, 0, 0.0, 0])
        for i, value in enumerate((n, amount, score, latency)):
            total[i] += value
    return [(*group, *totals) for group, totals in sums.items()]


ROLLUP_COLUMNS = ("bucket", "currency", "outcome", "country", "merchant_category", "tx_count",
                  "amount_sum", "score_sum", "latency_ms_sum")


def test_rollup_copies_hold_the_sums_per_minute_hour_and_day() -> None:
    rng = random.Random(11)
    # ~36 hours of event time, so that hours and days hold several minutes' groups
    batch = [{**decision(i, rng), "event_time": T0 + i * 43_000} for i in range(3_000)]
    minutes = sums_per_minute(batch)
    widths = [60_000, 3_600_000, 86_400_000]
    copies = DecisionRows.from_records(batch).rollup_copies(widths)
    for width, data in zip(widths, copies, strict=True):
        read = [tuple(row.values()) for row in read_copy(data, ROLLUP_COLUMNS, "mttttiifi")]
        assert read == regrouped(minutes, width)
    assert len(read) < len(regrouped(minutes, 3_600_000)) < len(minutes)
    with pytest.raises(ValueError, match="whole minutes"):
        DecisionRows.from_records(batch).rollup_copies([90_000])


def test_a_latency_that_does_not_fit_the_column_is_null_and_sums_as_zero() -> None:
    far = {**decision(1, random.Random(1)), "produced_at": 0, "decided_at": T0}
    rows = DecisionRows.from_records([far])
    assert read_copy(rows.copy(), COLUMNS, KINDS)[0]["latency_ms"] is None
    assert rows.minute_sums()[0][8] == 0


def test_times_and_sums_past_64_bits_are_refused_not_wrapped() -> None:
    base = decision(1, random.Random(2))
    with pytest.raises(OverflowError):
        DecisionRows.from_records([{**base, "decided_at": 2**63 - 1}]).copy()
    with pytest.raises(OverflowError):
        DecisionRows.from_records([{**base, "tx_id": f"t{i}", "amount": 2**62}
                                   for i in range(2)]).minute_sums()


def test_a_batch_decodes_from_its_messages_as_from_its_records() -> None:
    codec = codec_for("decision", "decisions", None)
    rng = random.Random(9)
    batch = [decision(i, rng) for i in range(200)]
    decoded = decision_rows(codec, [codec.encode(d) for d in batch])
    assert decoded is not None
    assert decoded.copy() == DecisionRows.from_records(batch).copy()
    payout = {**batch[0], "type": "PAYOUT", "payout": {  # a nested record the rows skip
        "send_partner": "p1", "receive_partner": "p2", "beneficiary": "w-1",
        "payout_amount": 900, "payout_currency": "KES", "fx_rate": "0.9", "quote_id": "q-1"}}
    skipped = decision_rows(codec, [codec.encode(payout)])
    assert skipped is not None
    assert skipped.copy() == DecisionRows.from_records([payout]).copy()
    assert decoded.minute_sums() == sums_per_minute(batch)
    assert decision_rows(codec, [codec.encode(batch[0]) + b"\x00"]) is None  # bytes left over
