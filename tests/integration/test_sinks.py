"""The ledger and reporting sinks against real PostgreSQL (and Kafka for the runner)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import pytest
from confluent_kafka import Producer

from agents.postings import credit, debit
from api.models import Bucket, Dimension
from api.reads import report_sql
from paystream.wiring import build_runner
from sinks.db import DatabaseError, PostgresStore, connected, epoch_ms_timestamps
from sinks.ledger import LedgerGapError, LedgerWriter, verify
from sinks.reporting import COMPACT_EVERY_S, ReportingWriter
from streams.accounts import AccountState
from streams.codec import SingleObjectCodec, load_versions
from streams.settings import Settings
from streams.topics import topics

pytestmark = pytest.mark.integration
T0 = 1_767_225_600_000
POSTING = SingleObjectCodec(load_versions("posting"))
DECISION = SingleObjectCodec(load_versions("decision"))
R = TypeVar("R")


def postings(n: int) -> list[dict[str, Any]]:
    """n transfers of 100 from acc-a to acc-b after a deposit of 10,000: 2n + 2 legs, in order."""
    system, a, b = AccountState(), AccountState(), AccountState()
    out = [debit(system, "sys:settlement:EUR:p00", "dep", 10_000, "EUR", T0, T0),
           credit(a, "acc-a", "dep", 10_000, "EUR", T0, T0)]
    for i in range(n):
        at = T0 + 1_000 * (i + 1)
        out.append(debit(a, "acc-a", f"t{i}", 100, "EUR", at, at))
        out.append(credit(b, "acc-b", f"t{i}", 100, "EUR", at, at))
    return out


def decision(tx_id: str, at_ms: int, outcome: str = "APPROVE", **changes: Any) -> dict[str, Any]:
    return {"tx_id": tx_id, "type": "PAYMENT", "source_account": "acc-a",
            "destination_account": "shop-1", "amount": 1_000, "currency": "EUR",
            "event_time": at_ms, "channel": "WEB", "merchant_id": "shop-1",
            "merchant_category": "5411", "country": "DE", "outcome": outcome, "score": 0.25,
            "reasons": [], "model_version": "fraud-v0001", "shadow_score": None,
            "shadow_model_version": None, "decided_at": at_ms + 40, "produced_at": at_ms, **changes}


def with_db(settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[R]]) -> R:
    """`work` on a connection like a sink's (times written as epoch milliseconds)."""
    async def run() -> R:
        async with connected(settings.database_url, settings.db_schema) as connection:
            await epoch_ms_timestamps(connection)
            return await work(connection)

    return asyncio.run(run())


def test_a_replayed_batch_writes_nothing_twice_and_the_chain_verifies(db_settings: Settings) -> None:
    batch = postings(50)

    async def work(db: asyncpg.Connection) -> tuple[int, int, int, Any]:
        writer = LedgerWriter(db)
        first = await writer.write(batch[:60])
        again = await writer.write(batch)  # overlaps the first 60, then 42 new
        replay = await writer.write(batch)
        return first, again, replay, await verify(db)

    first, again, replay, report = with_db(db_settings, work)
    assert (first, again, replay) == (60, 42, 0)
    assert (report.ok, report.rows, report.accounts) == (True, 102, 3)


def test_a_sink_connection_writes_epoch_milliseconds_exactly_and_reads_datetimes(
        db_settings: Settings) -> None:
    """The sinks hand PostgreSQL each time as the integer milliseconds of the Avro record: read
    back anywhere (the API, `ledger verify`, on this connection too) it is that very instant."""
    from streams.ledgerchain import to_datetime, to_ms

    samples = [0, 1, -1, 999, T0, T0 + 1, 946_684_800_000, 946_684_799_999, 2**32 * 1000 + 7,
               -2**32 * 1000 - 3, 253_402_300_799_999]
    moment = datetime(2026, 12, 2, 12, 0, 0, 123_000, tzinfo=UTC)

    async def work(db: asyncpg.Connection) -> tuple[list[Any], list[Any]]:
        await db.execute("CREATE TEMP TABLE times (n int, at timestamptz)")
        await db.copy_records_to_table("times", records=[(n, ms) for n, ms in enumerate(samples)]
                                       + [(len(samples), moment)])
        back = [r["at"] for r in await db.fetch("SELECT at FROM times ORDER BY n")]
        exact = await db.fetch("SELECT (extract(epoch FROM at) * 1000)::bigint AS ms FROM times "
                               "ORDER BY n")
        return back, [r["ms"] for r in exact]

    back, exact = with_db(db_settings, work)
    assert back == [to_datetime(ms) for ms in samples] + [moment]
    assert exact == [*samples, to_ms(moment)]


def test_writers_that_remember_tips_chain_correctly_after_each_others_rows(
        db_settings: Settings) -> None:
    """Two ledger sinks over time (a rebalance moves the partition back and forth): each
    remembers the tips it wrote, which the other's rows leave behind. A posting past a tip
    left behind is no gap (the table's tips are read again), a posting the other already
    wrote lands once, and the chain verifies."""
    legs = postings(6)  # acc-a: its deposit, then debits; acc-b: credits

    async def work(db: asyncpg.Connection) -> tuple[list[int], Any]:
        async with connected(db_settings.database_url, db_settings.db_schema) as other:
            await epoch_ms_timestamps(other)
            a, b = LedgerWriter(db), LedgerWriter(other)
            written = [await a.write(legs[:4]),    # deposit, t0, t1's debit
                       await b.write(legs[4:8]),   # t1's credit .. t2: b reads the tips
                       await a.write(legs[8:10]),  # t3: a's tips are behind, no gap
                       await b.write(legs[6:12]),  # t2 again; t3 (a's) onto b's tip; t4
                       await a.write(legs)]        # everything again: only t5 is new
            return written, await verify(db)

    written, report = with_db(db_settings, work)
    assert written == [4, 4, 2, 2, 2]
    assert (report.ok, report.rows) == (True, 14)


#: Text columns holding ids: compared as bytes (migration 0012), and only with one another.
ID_COLUMN = ("tx_id", "posting_id", "account", "source_account", "destination_account",
             "merchant_id", "device_id")


def test_every_id_column_is_compared_as_bytes(db_settings: Settings) -> None:
    # An id column left on the database's collation would compare through the locale (~8% of
    # PostgreSQL's CPU in a bench run went to that), and a join of it with one of the others
    # would fail: two collations cannot be compared. A new table's ids must say COLLATE "C".
    async def collations(db: asyncpg.Connection) -> dict[tuple[str, str], str | None]:
        rows = await db.fetch(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = $1 AND column_name = ANY($2::text[]) AND data_type = 'text'",
            db_settings.db_schema, list(ID_COLUMN))
        return {(r["table_name"], r["column_name"]): r["collation_name"] for r in rows}

    found = with_db(db_settings, collations)
    assert {("ledger", "tx_id"), ("report_transactions", "source_account"),
            ("labels", "tx_id"), ("review_verdicts", "account")} <= set(found)
    assert {column: collation for column, collation in found.items() if collation != "C"} == {}

    async def joined(db: asyncpg.Connection) -> int:
        return int(await db.fetchval(
            "SELECT count(*) FROM labels l JOIN report_transactions r USING (tx_id) "
            "JOIN ledger g ON g.tx_id = r.tx_id AND g.account = r.source_account "
            "JOIN review_verdicts v ON v.tx_id = l.tx_id AND v.account = l.source_account"))

    assert with_db(db_settings, joined) == 0  # the ids of every table join with one another


def test_the_database_refuses_update_delete_and_truncate(db_settings: Settings) -> None:
    async def work(db: asyncpg.Connection) -> list[str]:
        await LedgerWriter(db).write(postings(3))
        refused = []
        for statement in ("UPDATE ledger SET amount = 1 WHERE posting_id = 't0:D'",
                          "DELETE FROM ledger WHERE posting_id = 't0:D'", "TRUNCATE ledger"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only") as caught:
                await db.execute(statement)
            refused.append(str(caught.value))
        return refused

    refused = with_db(db_settings, work)
    assert [r.split(":")[1].strip().split()[0] for r in refused] == ["UPDATE", "DELETE", "TRUNCATE"]


@pytest.mark.parametrize("tamper, problem", [
    ("UPDATE ledger SET amount = 90 WHERE posting_id = 't7:C'", "does not match its hash"),
    ("UPDATE ledger SET balance_after = 5 WHERE posting_id = 't7:C'", "does not match its hash"),
    ("DELETE FROM ledger WHERE posting_id = 't7:C'", "sequence 9 follows 7"),
])
def test_a_tampered_row_fails_verify_and_is_named(db_settings: Settings, tamper: str,
                                                  problem: str) -> None:
    async def work(db: asyncpg.Connection) -> Any:
        await LedgerWriter(db).write(postings(20))
        # What the table's owner could still do (in production the sink's role does not own
        # it): switch the guard off, change history, switch it on.
        await db.execute("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only")
        await db.execute(tamper)
        await db.execute("ALTER TABLE ledger ENABLE TRIGGER ledger_append_only")
        return await verify(db)

    report = with_db(db_settings, work)
    assert not report.ok
    assert report.broken_at == ("t8:C" if "DELETE" in tamper else "t7:C")
    assert problem in report.problem


def test_the_ledger_never_chains_past_a_gap(db_settings: Settings) -> None:
    batch = postings(5)

    async def work(db: asyncpg.Connection) -> int:
        writer = LedgerWriter(db)
        with pytest.raises(LedgerGapError, match="t1:C"):
            await writer.write([p for p in batch if p["posting_id"] != "t0:C"])
        return await db.fetchval("SELECT count(*) FROM ledger")

    assert with_db(db_settings, work) == 0  # the whole batch was refused, nothing half-written


def test_reporting_rollups_count_only_rows_really_inserted(db_settings: Settings) -> None:
    minute = 60_000
    first = [decision(f"d{i}", T0 + i * 10_000) for i in range(12)]  # 2 minutes, 6 each
    second = [*first[6:], decision("x1", T0 + 3 * minute, "DECLINE", reasons=["model:decline"])]

    async def work(db: asyncpg.Connection) -> tuple[list[int], list[Any], list[Any], list[Any]]:
        writer = ReportingWriter(db)
        inserted = [await writer.write(first), await writer.write(second), await writer.write(first)]
        minutes = await db.fetch("SELECT bucket, outcome, tx_count, amount_sum, latency_ms_sum "
                                 "FROM report_rollup_minute ORDER BY bucket")
        hours = await db.fetch("SELECT outcome, tx_count FROM report_rollup_hour ORDER BY outcome")
        days = await db.fetch("SELECT outcome, tx_count, amount_sum FROM report_rollup_day "
                              "ORDER BY outcome")
        return inserted, minutes, hours, days

    inserted, minutes, hours, days = with_db(db_settings, work)
    assert inserted == [12, 1, 0]
    assert [(r["outcome"], r["tx_count"], r["amount_sum"], r["latency_ms_sum"]) for r in minutes] == [
        ("APPROVE", 6, 6_000, 240), ("APPROVE", 6, 6_000, 240), ("DECLINE", 1, 1_000, 40)]
    assert [(r["outcome"], r["tx_count"]) for r in hours] == [("APPROVE", 12), ("DECLINE", 1)]
    assert [tuple(r) for r in days] == [("APPROVE", 12, 12_000), ("DECLINE", 1, 1_000)]


def test_rollups_hold_partial_sums_that_compaction_merges_without_changing_a_report(
        db_settings: Settings) -> None:
    # A batch appends its groups' sums; a bucket where two batches appended the same keys has
    # two rows per key until the writer compacts it (every COMPACT_EVERY_S, on its clock), one
    # row per key after, and the API's report reads the same totals either way.
    clock = [0.0]
    first = [decision(f"a{i}", T0 + i * 1_000) for i in range(3)]
    first.append(decision("a9", T0 + 3_000, "DECLINE", reasons=["model:decline"]))
    second = [decision(f"b{i}", T0 + 5_000 + i * 1_000, amount=500) for i in range(2)]
    second.append(decision("b9", T0 + 10_000, "DECLINE", reasons=["model:decline"]))
    report = report_sql(Bucket.minute, Dimension.outcome)
    window = (T0 - 60_000, T0 + 60_000)

    async def rows(db: asyncpg.Connection, table: str) -> list[tuple]:
        return [tuple(r) for r in await db.fetch(
            f"SELECT outcome, tx_count, amount_sum, latency_ms_sum FROM {table} "
            f"ORDER BY outcome, tx_count")]

    async def work(db: asyncpg.Connection) -> dict[str, Any]:
        writer = ReportingWriter(db, clock=lambda: clock[0])
        await writer.write(first)
        await writer.write(second)
        seen = {"partial": await rows(db, "report_rollup_minute"),
                "report_partial": [dict(r) for r in await db.fetch(report, *window)]}
        clock[0] = COMPACT_EVERY_S  # the next batch, empty or not, compacts
        await writer.write([])
        seen["minute"] = await rows(db, "report_rollup_minute")
        seen["hour"] = await rows(db, "report_rollup_hour")
        seen["day"] = await rows(db, "report_rollup_day")
        seen["report"] = [dict(r) for r in await db.fetch(report, *window)]
        await writer.write([decision("c1", T0 + 20_000)])
        seen["merged_again"] = await writer.compact()
        seen["after"] = await rows(db, "report_rollup_minute")
        await writer.write([decision("c2", T0 + 30_000)])
        seen["merged_into"] = await writer.compact()
        seen["last"] = await rows(db, "report_rollup_minute")
        return seen

    seen = with_db(db_settings, work)
    assert seen["partial"] == [("APPROVE", 2, 1_000, 80), ("APPROVE", 3, 3_000, 120),
                               ("DECLINE", 1, 1_000, 40), ("DECLINE", 1, 1_000, 40)]
    merged = [("APPROVE", 5, 4_000, 200), ("DECLINE", 2, 2_000, 80)]
    assert seen["minute"] == seen["hour"] == seen["day"] == merged
    assert seen["report"] == seen["report_partial"]
    assert [(r["key"], r["count"], r["amount"]) for r in seen["report"]] == [
        ("APPROVE", 5, 4_000), ("DECLINE", 2, 2_000)]
    # One partial row per key does not collapse: it waits for a second one.
    assert seen["merged_again"] == 0
    assert seen["after"] == [("APPROVE", 1, 1_000, 40), *merged]
    # A second one: its partial rows are added into the key's compacted row.
    assert seen["merged_into"] == 3  # the minute, the hour and the day
    assert seen["last"] == [("APPROVE", 7, 6_000, 280), ("DECLINE", 2, 2_000, 80)]


def test_a_copy_that_would_repeat_a_row_writes_nothing_and_says_so(db_settings: Settings) -> None:
    # The fast path of both sinks: COPY straight into the table, undone by its savepoint when a
    # row is there already (another writer's, or a replay), so the caller can take the staged
    # path. The caller's transaction goes on.
    from paystream_avro import DecisionRows

    from sinks.db import copy_new_rows
    from sinks.reporting import COLUMNS

    async def work(db: asyncpg.Connection) -> tuple[bool, bool, int]:
        fresh = [decision(f"c{i}", T0 + i) for i in range(5)]
        async with db.transaction():
            first = await copy_new_rows(db, "report_transactions", COLUMNS,
                                        DecisionRows.from_records(fresh[:3]).copy())
            again = await copy_new_rows(db, "report_transactions", COLUMNS,
                                        DecisionRows.from_records(fresh[2:]).copy())
        return first, again, await db.fetchval("SELECT count(*) FROM report_transactions")

    assert with_db(db_settings, work) == (True, False, 3)


class StateErrorWriter:
    """What asyncpg raises on a connection whose idle protocol received the server's FATAL."""

    def __init__(self, _: asyncpg.Connection) -> None: ...

    async def write(self, _: list[dict[str, Any]]) -> int:
        raise asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is "
                                          "in progress")


def test_a_connection_the_server_ended_is_retried_on_a_new_one(db_settings: Settings) -> None:
    """A server shutting down ends every backend: the sink's next write must be retriable (the
    runner then reopens the store), never an error that stops the sink."""
    settings, batch = db_settings, postings(3)

    async def work() -> tuple[int, int]:
        store = PostgresStore(settings.database_url, settings.db_schema, LedgerWriter)
        await store.open()
        async with connected(settings.database_url, settings.db_schema) as admin:
            pid = store._connection.get_server_pid()  # the store's own backend
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(0.2)
        with pytest.raises(DatabaseError):
            await store.write([("postings", p) for p in batch])
        await store.close()
        await store.open()
        written = await store.write([("postings", p) for p in batch])
        await store.close()
        odd = PostgresStore(settings.database_url, settings.db_schema, StateErrorWriter)
        await odd.open()
        with pytest.raises(DatabaseError, match="state 15"):
            await odd.write([("postings", batch[0])])
        await odd.close()
        async with connected(settings.database_url, settings.db_schema) as db:
            return written, await db.fetchval("SELECT count(*) FROM ledger")

    assert asyncio.run(work()) == (len(batch), len(batch))


def test_the_ledger_sink_consumes_commits_and_a_new_group_replays_nothing_twice(
        db_settings: Settings) -> None:
    settings = db_settings
    topic = topics(settings.topic_prefix).postings.name
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    batch = postings(400)
    for p in batch:
        producer.produce(topic, POSTING.encode(p), p["account"].encode())
    assert producer.flush(30) == 0

    def run_sink(group: str | None = None) -> Any:
        async def go() -> Any:
            return await build_runner("ledger", settings, group).run(asyncio.Event(), idle_exit_s=3)
        return asyncio.run(go())

    stats = run_sink()
    assert (stats.messages, stats.rows) == (len(batch), len(batch))
    assert run_sink().messages == 0  # offsets were committed
    # Another consumer group (a rebuilt sink) reads everything again and writes nothing.
    stats = run_sink(group=f"{settings.topic_prefix}rebuild")
    assert (stats.messages, stats.rows) == (len(batch), 0)
    assert with_db(settings, verify).rows == len(batch)
