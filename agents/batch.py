"""What a batch goes in and out as: input events, the state view, outputs, dead letters.

Shared by the pure processors (authorizer, settler) and the I/O around them (store, outbox).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec

from agents.fraud.fanin import Payment, Seen
from agents.fraud.labelrisk import Entry
from streams.accounts import AccountState
from streams.codec import Codec
from streams.errors import CodecError


@dataclass(slots=True)
class InputEvent:
    """One Kafka message as the agent received it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(slots=True)
class DeadLetter:
    event: InputEvent
    reason: str  # machine-readable: not_avro, truncated, invalid:<field>, conflict, stale...
    detail: str  # for people


#: Kafka record headers: name and bytes (agents.outbox hands them to aiokafka as they are).
Headers = list[tuple[str, bytes]]


class OutputMessage(msgspec.Struct, array_like=True, gc=False):
    """One message a batch sends. A Struct packed as an array, so a batch's outputs go into the
    outbox as they are (agents/store.py encode_outputs): [role, key, value, headers], the bytes
    a list per message made before, built ~0.3 µs a transaction cheaper (no list per message).
    gc=False: its fields are strings, bytes and a list of (str, bytes), never a cycle."""

    role: str  # topic role: decisions, postings, credits, dlq
    key: bytes
    value: bytes
    headers: Headers | None = None


class OutboxEntry(NamedTuple):
    """One batch's outputs of one partition in the outbox (`ob:<role>:<partition>`, field
    `batch_id`), from its commit until it is dropped after Kafka acknowledged them."""

    role: str
    partition: int
    batch_id: str


@dataclass
class StateView:
    """The state a batch needs, read once before it runs; versions are for the CAS on write."""

    accounts: dict[str, AccountState]
    versions: dict[str, int]  # account -> version read (0 = did not exist)
    tx_records: dict[str, dict[str, str]]  # tx_id -> fields present (empty = unknown tx)
    partition_event_time: dict[int, int]  # partition -> highest event time applied

    #: Set by the store: every account a batch touches must have been read (its version known),
    #: or the commit's version check would compare against a made-up 0.
    strict: bool = False
    #: What the fan-in sets held for each payment of the batch, by tx_id (authorize only).
    fan_in: dict[str, Seen] = field(default_factory=dict)
    #: The fraud labels held for the payments' payers and destinations, by account.
    label_risk: dict[str, list[Entry]] = field(default_factory=dict)
    #: Payments per day of the accounts with label-risk entries, as destinations.
    payment_days: dict[str, dict[int, int]] = field(default_factory=dict)
    #: On a Redis Cluster, the one partition whose keys the view was read from (and the commit
    #: writes); None on one server, where a batch spans partitions.
    partition: int | None = None
    #: Whether an earlier run may have left outputs in the outbox of the batch's partitions:
    #: False only when the store looked, in the same read, and found none but the entries the
    #: reader said are its own (agents/store.py).
    outbox_left: bool = True

    def account(self, account: str) -> AccountState:
        state = self.accounts.get(account)
        if state is None:
            if self.strict and account not in self.versions:
                raise AssertionError(f"account {account} was not read for this batch")
            state = self.accounts[account] = AccountState()
            self.versions.setdefault(account, 0)
        return state


@dataclass
class HoldChange:
    tx_id: str
    account: str
    partition: int
    expires_at_ms: int | None  # None: the hold is gone (posted or released)


@dataclass
class BatchResult:
    """Everything a batch changes, written atomically by the store, then sent by the outbox."""

    dirty: set[str] = field(default_factory=set)  # accounts whose state changed
    tx_updates: dict[str, dict[str, str]] = field(default_factory=dict)
    partition_event_time: dict[int, int] = field(default_factory=dict)
    holds: list[HoldChange] = field(default_factory=list)
    #: (partition, event_time, tx_id) of each new transaction record, for event-time pruning.
    tx_index: list[tuple[int, int, str]] = field(default_factory=list)
    outputs: dict[int, list[OutputMessage]] = field(default_factory=dict)  # by input partition
    #: Payments to add to their destinations' fan-in sets (agents.fraud.fanin).
    fan_in: list[Payment] = field(default_factory=list)
    #: Credits for other partitions, by input partition: (destination, credit record); sent
    #: in batches (Authorizer.seal_credits) rather than one message each.
    credits: dict[int, list[tuple[str, dict]]] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    #: (type, outcome, event time ms, produce time ms) of each transaction decided, for metrics.
    decided: list[tuple[str, str, int, int]] = field(default_factory=list)

    def emit(self, partition: int, message: OutputMessage) -> None:
        self.outputs.setdefault(partition, []).append(message)

    def credit(self, partition: int, destination: str, record: dict) -> None:
        self.credits.setdefault(partition, []).append((destination, record))

    def set_tx(self, tx_id: str, **fields: str) -> None:
        self.tx_updates.setdefault(tx_id, {}).update(fields)


def claim(view: StateView, result: BatchResult, account: str, role: str,
          offset: int) -> AccountState | None:
    """The account's state if this input event is new to it; None (counted) for a replay.

    A new event moves the account's applied watermark for `role`, so the account is written
    with the batch even if nothing else about it changes.
    """
    state = view.account(account)
    if state.is_replay(role, offset):
        result.counters["replayed"] += 1
        return None
    state.mark_applied(role, offset)
    result.dirty.add(account)
    return state


def decode_each(codec: Codec, events: list[InputEvent]) -> tuple[list[tuple[InputEvent, dict]], int]:
    """(event, record) of each event that decodes, and how many did not: for inputs whose bad
    messages are dropped and counted (a verdict or partner outcome that cannot be read has
    nothing to undo)."""
    decoded, bad = [], 0
    for event in events:
        try:
            decoded.append((event, codec.decode(event.value)))
        except CodecError:
            bad += 1
    return decoded, bad
