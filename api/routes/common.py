"""Checks several endpoints share."""

from __future__ import annotations

from datetime import timedelta

from api.errors import invalid
from api.models import Bucket, TimeRange

#: The longest range a minute-by-minute report may cover: 2,880 buckets per group.
MINUTE_REPORT_MAX = timedelta(days=2)


def check_range(query: TimeRange, max_days: int, bucket: Bucket | None = None) -> None:
    if query.end <= query.start:
        raise invalid("query", "to", "must be after 'from'")
    longest = MINUTE_REPORT_MAX if bucket is Bucket.minute else timedelta(days=max_days)
    if query.end - query.start > longest:
        raise invalid("query", "to", f"the range may cover at most {longest.days} days"
                                     + (" with bucket=minute" if bucket is Bucket.minute else ""))
