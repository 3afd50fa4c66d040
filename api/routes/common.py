"""Checks several endpoints share."""

from __future__ import annotations

from datetime import timedelta

from api.errors import invalid
from api.models import Bucket, TimeRange

#: The longest range a minute-by-minute report may cover: 2,880 buckets per group.
MINUTE_REPORT_MAX = timedelta(days=2)
#: The longest range of the reports read from rows rather than rollups (latency, top merchants).
RECENT_MAX = timedelta(hours=6)


def check_range(query: TimeRange, max_days: int, bucket: Bucket | None = None,
                longest: timedelta | None = None) -> None:
    if query.end <= query.start:
        raise invalid("query", "to", "must be after 'from'")
    if longest is None:
        longest = MINUTE_REPORT_MAX if bucket is Bucket.minute else timedelta(days=max_days)
    if query.end - query.start > longest:
        raise invalid("query", "to", f"the range may cover at most {_span(longest)}"
                                     + (" with bucket=minute" if bucket is Bucket.minute else ""))


def _span(longest: timedelta) -> str:
    hours = int(longest.total_seconds() // 3600)
    return f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"
