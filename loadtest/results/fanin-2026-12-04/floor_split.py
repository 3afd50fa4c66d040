"""usage: floor_split.py SCHEMA — the floor's PostgreSQL COPY (loadtest/floor.py's method) one
table at a time, three times alternated: server and client CPU per row of each table."""
import asyncio, sys
import loadtest.floor as floor
from loadtest.procstat import tree_cpu_s
from streams.settings import Settings

schema = sys.argv[1]
settings = Settings()
pm = int(open("/work/main/.local/postgres/data/postmaster.pid").readline())
for attempt in range(3):
    for table in ("ledger", "report_transactions"):
        floor.FLOOR_TABLES = (table,)
        rows, client, server = asyncio.run(floor.measure_postgres(
            settings.database_url, schema, lambda: tree_cpu_s(pm) or 0.0))
        n = rows[table]
        print(f"{attempt} {table}: {n:,} rows, server {server:.2f} s = {1e6 * server / n:.1f} µs/row, "
              f"client {1e6 * client / n:.1f} µs/row", flush=True)
