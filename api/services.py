"""What the API's handlers use, made once per process at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncpg
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from api import reads
from api.keys import KeyStore
from api.reportcache import ReportCache
from streams.accounts import StateClient, state_client
from streams.partners import Partner, load_partners
from streams.producer import AckedPublisher
from streams.reviews import VerdictPublisher
from streams.settings import Settings, notify_redis_url


@dataclass
class Services:
    settings: Settings
    db: asyncpg.Pool
    state: StateClient      # account state and transaction records (the workers' Redis)
    notify: Redis           # webhook delivery records
    keys: KeyStore
    limiter: MovingWindowRateLimiter
    publisher: VerdictPublisher
    outcomes: AckedPublisher   # receive partners' callbacks, to payout-outcomes
    partners: dict[str, Partner]  # whose callbacks are accepted (PAYSTREAM_PARTNERS_PATH)
    rate_limit: RateLimitItem  # per key
    reports: ReportCache

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = await asyncpg.create_pool(
            settings.database_url, min_size=1, max_size=settings.api_pool_size,
            server_settings={"search_path": settings.db_schema, "timezone": "UTC",
                             "application_name": "paystream-api",
                             # Plan each query for its own arguments. asyncpg prepares every
                             # statement, and after five runs PostgreSQL may switch to a generic
                             # plan: for an account's history that was a sort of all its rows in
                             # the window (3.6-69 ms) instead of reading 50 from each index
                             # (0.3 ms). Planning costs ~0.1 ms.
                             "plan_cache_mode": "force_custom_plan"},
            reset=_keep_session)
        keys = KeyStore(db)
        await keys.listen(settings.database_url)
        storage = RedisStorage(settings.api_redis_url, implementation="redispy",
                               key_prefix=f"ps:{settings.topic_prefix}api-limits")
        return cls(settings, db,
                   state_client(settings.redis_url, settings.redis_cluster, socket_timeout=5),
                   Redis.from_url(notify_redis_url(settings), socket_timeout=5),
                   keys, MovingWindowRateLimiter(storage),
                   await asyncio.to_thread(VerdictPublisher, settings),
                   await asyncio.to_thread(AckedPublisher, settings, "payout_outcomes", "payout_outcome"),
                   # receive partners only: their callbacks are the only ones the API takes
                   {p.partner_id: p for p in (load_partners(Path(settings.partners_path),
                                                            kind="PAYOUT_INSTRUCTION")
                                              if settings.partners_path else [])},
                   parse(settings.api_rate_limit),
                   ReportCache(partial(reads.report_fragments, db), settings.api_report_cache_s))

    async def close(self) -> None:
        await asyncio.to_thread(self.publisher.close)
        await asyncio.to_thread(self.outcomes.close)
        await self.state.aclose()
        await self.notify.aclose()
        await self.keys.close()
        await self.db.close()


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing beyond asyncpg's own
    rollback of an open transaction. The API never changes a session (no SET, LISTEN, advisory
    locks or cursors outside a transaction), and asyncpg's default reset (RESET ALL, CLOSE ALL,
    UNLISTEN *, ...) was one more round trip to PostgreSQL on every query (py-spy, `make
    bench-api`)."""
