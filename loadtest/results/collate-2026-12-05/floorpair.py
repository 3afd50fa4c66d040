"""The floor's PostgreSQL measurement on a kept bench schema, with the id columns on "C" (as
migrated) and back on the database's collation, alternated."""
import asyncio, sys
sys.path.insert(0, "/work/main")
import asyncpg
from loadtest.floor import measure_postgres
from loadtest.procstat import stack_pids, tree_cpu_s
from streams.settings import load_settings

SCHEMA = sys.argv[1]
COLS = {"ledger": ["posting_id", "tx_id", "account"],
        "report_transactions": ["tx_id", "source_account", "destination_account", "merchant_id", "device_id"]}

async def set_collation(url, collation):
    db = await asyncpg.connect(url, server_settings={"search_path": SCHEMA})
    for table, cols in COLS.items():
        alters = ", ".join(f"ALTER COLUMN {c} TYPE text COLLATE {collation}" for c in cols)
        await db.execute(f"ALTER TABLE {table} {alters}")
    await db.close()

async def main():
    s = load_settings()
    pg = stack_pids()["postgres"]
    for rnd in (1, 2):
        for collation in ('"C"', '"default"'):
            await set_collation(s.database_url, collation)
            rows, client_s, server_s, measured = await measure_postgres(s.database_url, SCHEMA, lambda: tree_cpu_s(pg), repeats=3)
            tx = rows["report_transactions"]
            print(rnd, collation, rows, "server µs/tx by repeat:", [round(m[1] / tx * 1e6, 1) for m in measured], flush=True)

asyncio.run(main())
