"""Authorize a batch of transactions: pure logic, no I/O.

For each transaction, in partition order: skip replays (offset at or below the account's applied
watermark), deduplicate by tx_id (same body: ignored; different body: conflict), refuse stale
ones; then the batch's payments are assessed at once (features, lists, rules, model:
agents.fraud.assess); then, in order again, funds are checked and each is debited, held or
declined. Outputs (decision,
postings, credit for the destination's partition, dead letters) are encoded here so the outbox
can store them as bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, cast

import paystream_avro

from agents.batch import (
    BatchResult,
    DeadLetter,
    Headers,
    HoldChange,
    InputEvent,
    OutputMessage,
    StateView,
    claim,
)
from agents.fraud.assess import Assessment, Assessor, ModelSource
from agents.fraud.fanin import Seen
from agents.fraud.model import FixedModels
from agents.outputs import OutputEncoder
from agents.postings import CREDIT, CREDIT_LEG, DEBIT, DEBIT_LEG, system_shard
from agents.rules import APPROVE, DECLINE, REVIEW, Rules
from streams.accounts import (
    APPROVED,
    DECLINED,
    HELD,
    TX_ACCOUNT,
    TX_HASH,
    TX_PAYOUT,
    TX_STATUS,
    AccountState,
    Hold,
)
from streams.codec import Codec, SingleObjectCodec, encode_all, load_versions
from streams.errors import CodecError, ValidationError
from streams.msgpacking import pack
from streams.partitioning import partition_for
from streams.quotes import EMPTY, QuoteFile, QuoteTable
from streams.records import (
    DEPOSIT,
    PAYOUT,
    WITHDRAWAL,
    Channel,
    Payout,
    Transaction,
    TransactionType,
)
from streams.validation import (
    AMOUNT_MAX,
    AUTH_METHODS,
    COUNTRIES,
    CURRENCIES,
    EVENT_TIME_MIN_MS,
    validate,
)

ROLE = "transactions"
#: A PAYOUT held until its receive partner answers (docs/send-money.md); never a review.
PENDING = "PENDING"
#: Most credits in one message (~90 bytes each: far below Kafka's 1 MB message limit).
CREDITS_PER_MESSAGE = 1000


@dataclass(slots=True)
class Valid:
    event: InputEvent
    tx: Transaction
    body_hash: str


@dataclass(frozen=True)
class Codecs:
    transaction: Codec
    decision: Codec
    posting: Codec
    credit: Codec


def body_hash(record: dict[str, Any]) -> str:
    """Fingerprint of a decoded transaction record, whichever schema version carried it: its
    fields in the reader schema's order (a writer schema from a registry may order them
    otherwise), which is the order of `Transaction.to_record`, so stored fingerprints stay valid
    (tests/unit/test_authorize.py holds them equal). A transaction without payout details
    hashes without the field, as before schema v3: the dedupe records written before it still
    match their retries. Takes payout out of `record` when it is empty."""
    payout = record.get("payout")
    if tuple(record) == _RECORD_FIELDS and (payout is None or tuple(payout) == _PAYOUT_FIELDS):
        canonical = record  # the usual case, a record of a schema we ship: already in order
        if payout is None:
            del canonical["payout"]
    else:
        canonical = {name: record[name] for name in _BODY_FIELDS}
        if payout is not None:
            canonical["payout"] = {name: payout[name] for name in _PAYOUT_FIELDS}
    return hashlib.blake2b(pack(canonical), digest_size=12).hexdigest()


_SCHEMA_FIELDS = {field["name"]: field
                  for field in json.loads(load_versions("transaction")[-1].text)["fields"]}
#: The transaction's fields in the reader schema's order; without payout; payout's own.
_RECORD_FIELDS = tuple(_SCHEMA_FIELDS)
_BODY_FIELDS = tuple(name for name in _RECORD_FIELDS if name != "payout")
_PAYOUT_RECORD = next(t for t in _SCHEMA_FIELDS["payout"]["type"] if isinstance(t, dict))
_PAYOUT_FIELDS = tuple(field["name"] for field in _PAYOUT_RECORD["fields"])


def dead_letter_message(letter: DeadLetter, source_topic: str, now_ms: int) -> OutputMessage:
    """The original bytes and key, untouched, with why and where in the headers."""
    headers: Headers = [
        ("reason", letter.reason.encode()),
        ("detail", letter.detail.encode("utf-8", "replace")[:1000]),
        ("source.topic", source_topic.encode()),
        ("source.partition", str(letter.event.partition).encode()),
        ("source.offset", str(letter.event.offset).encode()),
        ("failed.at", str(now_ms).encode()),
    ]
    return OutputMessage("dlq", letter.event.key or b"", letter.event.value, headers)


def triage(events: list[InputEvent], codec: Codec, now_ms: int, max_clock_skew_ms: int,
           partitions: int) -> tuple[list[Valid], list[DeadLetter]]:
    """Decode and validate; what fails becomes a dead letter with its reason.

    A transaction must arrive keyed by its partition key and in that key's murmur2 partition:
    an account's state is owned by one partition, and its replay watermark only means something
    there. A producer using another partitioner (librdkafka's default is not murmur2) or no key
    gets its messages dead-lettered, never silently skipped.

    The plainly valid ones are decided in compiled code (`_compiled_triage`); it passes every
    other one here, where `_triage_one` decides it and says what is wrong.
    """
    compiled = _compiled_triage(cast(Hashable, codec))  # a codec is made once, and kept
    checked = (compiled.check(events, now_ms, max_clock_skew_ms, partitions)
               if compiled is not None else [None] * len(events))
    if None not in checked:
        return cast(list[Valid], checked), []
    valid: list[Valid] = []
    dead: list[DeadLetter] = []
    for event, item in zip(events, checked, strict=True):
        if item is None:
            item = _triage_one(event, codec, now_ms, max_clock_skew_ms, partitions)
        (valid if isinstance(item, Valid) else dead).append(item)
    return valid, dead


def _triage_one(event: InputEvent, codec: Codec, now_ms: int, max_clock_skew_ms: int,
                partitions: int) -> Valid | DeadLetter:
    try:
        record = codec.decode(event.value)
        tx = Transaction.from_record(record)
        validate(tx, now_ms, max_clock_skew_ms)
    except CodecError as exc:
        return DeadLetter(event, exc.code, str(exc))
    except ValidationError as exc:
        return DeadLetter(event, f"invalid:{exc.field}", str(exc))
    if event.key != tx.partition_key.encode():
        return DeadLetter(event, "invalid:key",
                          f"key {event.key!r} is not the partition key {tx.partition_key!r}")
    expected = partition_for(event.key, partitions)
    if event.partition != expected:
        return DeadLetter(event, "invalid:partition",
                          f"key {tx.partition_key!r} belongs in partition {expected} "
                          f"(murmur2), not {event.partition}")
    return Valid(event, tx, body_hash(record))


@functools.cache
def _compiled_triage(codec: Hashable) -> paystream_avro.Triage | None:
    """native/avro/src/triage.rs for a codec reading single-object messages into the newest
    transaction schema (the fields it knows); None for any other codec, and Python decides all.
    It answers only for the plainly valid, with what `_triage_one` would (a test holds it so)."""
    if not isinstance(codec, SingleObjectCodec):
        return None
    fields = tuple(field["name"] for field in json.loads(codec.reader.text)["fields"])
    if fields != _RECORD_FIELDS:
        return None
    return paystream_avro.Triage(
        codec.reader.native, codec.reader_header, Transaction, Payout, Valid,
        {t.value: t for t in TransactionType}, {c.value: c for c in Channel},
        CURRENCIES, COUNTRIES, AUTH_METHODS, AMOUNT_MAX, EVENT_TIME_MIN_MS)


def needed_accounts(valid: list[Valid]) -> set[str]:
    accounts = set()
    for item in valid:
        tx = item.tx
        accounts.add(tx.partition_key)
        if tx.type is DEPOSIT:
            accounts.add(system_shard(tx.source_account, item.event.partition))
        elif tx.type is WITHDRAWAL:
            accounts.add(system_shard(tx.destination_account, item.event.partition))
    return accounts


NOT_SEEN = Seen(0, -1)


class Authorizer:
    def __init__(self, rules: Rules, codecs: Codecs, source_topic: str, dedupe_window_ms: int,
                 clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 models: ModelSource | None = None, *, partitions: int,
                 quotes: QuoteTable | QuoteFile = EMPTY,
                 payout_deadlines: dict[str, int] | None = None) -> None:
        self.assessor = Assessor(rules, models or FixedModels(None))
        #: Receive partner -> seconds its payouts are held (others: the rules' payout_deadline_s).
        self._deadlines = payout_deadlines or {}
        self._quotes = quotes
        self._table = quotes.table()
        self._codecs = codecs
        self._outputs = OutputEncoder(codecs.decision, codecs.posting)
        self._partitions = partitions
        self._source_topic = source_topic
        self._window_ms = dedupe_window_ms
        self._clock_ms = clock_ms

    @property
    def rules(self) -> Rules:
        return self.assessor.rules

    @property
    def transaction_codec(self) -> Codec:
        """What triage() decodes the input with."""
        return self._codecs.transaction

    def apply(self, valid: list[Valid], dead: list[DeadLetter], view: StateView) -> BatchResult:
        now_ms = self._clock_ms()
        result = BatchResult()
        self._table = self._quotes.table()  # the quotes as of this batch
        for letter in dead:
            result.emit(letter.event.partition,
                        dead_letter_message(letter, self._source_topic, now_ms))
            result.counters[f"dlq:{letter.reason}"] += 1
        accepted = [(item, owner) for item in valid
                    if (owner := self._accept(item, view, result, now_ms)) is not None]
        assessed = self._assess([(item, owner) for item, owner in accepted
                                 if item.tx.type is not DEPOSIT], view, result)
        for item, owner in accepted:
            self._one(item, owner, assessed.get(item.tx.tx_id), view, result, now_ms)
        self.seal_credits(result)
        return result

    def seal_credits(self, result: BatchResult) -> None:
        """Turn the batch's credits into messages: one per input and destination partition.

        Fewer, larger messages cost the producer, broker and consumer less (and when Faust
        delivered one event per record, each cost ~65 µs of worker CPU), so settle takes its
        credits in batches, framed records back to back (streams.codec.encode_all;
        a single credit is a batch of one, so earlier messages still read). Keyed by one of
        its destinations: every destination in it lives in that partition. Within a message
        the credits keep the batch's order, so each origin's offsets still increase.
        """
        for partition, credits in result.credits.items():
            groups: dict[int, list[tuple[str, dict]]] = {}
            for destination, record in credits:
                groups.setdefault(partition_for(destination, self._partitions), []).append(
                    (destination, record))
            for group in groups.values():
                for start in range(0, len(group), CREDITS_PER_MESSAGE):
                    chunk = group[start:start + CREDITS_PER_MESSAGE]
                    result.emit(partition, OutputMessage(
                        "credits", chunk[0][0].encode(),
                        encode_all(self._codecs.credit, [record for _, record in chunk])))
        result.credits.clear()

    def _dead(self, item: Valid, result: BatchResult, reason: str, detail: str, now_ms: int) -> None:
        letter = DeadLetter(item.event, reason, detail)
        result.emit(item.event.partition, dead_letter_message(letter, self._source_topic, now_ms))
        result.counters[f"dlq:{reason}"] += 1

    def _accept(self, item: Valid, view: StateView, result: BatchResult,
                now_ms: int) -> AccountState | None:
        """The owner's state if the transaction is new (not a replay, duplicate or stale)."""
        tx, event = item.tx, item.event
        owner = claim(view, result, tx.partition_key, ROLE, event.offset)
        if owner is None:
            return None
        seen = view.tx_records.get(tx.tx_id)
        if seen:
            if seen.get(TX_HASH) == item.body_hash:
                result.counters["duplicate"] += 1
            else:
                self._dead(item, result, "conflict",
                           f"tx_id {tx.tx_id} was already used for a different transaction", now_ms)
            return None
        high_water = view.partition_event_time.get(event.partition, 0)
        if tx.event_time < high_water - self._window_ms:
            self._dead(item, result, "stale",
                       f"event_time {tx.event_time} is more than {self._window_ms} ms before "
                       f"this partition's newest event ({high_water}); too old to deduplicate",
                       now_ms)
            return None
        if tx.event_time > high_water:
            view.partition_event_time[event.partition] = tx.event_time
            result.partition_event_time[event.partition] = tx.event_time
        view.tx_records[tx.tx_id] = {TX_HASH: item.body_hash}  # later duplicates in this batch
        return owner

    def _assess(self, payments: list[tuple[Valid, AccountState]], view: StateView,
                result: BatchResult) -> dict[str, Assessment]:
        """Score every payment of the batch at once; profiles move on whatever the outcome."""
        if not payments:
            return {}
        txs = [item.tx for item, _ in payments]
        profiles = {item.tx.source_account: owner.profile for item, owner in payments}
        seen = [view.fan_in.get(tx.tx_id, NOT_SEEN) for tx in txs]
        batch = self.assessor.assess(txs, profiles, seen, view.label_risk, view.payment_days)
        for tx, (_, owner) in zip(txs, payments, strict=True):
            owner.profile = batch.profiles[tx.source_account]
        result.fan_in.extend(batch.payments)
        return {tx.tx_id: a for tx, a in zip(txs, batch.assessments, strict=True)}

    def _one(self, item: Valid, owner: AccountState, assessment: Assessment | None,
             view: StateView, result: BatchResult, now_ms: int) -> None:
        tx, event = item.tx, item.event
        if assessment is None:
            status, outcome, reasons = self._deposit(item, owner, view, result, now_ms)
        else:
            status, outcome, reasons = self._debit(item, owner, assessment, view, result, now_ms)
        result.set_tx(tx.tx_id, **{TX_HASH: item.body_hash, TX_STATUS: status})
        result.tx_index.append((event.partition, tx.event_time, tx.tx_id))
        if status == HELD:
            result.set_tx(tx.tx_id, **{TX_ACCOUNT: tx.source_account})
            if tx.payout is not None:  # what settling it needs when the partner answers
                result.set_tx(tx.tx_id, **{TX_PAYOUT: json.dumps(tx.payout.to_record())})
        result.counters[outcome] += 1
        result.decided.append((tx.type.value, outcome, tx.event_time, event.timestamp_ms))
        result.emit(event.partition, OutputMessage(
            "decisions", tx.partition_key.encode(),
            self._outputs.decision(tx, event, outcome, reasons, assessment, now_ms)))

    def _deposit(self, item: Valid, owner: AccountState, view: StateView, result: BatchResult,
                 now_ms: int) -> tuple[str, str, list[str]]:
        tx, p = item.tx, item.event.partition
        if tx.destination_account in self.rules.lists.block_accounts:
            return DECLINED, DECLINE, ["block:account"]
        shard_name = system_shard(tx.source_account, p)
        shard = view.account(shard_name)
        result.dirty.add(shard_name)
        self._outputs.post(result, p, shard, shard_name, tx.tx_id, tx.amount, tx.currency,
                           tx.event_time, now_ms, direction=DEBIT, leg=DEBIT_LEG)
        self._outputs.post(result, p, owner, tx.destination_account, tx.tx_id, tx.amount,
                           tx.currency, tx.event_time, now_ms, direction=CREDIT, leg=CREDIT_LEG)
        return APPROVED, APPROVE, []

    def _debit(self, item: Valid, owner: AccountState, assessment: Assessment, view: StateView,
               result: BatchResult, now_ms: int) -> tuple[str, str, list[str]]:
        tx, p = item.tx, item.event.partition
        outcome, reasons = assessment.outcome, assessment.reasons
        payout = tx.type is PAYOUT
        if payout and tx.payout is not None:
            refusal = self._table.refusal(tx.payout, tx.amount, tx.currency, tx.event_time)
            if refusal is not None:
                return DECLINED, DECLINE, [refusal, *reasons]
        if outcome == DECLINE:
            return DECLINED, DECLINE, reasons
        if payout and outcome == REVIEW:
            # Money that left through a partner cannot be called back: a payout the checks
            # doubt is declined, not parked for a reviewer while its quote runs out.
            return DECLINED, DECLINE, ["payout:review", *reasons]
        if owner.available(tx.currency) < tx.amount:
            return DECLINED, DECLINE, ["insufficient_funds", *reasons]
        if outcome == REVIEW or payout:
            if len(owner.holds) >= self.rules.limits.max_holds_per_account:
                return DECLINED, DECLINE, ["too_many_holds", *reasons]
            limits = self.rules.limits
            wait_s = (self._deadlines.get(tx.payout.receive_partner, limits.payout_deadline_s)
                      if payout and tx.payout is not None else limits.hold_max_age_s)
            expires = now_ms + wait_s * 1000
            owner.holds[tx.tx_id] = Hold(tx.tx_id, tx.destination_account, tx.amount, tx.currency,
                                         tx.event_time, expires, tx.type.value)
            result.holds.append(HoldChange(tx.tx_id, tx.source_account, p, expires))
            return HELD, PENDING if payout else REVIEW, reasons
        self.move(result, view, p, owner, tx.tx_id, tx.source_account, tx.destination_account,
                  tx.amount, tx.currency, tx.event_time, tx.type.value, now_ms,
                  origin=(f"t{p}", item.event.offset))
        return APPROVED, APPROVE, reasons

    def move(self, result: BatchResult, view: StateView, partition: int, payer: AccountState,
             tx_id: str, source: str, destination: str, amount: int, currency: str,
             event_time: int, tx_type: str, now_ms: int, origin: tuple[str, int]) -> None:
        """Debit the payer here; credit a withdrawal's shard here, anyone else via `credits`.

        `origin` (input topic and partition, offset) travels with the credit so that settle can
        tell a second copy from a new credit without the transaction record (agents.settler).
        """
        self._outputs.post(result, partition, payer, source, tx_id, amount, currency, event_time,
                           now_ms, direction=DEBIT, leg=DEBIT_LEG)
        if tx_type == WITHDRAWAL:  # a str enum: equal to its value
            shard_name = system_shard(destination, partition)
            shard = view.account(shard_name)
            result.dirty.add(shard_name)
            self._outputs.post(result, partition, shard, shard_name, tx_id, amount, currency,
                               event_time, now_ms, direction=CREDIT, leg=CREDIT_LEG)
            return
        record = {"tx_id": tx_id, "source_account": source, "destination_account": destination,
                  "amount": amount, "currency": currency, "event_time": event_time,
                  "origin": origin[0], "origin_offset": origin[1]}
        result.credit(partition, destination, record)
