"""Reports put together bucket by bucket: the same rows as one query, settled buckets kept,
open ones read every time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from api.models import Bucket, Dimension
from api.reportcache import SETTLE_MS, ReportCache, ceil_ms

HOUR = 3_600_000
T0 = datetime(2026, 11, 30, tzinfo=UTC)
T0_MS = ceil_ms(T0)


class Rollup:
    """A rollup's rows per hour bucket, answering as api.reads.report_fragments does, and
    counting the reads."""

    def __init__(self, hours: int) -> None:
        self.rows = {T0_MS + h * HOUR: f'{{"h":{h}}}' for h in range(hours) if h % 5}  # some empty
        self.reads: list[tuple[datetime, datetime]] = []

    async def fetch(self, bucket: Bucket, by: Dimension, start: datetime, end: datetime) -> dict[int, str]:
        self.reads.append((start, end))
        return {at: rows for at, rows in self.rows.items() if ceil_ms(start) <= at < ceil_ms(end)}

    def expected(self, start: datetime, end: datetime) -> str:
        return "[" + ",".join(r for at, r in sorted(self.rows.items())
                              if ceil_ms(start) <= at < ceil_ms(end)) + "]"


def _report(cache: ReportCache, start: datetime, end: datetime) -> str:
    return asyncio.run(cache.json(Bucket.hour, Dimension.country, start, end))


def test_a_report_is_the_buckets_that_start_in_the_window_in_order_kept_ones_too() -> None:
    rollup = Rollup(48)
    now = (T0_MS + 48 * HOUR + SETTLE_MS + 1) / 1000  # every bucket has settled
    cache = ReportCache(rollup.fetch, keep_s=60, clock=lambda: now)
    for start, end in [(T0, T0 + timedelta(hours=24)),
                       (T0 + timedelta(minutes=30), T0 + timedelta(hours=30, minutes=1)),
                       (T0 + timedelta(hours=3), T0 + timedelta(hours=3)),
                       (T0 + timedelta(microseconds=1), T0 + timedelta(hours=2, microseconds=1)),
                       (T0 - timedelta(hours=5), T0 + timedelta(hours=48))]:
        assert _report(cache, start, end) == rollup.expected(start, end), (start, end)
    reads = len(rollup.reads)
    assert _report(cache, T0 + timedelta(hours=2), T0 + timedelta(hours=20)) == \
        rollup.expected(T0 + timedelta(hours=2), T0 + timedelta(hours=20))
    assert len(rollup.reads) == reads, "settled buckets read from PostgreSQL again"
    assert cache.hits > 0


def test_open_and_recent_buckets_are_read_every_time_and_keep_s_0_keeps_nothing() -> None:
    rollup = Rollup(10)
    now = (T0_MS + 9 * HOUR + 30 * 60_000) / 1000  # hour 9 is open, hour 8 ended 30 min ago
    cache = ReportCache(rollup.fetch, keep_s=60, clock=lambda: now)
    window = (T0, T0 + timedelta(hours=10))
    _report(cache, *window)
    rollup.rows[T0_MS + 9 * HOUR] = '{"h":9,"late":true}'
    assert _report(cache, *window) == rollup.expected(*window)
    assert rollup.reads[-1][0] == T0 + timedelta(hours=9), "only the open bucket read again"
    off = ReportCache(rollup.fetch, keep_s=0, clock=lambda: now)
    _report(off, *window)
    _report(off, *window)
    assert off.hits == 0 and rollup.reads[-1] == window


def test_a_kept_bucket_is_read_again_after_keep_s() -> None:
    rollup, clock = Rollup(4), [(T0_MS + 10 * HOUR) / 1000]
    cache = ReportCache(rollup.fetch, keep_s=60, clock=lambda: clock[0])
    window = (T0, T0 + timedelta(hours=4))
    _report(cache, *window)
    rollup.rows[T0_MS + HOUR] = '{"h":1,"late":true}'
    assert _report(cache, *window) != rollup.expected(*window)  # kept: the late row not seen yet
    clock[0] += 61
    assert _report(cache, *window) == rollup.expected(*window)
