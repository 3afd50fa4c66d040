from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from streams.settings import Settings


@pytest.fixture
def pipeline_settings(stack_settings: Settings, redis_url: str) -> Iterator[Settings]:
    """Topics of this test's own, Redis state under the same prefix, removed afterwards."""
    settings = stack_settings.model_copy(update={"redis_url": redis_url})
    yield settings

    async def clean() -> None:
        redis = Redis.from_url(redis_url)
        async for key in redis.scan_iter(match=f"ps:{settings.topic_prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()

    asyncio.run(clean())
