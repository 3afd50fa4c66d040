"""What the batch pipeline needs from the outside: an account-state store and an output sender.

`agents.store.RedisStateStore` and `agents.outbox.OutputSender` are the real ones; the unit tests
drive the pipeline with in-memory fakes of the same shape (tests/unit/fakes.py), so its replay,
stale-view and outbox cases are checked without servers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from agents.batch import BatchResult, OutboxEntry, OutputMessage, StateView
from agents.fraud.fanin import Payment
from streams.errors import PaystreamError


class StateConflictError(PaystreamError):
    """An account changed between a batch's read and its write; the batch must be recomputed."""

    retriable = True


class StateStore(Protocol):
    """Account state, transaction records and the outbox, written atomically per batch.

    Every method may raise a retriable `PaystreamError` when the store is unreachable.
    """

    async def read(self, accounts: set[str], tx_ids: set[str], partitions: set[int],
                   payments: dict[str, Payment] | None = None,
                   outbox_roles: tuple[str, ...] = (),
                   own: Collection[OutboxEntry] = ()) -> StateView:
        """Everything a batch needs: accounts with their versions, transaction records,
        partitions' event-time marks, and for `payments` (by tx_id) their fraud context; with
        `outbox_roles`, whether those roles' outboxes of the partitions hold any entry but
        the reader's `own` (`StateView.outbox_left`; a store may always say they might)."""
        ...

    async def commit(self, view: StateView, result: BatchResult, role: str, batch_id: str,
                     sent: Collection[OutboxEntry] = ()) -> dict[int, bytes]:
        """Write the batch's changes and its outputs (the outbox) in one atomic step, and drop
        the `sent` entries (earlier batches' outputs Kafka acknowledged) in the same step;
        return the outbox entries by partition. Raises StateConflictError (nothing written)
        if any account's version moved since `view` was read, or a record it creates was
        created meanwhile for another body."""
        ...

    async def outbox_done(self, entries: Collection[OutboxEntry]) -> None:
        """These entries' outputs were acknowledged: drop them."""
        ...

    async def pending_outbox(self, roles: tuple[str, ...], partitions: list[int]
                             ) -> list[tuple[str, int, str, list[OutputMessage]]]:
        """(batch id, partition, role, outputs) of every outbox entry still there."""
        ...

    async def expired_holds(self, partition: int, now_ms: int,
                            limit: int) -> list[tuple[str, str]]:
        """(account, tx_id) of up to `limit` holds of the partition expired by `now_ms`."""
        ...


class Sender(Protocol):
    async def send(self, messages: list[OutputMessage]) -> None:
        """Return once every message is acknowledged; raise (a PaystreamError) if any is not."""
        ...

    async def close(self) -> None:
        """Let go of the connections, at the worker's shutdown."""
        ...
