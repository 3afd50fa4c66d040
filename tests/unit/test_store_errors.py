"""The state store's failures reach the worker as paystream errors that say whether to retry."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from agents.batch import OutboxEntry
from agents.store import RedisStateStore, StateConflictError, delete_namespace
from agents.workers import _retriable
from streams.errors import ConfigError, KafkaError, StateStoreError


def test_a_store_that_cannot_be_reached_raises_a_retriable_error() -> None:
    async def run() -> None:
        # Nothing listens on port 1: every call fails to connect, at once (no client retries).
        redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1,
                      retry=Retry(NoBackoff(), 0))
        store = RedisStateStore(redis, "t.", tx_ttl_s=60, window_ms=60_000)
        for call in (store.read({"acc-1"}, {"t1"}, {0}), store.outbox_done([OutboxEntry("credits", 0, "b")]),
                     store.pending_outbox(("credits",), [0]), store.expired_holds(0, 0, 10)):
            with pytest.raises(StateStoreError, match="unavailable") as caught:
                await call
            assert caught.value.retriable

    asyncio.run(run())


def test_the_worker_retries_what_says_it_is_retriable_and_nothing_else() -> None:
    assert _retriable(StateStoreError("down"))
    assert _retriable(StateConflictError("moved"))
    assert _retriable(KafkaError("not acknowledged", retriable=True))
    assert not _retriable(KafkaError("fatal", retriable=False))
    assert not _retriable(ConnectionError("raw: a bug, the store wraps these"))
    assert not _retriable(ValueError("a bug"))


def test_deleting_every_namespace_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty topic prefix"):
        asyncio.run(delete_namespace(Redis(host="127.0.0.1", port=1), ""))
