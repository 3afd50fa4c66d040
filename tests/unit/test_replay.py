"""The load generator's replay (streams/replay.py): outcomes counted per round, without Kafka."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from streams.replay import _Replay


def _replay() -> _Replay:
    return _Replay(producer=None, topic="t", partitions=12,  # type: ignore[arg-type]
                   on_progress=None, ack_timeout_s=0.1)


def test_a_round_never_acknowledged_is_counted_undelivered_by_its_deadline() -> None:
    # aiokafka's idempotent producer retries an unreachable broker without end: the replay must
    # end anyway, saying how many records were not delivered, not wait forever.
    async def scenario() -> tuple[int, int, int]:
        replay = _replay()
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[Any] = loop.create_future()
        acked.set_result(None)
        never: asyncio.Future[Any] = loop.create_future()
        started = loop.time()
        await asyncio.wait_for(replay._count([(acked, 3), (never, 5)], started + 0.1), 5)
        assert loop.time() - started < 1
        assert not never.cancelled()  # the producer's own future is left to the producer
        return replay._sent, replay._undelivered, replay._failed

    assert asyncio.run(scenario()) == (3, 5, 0)


def test_a_round_that_failed_counts_its_records_by_error() -> None:
    async def scenario() -> _Replay:
        replay = _replay()
        loop = asyncio.get_running_loop()
        failed: asyncio.Future[Any] = loop.create_future()
        failed.set_exception(NotLeaderForPartitionError())
        timed_out: asyncio.Future[Any] = loop.create_future()
        timed_out.set_exception(KafkaTimeoutError())
        await replay._count([(failed, 4), (timed_out, 2)], loop.time() + 1)
        return replay

    replay = asyncio.run(scenario())
    assert (replay._sent, replay._failed, replay._undelivered) == (0, 6, 0)
    assert replay._errors == {"NotLeaderForPartitionError": 4, "KafkaTimeoutError": 2}
