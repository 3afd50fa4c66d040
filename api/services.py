"""What the API's handlers use, made once per process at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from api.keys import KeyStore
from streams.reviews import VerdictPublisher
from streams.settings import Settings, notify_redis_url

@dataclass
class Services:
    settings: Settings
    db: asyncpg.Pool
    state: Redis            # account state and transaction records (the workers' Redis)
    notify: Redis           # webhook delivery records
    keys: KeyStore
    limiter: MovingWindowRateLimiter
    publisher: VerdictPublisher
    rate_limit: RateLimitItem  # per key

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = await asyncpg.create_pool(
            settings.database_url, min_size=1, max_size=settings.api_pool_size,
            server_settings={"search_path": settings.db_schema, "timezone": "UTC",
                             "application_name": "paystream-api"})
        storage = RedisStorage(settings.api_redis_url, implementation="redispy",
                               key_prefix=f"ps:{settings.topic_prefix}api-limits")
        return cls(settings, db,
                   Redis.from_url(settings.redis_url, socket_timeout=5),
                   Redis.from_url(notify_redis_url(settings), socket_timeout=5),
                   KeyStore(db), MovingWindowRateLimiter(storage),
                   await asyncio.to_thread(VerdictPublisher, settings),
                   parse(settings.api_rate_limit))

    async def close(self) -> None:
        await asyncio.to_thread(self.publisher.close)
        await self.state.aclose()
        await self.notify.aclose()
        await self.db.close()
