"""Decisions and postings made in compiled code (agents/outputs.py, native/avro/src/outputs.rs)
are byte for byte what the codecs make of the records, and book the same balances."""

from __future__ import annotations

import msgspec

from agents.batch import InputEvent
from agents.fraud.assess import Assessment
from agents.outputs import OutputEncoder, decision_record
from agents.postings import CREDIT, CREDIT_LEG, DEBIT, DEBIT_LEG, FX_DEBIT_LEG, posting_record
from agents.rules import APPROVE, DECLINE, REVIEW
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, load_versions
from streams.generator import GeneratorConfig, TrafficGenerator
from streams.records import Payout, TransactionType

NOW_MS = 1_767_225_600_000
DECISIONS = SingleObjectCodec(load_versions("decision"))
POSTINGS = SingleObjectCodec(load_versions("posting"))
NATIVE = OutputEncoder(DECISIONS, POSTINGS)


def test_the_compiled_path_is_taken() -> None:
    assert NATIVE._native_decision is not None and NATIVE._native_posting is not None


def test_decisions_are_the_bytes_the_codec_makes_of_the_record() -> None:
    txs = [t for t, _ in TrafficGenerator(GeneratorConfig(seed=11, accounts=500)).generate(400)]
    payout = msgspec.structs.replace(
        txs[0], type=TransactionType.PAYOUT, destination_account="sys:partner:recv-1",
        payout=Payout("send-1", "recv-1", "Ana Lima", 9_000, "MXN", "18.1", "q-1"))
    assessments = [None, Assessment(APPROVE, []),
                   Assessment(REVIEW, ["rule:velocity_1m", "model:review", "amount_z"], 0.61,
                              "fraud-v0001"),
                   Assessment(DECLINE, ["model:decline"], 0.97, "fraud-v0002", 0.5, "fraud-v0003"),
                   Assessment(APPROVE, [], 0.0, "fraud-v0001", None, None)]
    checked = 0
    for i, tx in enumerate([*txs, payout]):
        event = InputEvent(i % 12, i, tx.partition_key.encode(), b"", NOW_MS - i)
        assessment = assessments[i % len(assessments)]
        outcome = assessment.outcome if assessment else APPROVE
        reasons = [*assessment.reasons, "insufficient_funds"] if assessment else []
        want = DECISIONS.encode(decision_record(tx, event, outcome, reasons, assessment, NOW_MS))
        assert NATIVE.decision(tx, event, outcome, reasons, assessment, NOW_MS) == want
        checked += 1
    assert checked == len(txs) + 1


def test_postings_are_the_bytes_the_codec_makes_and_book_the_same() -> None:
    ours, theirs = AccountState(), AccountState()
    legs = [(DEBIT, DEBIT_LEG, 1_000, "EUR"), (CREDIT, CREDIT_LEG, 250, "EUR"),
            (DEBIT, FX_DEBIT_LEG, 10**15, "MXN"), (CREDIT, CREDIT_LEG, 1, "EUR"),
            (DEBIT, DEBIT_LEG, 2**40, "EUR")]
    for n, (direction, leg, amount, currency) in enumerate(legs):
        tx_id, event_time = f"tx-{n}", NOW_MS - 5_000 + n
        got = NATIVE.posting(ours, "acc:1", tx_id, amount, currency, event_time, NOW_MS,
                             direction=direction, leg=leg)
        record = posting_record(theirs, leg=leg, tx_id=tx_id, account="acc:1", currency=currency,
                      direction=direction, amount=amount, event_time=event_time, now_ms=NOW_MS)
        assert got == POSTINGS.encode(record)
        assert POSTINGS.decode(got)["balance_after"] == record["balance_after"]
    assert ours == theirs and ours.seq == len(legs)
    assert ours.balances == {"EUR": -1_000 + 250 + 1 - 2**40, "MXN": -(10**15)}
