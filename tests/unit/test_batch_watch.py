"""A batch that waits too long says so in the log, with where it waits; the agent still
retries what is retriable and gets the batch through."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agents import workers
from streams.errors import StateStoreError


async def _reply(gate: asyncio.Event) -> str:
    await gate.wait()
    return "reply"


async def _read_state(gate: asyncio.Event, seen: list[str]) -> None:
    seen.append(await _reply(gate))


def test_a_batch_that_waits_long_logs_where_it_waits_and_then_completes(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(workers, "STALL_WARN_S", 0.05)
    seen: list[str] = []

    async def run() -> None:
        gate = asyncio.Event()
        asyncio.get_running_loop().call_later(0.18, gate.set)
        await workers.run_batch("authorize", lambda events: _read_state(gate, seen), [])

    with caplog.at_level(logging.WARNING, logger="agents.workers"):
        asyncio.run(run())
    assert seen == ["reply"]
    stalls = [r.getMessage() for r in caplog.records if "has run" in r.getMessage()]
    assert 2 <= len(stalls) <= 4, stalls
    assert stalls[0].startswith("authorize: a batch of 0 has run 0 s; it awaits _read_state ")
    assert "_reply (test_batch_watch.py:" in stalls[0]
    assert "<- wait (locks.py:" in stalls[0]  # the Event: what nothing has answered yet


def test_a_retriable_failure_is_retried_and_the_batch_gets_through(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "RETRY_DELAY_S_MIN", 0.001)
    attempts: list[int] = []

    async def flaky(events: list[object]) -> None:
        attempts.append(len(events))
        if len(attempts) < 3:
            raise StateStoreError("unavailable: connection reset")

    asyncio.run(workers.run_batch("settle", flaky, []))
    assert attempts == [0, 0, 0]
