"""Why is the floor's first PostgreSQL copy the dearest? Copies of a kept run's rows, each with
the autovacuum workers seen during it (polled), before and after a VACUUM ANALYZE of the run's
tables. Usage: PAYSTREAM_TOPIC_PREFIX=... PAYSTREAM_DB_SCHEMA=... python floorexp.py"""
import asyncio, time
from datetime import datetime
from loadtest import floor
from loadtest.procstat import pid_from_file, tree_cpu_s
from sinks.db import connected
from streams.ledgerchain import to_ms
from streams.settings import load_settings

async def main():
    s = load_settings()
    pg = pid_from_file("postgres")
    cpu = lambda: tree_cpu_s(pg) or 0.0
    async with connected(s.database_url, s.db_schema) as db:
        tables = []
        for table in floor.FLOOR_TABLES:
            total = int(await db.fetchval(f"SELECT count(*) FROM {table}"))
            rows = await db.fetch(f"SELECT * FROM {table} LIMIT {floor.ROWS_MAX}")
            columns, kinds = await floor.copy_kinds(db, table)
            records = [{c: to_ms(v) if isinstance(v, datetime) else v for c, v in r.items()} for r in rows]
            tables.append((table, total / len(records), columns, kinds, records))
        n = int(await db.fetchval("SELECT count(*) FROM report_transactions"))  # one per transaction
        async with connected(s.database_url, s.db_schema) as watch:
            for label in ("as the run left them", "after VACUUM ANALYZE", "again"):
                if label == "after VACUUM ANALYZE":
                    t = time.monotonic(); c = cpu()
                    for table in ("ledger", "report_transactions", "report_rollup_minute", "report_rollup_hour", "report_rollup_day"):
                        await db.execute(f"VACUUM (ANALYZE) {table}")
                    print(f"VACUUM ANALYZE: {time.monotonic() - t:.1f} s, server {cpu() - c:.2f} s")
                for i in range(3):
                    print(f"  settle: {await floor.settle(db)}")
                    seen = set()
                    async def poll():
                        while True:
                            for r in await watch.fetch("SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"):
                                seen.add(r["query"][:80])
                            await asyncio.sleep(0.2)
                    poller = asyncio.create_task(poll())
                    client_s, server_s = await floor._copy_once(db, tables, cpu)
                    poller.cancel()
                    print(f"{label} copy {i + 1}: server {server_s / n * 1e6:.1f} µs/tx, client {client_s / n * 1e6:.1f}; autovacuum seen: {sorted(seen) or 'none'}")

asyncio.run(main())
