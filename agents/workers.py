"""The Faust agents: authorize (transactions) and settle (credits), batched.

Each agent takes up to `batch_size` events (or what arrived within `batch_wait_s`) and hands
them to the batch pipeline. faust-streaming 0.15 acks a take_events() batch only after the loop
body finished (so offsets are committed only after our outputs are acknowledged), but an
exception escaping the body acks the failed batch too, and concurrency > 1 can commit past
events in flight. Hence concurrency=1, and no exception ever leaves the body: retriable
failures (Redis or Kafka unreachable) retry the same batch with backoff, stalling this agent
rather than losing anything; anything else ends the process at once with exit status 1, before
Faust can ack, and the batch is consumed again by whoever takes the partition over.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents.batch import InputEvent
from agents.pipeline import BatchPipeline
from streams.app import raw_topic
from streams.errors import PaystreamError
from streams.topics import Topics

log = logging.getLogger(__name__)

RETRY_DELAY_S_MIN = 0.1
RETRY_DELAY_S_MAX = 5.0


def to_input(event: Any) -> InputEvent:
    message = event.message
    return InputEvent(message.partition, message.offset, message.key, message.value,
                      int(message.timestamp * 1000))


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, PaystreamError):
        return exc.retriable
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, ConnectionError,
                            asyncio.TimeoutError, OSError))


async def run_batch(name: str, handler: Callable[[list[InputEvent]], Awaitable[Any]],
                    events: list[Any]) -> None:
    """Run `handler` on the batch's Faust events until it succeeds; see the module docstring."""
    delay_s = RETRY_DELAY_S_MIN
    attempt = 0
    while True:
        attempt += 1
        try:
            await handler([to_input(e) for e in events])
            if attempt > 1:
                log.info("%s: batch of %d succeeded after %d attempts", name, len(events), attempt)
            return
        except BaseException as exc:  # noqa: BLE001 - nothing may escape to Faust (see above)
            if isinstance(exc, asyncio.CancelledError) or not _retriable(exc):
                log.critical("%s: unrecoverable error on a batch of %d; exiting so the batch "
                             "is consumed again: %r", name, len(events), exc, exc_info=True)
                logging.shutdown()
                os._exit(1)
            log.warning("%s: %s; retrying the batch in %.1f s (attempt %d)", name, exc, delay_s,
                        attempt)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, RETRY_DELAY_S_MAX)


def register(app: faust.App, pipeline: BatchPipeline, names: Topics, batch_size: int,
             batch_wait_s: float, hold_sweep_s: float = 5.0) -> None:
    transactions = raw_topic(app, names.transactions.name)
    credits = raw_topic(app, names.credits.name)
    reviews = raw_topic(app, names.reviews.name)

    @app.agent(transactions, name="authorize", concurrency=1)
    async def authorize(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait_s):
            await run_batch("authorize", pipeline.authorize, batch)

    @app.agent(credits, name="settle", concurrency=1)
    async def settle(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait_s):
            await run_batch("settle", pipeline.settle, batch)

    @app.agent(reviews, name="review", concurrency=1)
    async def review(stream: Any) -> None:
        async for batch in stream.take_events(batch_size, within=batch_wait_s):
            await run_batch("review", pipeline.review, batch)

    @app.timer(hold_sweep_s)
    async def expire_holds() -> None:
        # Only partitions this worker owns: their accounts are written by no one else.
        owned = sorted(tp.partition for tp in app.consumer.assignment()
                       if tp.topic == names.transactions.name)
        for partition in owned:
            async def sweep(_: list[InputEvent], partition: int = partition) -> None:
                await pipeline.expire_holds(partition)

            await run_batch("expiry", sweep, [])
