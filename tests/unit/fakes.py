"""In-memory stand-ins for the pipeline's ports (agents/ports.py), for unit tests.

`MemoryStateStore` keeps the contract the pipeline relies on and nothing more: versions checked
on commit (a moved account, or a record created meanwhile for another body, is a conflict and
nothing is written), records merged field by field, event-time marks that only move forward, the
outbox written with the batch and dropped by `outbox_done` or a later commit, holds by expiry. Fraud context
(fan-in, label risk) reads as empty. The Lua scripts themselves are tested against real Redis
(tests/integration/test_store.py, test_pipeline.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from agents.batch import BatchResult, OutboxEntry, OutputMessage, StateView
from agents.fraud.fanin import Payment, Seen
from agents.ports import StateConflictError
from streams.accounts import TX_HASH, AccountState
from streams.errors import KafkaError


class MemoryStateStore:
    def __init__(self) -> None:
        self.accounts: dict[str, tuple[int, bytes]] = {}  # name -> (version, encoded state)
        self.tx_records: dict[str, dict[str, str]] = {}
        self.event_time: dict[int, int] = {}
        self.holds: dict[tuple[int, str, str], int] = {}  # (partition, account, tx_id) -> expiry
        self.outbox: dict[tuple[str, int], dict[str, list[OutputMessage]]] = {}
        self.commits = 0
        #: Awaited after a read is taken and before it is returned: a test's chance to let
        #: another writer in between (the stale-view case).
        self.after_read: Callable[[], Awaitable[None]] | None = None

    def balance(self, account: str, currency: str = "EUR") -> int:
        _, blob = self.accounts.get(account, (0, b""))
        return AccountState.decode(blob).balance(currency) if blob else 0

    async def read(self, accounts: set[str], tx_ids: set[str], partitions: set[int],
                   payments: dict[str, Payment] | None = None,
                   outbox_roles: tuple[str, ...] = (),
                   own: Collection[OutboxEntry] = ()) -> StateView:
        view = StateView({}, {}, {}, {}, strict=True)
        if outbox_roles:
            view.outbox_left = any(OutboxEntry(role, p, batch_id) not in own
                                   for p in partitions for role in outbox_roles
                                   for batch_id in self.outbox.get((role, p), {}))
        for name in accounts:
            version, blob = self.accounts.get(name, (0, b""))
            view.versions[name] = version
            if blob:
                view.accounts[name] = AccountState.decode(blob)
        for tx_id in tx_ids:
            if tx_id in self.tx_records:
                view.tx_records[tx_id] = dict(self.tx_records[tx_id])
        for partition in partitions:
            view.partition_event_time[partition] = self.event_time.get(partition, 0)
        for tx_id in payments or {}:
            view.fan_in[tx_id] = Seen(0, -1)
        if self.after_read is not None:
            await self.after_read()
        return view

    async def commit(self, view: StateView, result: BatchResult, role: str, batch_id: str,
                     sent: Collection[OutboxEntry] = ()) -> dict[int, bytes]:
        for name in result.dirty:
            seen = self.accounts.get(name, (0, b""))[0]
            if seen != view.versions.get(name, 0):
                raise StateConflictError(f"{name}: version {seen}, batch read "
                                         f"{view.versions.get(name, 0)}")
        for tx_id, fields in result.tx_updates.items():
            held = self.tx_records.get(tx_id, {}).get(TX_HASH)
            if TX_HASH in fields and held is not None and held != fields[TX_HASH]:
                raise StateConflictError(f"t:{tx_id} created meanwhile for another body")
        for name in result.dirty:
            version = self.accounts.get(name, (0, b""))[0]
            self.accounts[name] = (version + 1, view.accounts[name].encode())
        for tx_id, fields in result.tx_updates.items():
            self.tx_records.setdefault(tx_id, {}).update(fields)
        for partition, event_time in result.partition_event_time.items():
            self.event_time[partition] = max(event_time, self.event_time.get(partition, 0))
        for change in result.holds:
            key = (change.partition, change.account, change.tx_id)
            if change.expires_at_ms is None:
                self.holds.pop(key, None)
            else:
                self.holds[key] = change.expires_at_ms
        for partition, messages in result.outputs.items():
            self.outbox.setdefault((role, partition), {})[batch_id] = list(messages)
        for entry in sent:
            self.outbox.get((entry.role, entry.partition), {}).pop(entry.batch_id, None)
        self.commits += 1
        return {p: b"" for p in result.outputs}

    async def outbox_done(self, entries: Collection[OutboxEntry]) -> None:
        for entry in entries:
            self.outbox.get((entry.role, entry.partition), {}).pop(entry.batch_id, None)

    async def pending_outbox(self, roles: tuple[str, ...], partitions: list[int]
                             ) -> list[tuple[str, int, str, list[OutputMessage]]]:
        return [(batch_id, partition, role, messages)
                for partition in partitions for role in roles
                for batch_id, messages in self.outbox.get((role, partition), {}).items()]

    async def expired_holds(self, partition: int, now_ms: int,
                            limit: int) -> list[tuple[str, str]]:
        due = sorted((expiry, account, tx_id)
                     for (p, account, tx_id), expiry in self.holds.items()
                     if p == partition and expiry <= now_ms)
        return [(account, tx_id) for _, account, tx_id in due[:limit]]


class MemorySender:
    """Keeps what it was given, in order; `broken` makes every send fail as a lost broker."""

    def __init__(self) -> None:
        self.sent: list[OutputMessage] = []
        self.broken = False

    async def send(self, messages: list[OutputMessage]) -> None:
        if self.broken:
            raise KafkaError("outputs not acknowledged: broker gone", retriable=True)
        self.sent.extend(messages)

    async def close(self) -> None:
        pass
