"""Proof that nothing was lost or applied twice: topics and account state must agree.

Reads every message of the input and output topics and every account state, then checks:
- every input transaction is either dead-lettered or has exactly one decision (no decision is
  missing, none differs from another for the same tx_id);
- every posting id carries one content (a replayed posting is identical, never a second one);
- for every currency, debits equal credits;
- every account's balance equals the sum of its postings, and its posting sequence has no gap;
- no customer balance is negative;
- every REVIEW, and every PENDING payout, is held (its hold present) or was resolved, and a
  payout still held is within its deadline;
- every decision has exactly the postings its outcome implies (a debit and a credit when money
  moved, none when declined, released or still held);
- every open hold is in the hold index (or it would never expire), and nothing else is.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.accounts import (
    EXPIRED,
    HELD,
    PAYOUT_FAILED,
    PAYOUT_SUCCEEDED,
    REVIEW_APPROVED,
    REVIEW_DECLINED,
    TX_ACCOUNT,
    TX_STATUS,
    AccountState,
)
from streams.codec import Codec
from streams.errors import CodecError
from streams.findings import Findings
from streams.records import is_system_account

#: Where a REVIEW may stand: still held, or resolved one of these ways.
REVIEW_ENDINGS = (HELD, REVIEW_APPROVED, REVIEW_DECLINED, EXPIRED)
#: Decisions that leave a hold: a REVIEW, and a PAYOUT waiting for its partner (PENDING: its hold
#: ends on the partner's word, or EXPIRED; docs/send-money.md).
HOLDING = ("REVIEW", "PENDING")
PAYOUT_ENDINGS = (HELD, PAYOUT_SUCCEEDED, PAYOUT_FAILED, EXPIRED)
#: How long past its deadline a held payout may still be waiting for the expiry sweep.
EXPIRY_GRACE_MS = 60_000


def read_topic(consumer: Consumer, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every message of `topic` up to its current end, all partitions."""
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = {}
    for p in metadata.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > low:
            ends[p] = high
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    messages: list[Any] = []
    remaining = dict(ends)
    deadline = time.monotonic() + timeout_s
    while remaining and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=10_000, timeout=0.5):
            if message.error():
                continue
            p = message.partition()
            if p in remaining:
                messages.append(message)
                offset = message.offset()
                assert offset is not None  # a consumed message without an error has one
                if offset + 1 >= remaining[p]:
                    del remaining[p]
    consumer.unassign()
    if remaining:
        raise TimeoutError(f"{topic}: could not read to the end of partitions {sorted(remaining)}")
    return messages


def check(inputs: list[Any], dead: list[Any], decisions: list[Any], postings: list[Any],
          accounts: dict[str, AccountState], tx_records: dict[str, dict[str, str]],
          codecs: dict[str, Codec], hold_index: set[tuple[str, str]] | None = None) -> Findings:
    found = Findings()
    expected = _expected_transactions(found, inputs, dead, codecs["transaction"])
    outcome_of = _outcomes(found, decisions, codecs["decision"])
    for tx_id in expected - outcome_of.keys():
        found.problem("lost", tx_id)
    for tx_id in outcome_of.keys() - expected:
        found.problem("decision_without_input", tx_id)
    legs = _check_postings(found, postings, accounts, codecs["posting"])
    _check_legs_follow_outcomes(found, outcome_of, legs, tx_records)
    if hold_index is not None:
        held_pairs = {(name, tx_id) for name, state in accounts.items() for tx_id in state.holds}
        for name, tx_id in sorted(held_pairs - hold_index):
            found.problem("hold_not_indexed", f"{name} {tx_id} (it would never expire)")
        for name, tx_id in sorted(hold_index - held_pairs):
            found.problem("hold_index_orphan", f"{name} {tx_id}")
    _check_holds(found, outcome_of, accounts, tx_records)
    return found


def _expected_transactions(found: Findings, inputs: list[Any], dead: list[Any],
                           codec: Codec) -> set[str]:
    """The tx_ids of every input message not dead-lettered: each must be decided."""
    dead_at = set()
    for message in dead:
        headers = dict(message.headers() or [])
        dead_at.add((int(headers["source.partition"]), int(headers["source.offset"])))
    found.counts["dead_lettered"] = len(dead_at)
    expected: set[str] = set()
    for message in inputs:
        if (message.partition(), message.offset()) in dead_at:
            continue
        try:
            tx_id = codec.decode(message.value())["tx_id"]
        except CodecError:
            found.problem("undecodable_not_dead_lettered", f"p{message.partition()}@{message.offset()}")
            continue
        expected.add(tx_id)
    found.counts["input_messages"] = len(inputs)
    found.counts["transactions"] = len(expected)
    return expected


def _outcomes(found: Findings, decisions: list[Any], codec: Codec) -> dict[str, str]:
    """tx_id -> outcome; a transaction decided twice must have been decided the same way."""
    outcome_of: dict[str, str] = {}
    for message in decisions:
        decision = codec.decode(message.value())
        tx_id = decision["tx_id"]
        if outcome_of.setdefault(tx_id, decision["outcome"]) != decision["outcome"]:
            found.problem("decided_twice_differently", tx_id)
    found.counts["decisions"] = len(outcome_of)
    found.counts.update(f"decision_{o.lower()}" for o in outcome_of.values())
    return outcome_of


def _check_legs_follow_outcomes(found: Findings, outcome_of: dict[str, str],
                                legs: dict[str, set[str]],
                                tx_records: dict[str, dict[str, str]]) -> None:
    for tx_id, outcome in outcome_of.items():
        status = tx_records.get(tx_id, {}).get(TX_STATUS)
        moved = outcome == "APPROVE" or (outcome == "REVIEW" and status == REVIEW_APPROVED)
        # A debit and its credit when money moved; nothing when declined, released or held.
        expected = {f"{tx_id}:D", f"{tx_id}:C"} if moved else set()
        if outcome == "PENDING" and status == PAYOUT_SUCCEEDED:  # and, across currencies, FX legs
            expected = {f"{tx_id}:D", f"{tx_id}:C"}
            if legs.get(tx_id, set()) == expected | {f"{tx_id}:XD", f"{tx_id}:XC"}:
                expected = legs[tx_id]
        if legs.get(tx_id, set()) != expected:
            found.problem("postings_do_not_match_decision",
                          f"{tx_id} {outcome}/{status}: {sorted(legs.get(tx_id, set()))}")


def _check_holds(found: Findings, outcome_of: dict[str, str], accounts: dict[str, AccountState],
                 tx_records: dict[str, dict[str, str]]) -> None:
    """Every REVIEW and PENDING payout held or resolved; a held payout within its deadline."""
    for tx_id, outcome in outcome_of.items():
        if outcome not in HOLDING:
            continue
        status = tx_records.get(tx_id, {}).get(TX_STATUS)
        if status in (REVIEW_ENDINGS if outcome == "REVIEW" else PAYOUT_ENDINGS):
            ending = status.lower().removeprefix("payout_")  # payouts_succeeded, reviews_expired...
            found.counts[f"{'reviews' if outcome == 'REVIEW' else 'payouts'}_{ending}"] += 1
        else:
            found.problem("review_unaccounted", f"{tx_id} status {status}")
    held = {tx_id for state in accounts.values() for tx_id in state.holds}
    now_ms = time.time_ns() // 1_000_000
    for tx_id, outcome in outcome_of.items():
        record = tx_records.get(tx_id, {})
        is_held = record.get(TX_STATUS) == HELD
        if outcome in HOLDING and is_held != (tx_id in held):
            found.problem("hold_mismatch", f"{tx_id}: status HELD={is_held}, hold present={tx_id in held}")
        # A payout still held must be within its deadline (the expiry sweep runs every few s).
        if outcome != "PENDING" or not is_held:
            continue
        holder = accounts.get(record.get(TX_ACCOUNT, ""))
        hold = holder.holds.get(tx_id) if holder else None
        if hold and hold.expires_at_ms < now_ms - EXPIRY_GRACE_MS:
            found.problem("payout_past_deadline", f"{tx_id}: held {now_ms - hold.expires_at_ms} ms "
                                                  f"past its deadline")


def _check_postings(found: Findings, postings: list[Any], accounts: dict[str, AccountState],
                    codec: Codec) -> dict[str, set[str]]:
    """Check the postings among themselves and against balances; return posting ids by tx."""
    by_id: dict[str, dict[str, Any]] = {}
    for message in postings:
        posting = codec.decode(message.value())
        posting.pop("posted_at")  # a re-sent posting keeps its content, not its send time
        first = by_id.setdefault(posting["posting_id"], posting)
        if first != posting:
            found.problem("posting_applied_twice", posting["posting_id"])
    found.counts["postings"] = len(by_id)
    net: dict[tuple[str, str], int] = defaultdict(int)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    seqs: dict[str, list[int]] = defaultdict(list)
    for posting in by_id.values():
        signed = posting["amount"] if posting["direction"] == "CREDIT" else -posting["amount"]
        net[(posting["account"], posting["currency"])] += signed
        totals[posting["currency"]][posting["direction"] == "CREDIT"] += posting["amount"]
        seqs[posting["account"]].append(posting["account_seq"])
    for currency, (debits, credits) in sorted(totals.items()):
        if debits != credits:
            found.problem("unbalanced_currency", f"{currency}: debits {debits} credits {credits}")
    for account, numbers in seqs.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            found.problem("posting_sequence_gap", account)
    for (account, currency), amount in net.items():
        state = accounts.get(account)
        if state is None or state.balance(currency) != amount:
            actual = None if state is None else state.balance(currency)
            found.problem("balance_mismatch", f"{account} {currency}: state {actual}, postings {amount}")
    for account, state in accounts.items():
        for currency, balance in state.balances.items():
            if balance and (account, currency) not in net:
                found.problem("balance_without_postings", f"{account} {currency} {balance}")
            if balance < 0 and not is_system_account(account):
                found.problem("negative_customer_balance", f"{account} {currency} {balance}")
        found.counts["open_holds"] += len(state.holds)
    found.counts["accounts"] = len(accounts)
    legs: dict[str, set[str]] = defaultdict(set)
    for posting in by_id.values():
        legs[posting["tx_id"]].add(posting["posting_id"])
    return legs


_COORDINATOR_NOT_READY = frozenset({
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
})


def _committed(group_consumer: Consumer, tps: list[TopicPartition],
               timeout_s: float = 60.0) -> list[TopicPartition]:
    """The group's committed offsets, waiting out retriable errors: right after a broker
    restart the group coordinator answers NOT_COORDINATOR or "load in progress" for a while."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return group_consumer.committed(tps, timeout=10)
        except KafkaException as exc:
            error = exc.args[0]
            transient = error.retriable() or error.code() in _COORDINATOR_NOT_READY
            if not transient or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def lag(consumer: Consumer, group_consumer: Consumer, topics: list[str]) -> int:
    """Messages in `topics` not yet committed by the group `group_consumer` belongs to."""
    behind = 0
    for topic in topics:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in _committed(group_consumer, tps)}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            done = committed.get(p, -1)
            behind += high - max(done, low) if done >= 0 else high - low
    return behind
