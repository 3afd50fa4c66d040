"""Reports put together bucket by bucket, settled buckets kept in memory for a while.

A dashboard asks for the same past hours and days again and again (a day by hour, a month by
day), and a past bucket of a rollup changes only when a late transaction lands in it. So each
bucket's rows (as JSON, api.reads.report_fragments) are kept once the bucket ended more than
SETTLE_MS ago, for PAYSTREAM_API_REPORT_CACHE_S seconds (0: never kept): a report of past buckets
may lag a late-arriving transaction by at most that long; open and recent buckets are read every
time. On the bench store a day by hour and country cost ~21 ms of PostgreSQL a request.

Buckets are aligned to the epoch, as the reporting sink writes them (date_trunc in UTC,
sinks.reporting).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache

from api.models import Bucket, Dimension

WIDTH_MS = {Bucket.minute: 60_000, Bucket.hour: 3_600_000, Bucket.day: 86_400_000}
#: A bucket that ended longer ago than this is settled: transactions are decided within
#: milliseconds of their event time unless the pipeline lags.
SETTLE_MS = 60_000
#: Memory for kept buckets (the JSON's length counted); a day by hour and country is ~370 KB.
MAX_BYTES = 64 * 2**20

Fetch = Callable[[Bucket, Dimension, datetime, datetime], Awaitable[dict[int, str]]]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def ceil_ms(moment: datetime) -> int:
    """The first epoch millisecond at or after `moment` (exact, no float)."""
    return -((EPOCH - moment) // _MS)


class ReportCache:
    def __init__(self, fetch: Fetch, keep_s: float, clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._clock = clock
        self._kept: TTLCache[tuple[Bucket, Dimension, int], str] | None = TTLCache(
            MAX_BYTES, keep_s, timer=clock, getsizeof=lambda rows: len(rows) + 1) if keep_s > 0 else None
        #: Buckets answered from memory and from PostgreSQL since start (the tests read them).
        self.hits = self.misses = 0

    async def json(self, bucket: Bucket, by: Dimension, start: datetime, end: datetime) -> str:
        """The report's rows as a JSON array, in bucket order (then key, then currency): the
        buckets that start in [start, end)."""
        width, low, high = WIDTH_MS[bucket], ceil_ms(start), ceil_ms(end)
        starts = range(-(-low // width) * width, high, width)
        settled_before = int(self._clock() * 1000) - SETTLE_MS
        rows: dict[int, str] = {}
        missing = []
        for at in starts:
            kept = self._kept.get((bucket, by, at)) if self._kept is not None else None
            if kept is None:
                missing.append(at)
            else:
                rows[at] = kept
        self.hits += len(starts) - len(missing)
        self.misses += len(missing)
        if missing:
            # One read from the first missing bucket to the last: kept ones in between are read
            # again rather than splitting the query.
            fetched = await self._fetch(bucket, by, _at(missing[0]), _at(min(missing[-1] + width, high)))
            for at in missing:
                rows[at] = fetched.get(at, "")
                if self._kept is not None and at + width <= settled_before:
                    self._kept[(bucket, by, at)] = rows[at]
        return "[" + ",".join(part for at in starts if (part := rows[at])) + "]"


def _at(ms: int) -> datetime:
    return EPOCH + ms * _MS
