"""Which rollup buckets the reporting sink compacts: those whose partial rows collapse."""

from __future__ import annotations

import asyncio
from typing import Any

from sinks.reporting import (
    COLLAPSE_MIN,
    MINUTE_MS,
    PENDING_BUCKETS_MAX,
    ReportingWriter,
)

T0 = 1_767_225_600_000  # a day's, an hour's and a minute's start


class _Recorder:
    """Stands in for the connection: records each compaction statement's table and buckets."""

    def __init__(self) -> None:
        self.compacted: dict[str, list[int]] = {}

    async def execute(self, sql: str, buckets: list[int]) -> None:
        table = sql.split("DELETE FROM ", 1)[1].split()[0]
        self.compacted[table] = sorted(buckets)


def _group(minute_ms: int, outcome: str = "APPROVE", country: str = "DE") -> tuple:
    """A minute-sum row as DecisionRows.minute_sums (sinks/rows.py) makes it."""
    return (minute_ms, "EUR", outcome, country, "5411", 1, 1_000, 0.25, 40, False)


def _compact(writer: ReportingWriter, db: _Recorder) -> dict[str, list[int]]:
    db.compacted = {}
    asyncio.run(writer.compact())
    return db.compacted


def _writer() -> tuple[ReportingWriter, _Recorder]:
    db = _Recorder()
    return ReportingWriter(db, clock=lambda: 0.0), db  # type: ignore[arg-type]


def test_the_open_buckets_of_live_traffic_collapse_and_are_compacted() -> None:
    # Event times near the wall clock: every batch brings the same keys to the open minute.
    writer, db = _writer()
    for _ in range(COLLAPSE_MIN):
        writer._appended([_group(T0), _group(T0, "DECLINE")])
    assert _compact(writer, db) == {"report_rollup_minute": [T0], "report_rollup_hour": [T0],
                                    "report_rollup_day": [T0]}
    assert _compact(writer, db) == {}, "compacted buckets start again from no partial rows"


def test_a_replay_spread_over_many_buckets_is_left_as_appended() -> None:
    # Each batch's keys are new to their minute: compacting would only rewrite the rows. Their
    # hour and day, appended to by every batch, are compacted.
    writer, db = _writer()
    for batch in range(6):
        writer._appended([_group(T0 + batch * MINUTE_MS, country=c) for c in ("DE", "FR")])
    assert _compact(writer, db) == {"report_rollup_hour": [T0], "report_rollup_day": [T0]}


def test_distinct_keys_in_one_minute_do_not_collapse() -> None:
    # Its hour and day are compacted by batches: they hold the same keys minute after minute.
    writer, db = _writer()
    writer._appended([_group(T0, country="DE")])
    writer._appended([_group(T0, country="FR")])
    assert _compact(writer, db) == {"report_rollup_hour": [T0], "report_rollup_day": [T0]}
    writer._appended([_group(T0, country="DE")])
    writer._appended([_group(T0, country="FR")])
    assert sorted(_compact(writer, db)) == ["report_rollup_day", "report_rollup_hour",
                                           "report_rollup_minute"]


def test_the_oldest_buckets_are_forgotten_past_the_bound() -> None:
    writer, db = _writer()
    for minute in range(PENDING_BUCKETS_MAX + 10):
        writer._appended([_group(T0 + minute * MINUTE_MS)])
    writer._appended([_group(T0 + (PENDING_BUCKETS_MAX + 9) * MINUTE_MS)])
    writer._appended([_group(T0)])  # forgotten: counted again from here, once
    compacted: Any = _compact(writer, db)
    assert compacted["report_rollup_minute"] == [T0 + (PENDING_BUCKETS_MAX + 9) * MINUTE_MS]


def test_a_batch_past_the_bound_forgets_exactly_its_oldest_buckets() -> None:
    writer, _ = _writer()
    writer._appended([_group(T0 + minute * MINUTE_MS) for minute in range(PENDING_BUCKETS_MAX + 5)])
    minutes = writer._pending["report_rollup_minute"]
    assert len(minutes) == PENDING_BUCKETS_MAX
    assert min(minutes) == T0 + 5 * MINUTE_MS  # the five oldest went, nothing newer
    assert max(minutes) == T0 + (PENDING_BUCKETS_MAX + 4) * MINUTE_MS
